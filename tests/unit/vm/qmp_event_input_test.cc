#include "vm/qmp_event_input.h"

#include <string>
#include <variant>

#include "gtest/gtest.h"

namespace qdirect::vm {
namespace {

qmp::Event MakeEvent(std::string name, const char* data_json) {
  qmp::Event event;
  event.name = std::move(name);
  event.data.Parse(data_json);
  return event;
}

TEST(TrackerInputFromQmpEvent, ShutdownCarriesGuestAndReason) {
  auto input = TrackerInputFromQmpEvent(
      MakeEvent("SHUTDOWN", R"({"guest":true,"reason":"guest-shutdown"})"));
  ASSERT_TRUE(input.has_value());
  const auto* shutdown = std::get_if<QmpShutdownEvent>(&*input);
  ASSERT_NE(shutdown, nullptr);
  EXPECT_TRUE(shutdown->guest);
  EXPECT_EQ(shutdown->reason, "guest-shutdown");
}

TEST(TrackerInputFromQmpEvent, HostQuitIsNotTheGuest) {
  auto input = TrackerInputFromQmpEvent(
      MakeEvent("SHUTDOWN", R"({"guest":false,"reason":"host-qmp-quit"})"));
  ASSERT_TRUE(input.has_value());
  EXPECT_FALSE(std::get<QmpShutdownEvent>(*input).guest);
}

TEST(TrackerInputFromQmpEvent, StopAndResumeMapWithoutData) {
  EXPECT_TRUE(std::holds_alternative<QmpStopEvent>(
      *TrackerInputFromQmpEvent(MakeEvent("STOP", "{}"))));
  EXPECT_TRUE(std::holds_alternative<QmpResumeEvent>(
      *TrackerInputFromQmpEvent(MakeEvent("RESUME", "{}"))));
}

TEST(TrackerInputFromQmpEvent, BlockIoErrorKeepsEveryField) {
  auto input = TrackerInputFromQmpEvent(MakeEvent(
      "BLOCK_IO_ERROR",
      R"({"device":"ua-disk0","node-name":"disk0-fmt","operation":"write",)"
      R"("action":"stop","nospace":true,"reason":"No space left on device"})"));
  ASSERT_TRUE(input.has_value());
  const auto& io = std::get<QmpBlockIoErrorEvent>(*input);
  EXPECT_EQ(io.device, "ua-disk0");
  EXPECT_EQ(io.node_name, "disk0-fmt");
  EXPECT_EQ(io.operation, "write");
  EXPECT_EQ(io.action, "stop");
  EXPECT_TRUE(io.nospace);
  EXPECT_EQ(io.reason, "No space left on device");
}

TEST(TrackerInputFromQmpEvent, GuestPanickedInfoIsRenderedAsJson) {
  auto input = TrackerInputFromQmpEvent(MakeEvent(
      "GUEST_PANICKED", R"({"action":"pause","info":{"type":"hyper-v"}})"));
  ASSERT_TRUE(input.has_value());
  const auto& panic = std::get<QmpGuestPanickedEvent>(*input);
  EXPECT_EQ(panic.action, "pause");
  EXPECT_EQ(panic.info, R"({"type":"hyper-v"})");
}

TEST(TrackerInputFromQmpEvent, WrongFieldTypesReadAsAbsent) {
  auto input = TrackerInputFromQmpEvent(
      MakeEvent("SHUTDOWN", R"({"guest":"yes","reason":7})"));
  ASSERT_TRUE(input.has_value());
  EXPECT_FALSE(std::get<QmpShutdownEvent>(*input).guest);
  EXPECT_EQ(std::get<QmpShutdownEvent>(*input).reason, "");
}

TEST(TrackerInputFromQmpEvent, UnrelatedEventIsIgnored) {
  EXPECT_FALSE(TrackerInputFromQmpEvent(
                   MakeEvent("DEVICE_DELETED", R"({"device":"x"})"))
                   .has_value());
}

TEST(StatusEventNames, CoversEveryMappedEvent) {
  for (std::string_view name : StatusEventNames()) {
    EXPECT_TRUE(
        TrackerInputFromQmpEvent(MakeEvent(std::string(name), "{}")).has_value())
        << name;
  }
}

}  // namespace
}  // namespace qdirect::vm
