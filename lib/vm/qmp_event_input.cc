#include "vm/qmp_event_input.h"

#include <string>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::vm {
namespace {

constexpr std::string_view kStatusEvents[] = {
    "STOP",  "RESUME",         "SHUTDOWN",       "POWERDOWN",
    "RESET", "GUEST_PANICKED", "BLOCK_IO_ERROR",
};

std::string StringField(const rapidjson::Value& data, const char* name) {
  auto it = data.FindMember(name);
  if (it == data.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

bool BoolField(const rapidjson::Value& data, const char* name) {
  auto it = data.FindMember(name);
  return it != data.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

// GUEST_PANICKED's "info" is an object (hyper-v or s390 crash data); it is
// kept as compact JSON, enough for a human reading the status.
std::string InfoText(const rapidjson::Value& data) {
  auto it = data.FindMember("info");
  if (it == data.MemberEnd()) return "";
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  it->value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

std::span<const std::string_view> StatusEventNames() { return kStatusEvents; }

std::optional<TrackerInput> TrackerInputFromQmpEvent(const qmp::Event& event) {
  if (!event.data.IsObject()) return std::nullopt;
  const rapidjson::Value& data = event.data;
  const std::string& name = event.name;
  if (name == "STOP") return QmpStopEvent{};
  if (name == "RESUME") return QmpResumeEvent{};
  if (name == "POWERDOWN") return QmpPowerdownEvent{};
  if (name == "SHUTDOWN") {
    return QmpShutdownEvent{BoolField(data, "guest"),
                            StringField(data, "reason")};
  }
  if (name == "RESET") {
    return QmpResetEvent{BoolField(data, "guest"), StringField(data, "reason")};
  }
  if (name == "GUEST_PANICKED") {
    return QmpGuestPanickedEvent{StringField(data, "action"), InfoText(data)};
  }
  if (name == "BLOCK_IO_ERROR") {
    QmpBlockIoErrorEvent io;
    io.device = StringField(data, "device");
    io.node_name = StringField(data, "node-name");
    io.operation = StringField(data, "operation");
    io.action = StringField(data, "action");
    io.nospace = BoolField(data, "nospace");
    io.reason = StringField(data, "reason");
    return io;
  }
  return std::nullopt;
}

}  // namespace qdirect::vm
