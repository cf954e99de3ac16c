// QmpClient against a real QEMU 7.2 (-machine none, TCG).
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/event_loop.h"
#include "qdirect/qmp.h"
#include "qemu_for_test.h"

namespace qdirect::qmp {
namespace {

using ::testing::HasSubstr;

class QmpQemuTest : public ::testing::TestWithParam<EventLoop::Backend> {
 protected:
  void SetUp() override {
    if (access(testing::kQemuBinary, X_OK) != 0) GTEST_SKIP() << "no QEMU";
    auto loop = EventLoop::Create(GetParam());
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    ASSERT_TRUE(qemu_.Start().ok());
    auto fd = qemu_.Connect();
    ASSERT_TRUE(fd.ok()) << fd.status();
    auto client = QmpClient::Connect(loop_.get(), std::move(*fd));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  std::unique_ptr<EventLoop> loop_;
  testing::QemuForTest qemu_;
  std::unique_ptr<QmpClient> client_;
};

TEST_P(QmpQemuTest, GreetingCarriesTheVersion) {
  EXPECT_EQ(client_->qemu_version().major, 7);
  auto v = client_->QueryVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major, 7);
  EXPECT_EQ(v->minor, client_->qemu_version().minor);
}

TEST_P(QmpQemuTest, StartsInPrelaunch) {
  auto info = client_->QueryStatus();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->status, "prelaunch");
}

TEST_P(QmpQemuTest, ContAndStopEmitEvents) {
  std::vector<std::string> events;
  client_->Subscribe({"RESUME", nullptr}, [&](const Event& e) { events.push_back(e.name); });
  client_->Subscribe({"STOP", nullptr}, [&](const Event& e) { events.push_back(e.name); });
  ASSERT_TRUE(client_->Cont().ok());
  ASSERT_TRUE(
      loop_->RunUntil([&] { return !events.empty(); }, absl::Now() + absl::Seconds(10)).ok());
  auto info = client_->QueryStatus();
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->running);
  ASSERT_TRUE(client_->Stop().ok());
  ASSERT_TRUE(
      loop_->RunUntil([&] { return events.size() == 2; }, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(events, (std::vector<std::string>{"RESUME", "STOP"}));
  info = client_->QueryStatus();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->status, "paused");
}

TEST_P(QmpQemuTest, CompleteOnEventWithARealEvent) {
  ExecuteOptions options;
  options.complete_on_event = EventMatcher{"RESUME", nullptr};
  auto reply = client_->CallSync("cont", nullptr, std::move(options));
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_TRUE(reply->event.has_value());
  EXPECT_EQ(reply->event->name, "RESUME");
}

TEST_P(QmpQemuTest, ErrorReplyKeepsQemusClass) {
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("id", "nosuchdev", args.GetAllocator());
  auto reply = client_->CallSync("device_del", &args);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(QmpErrorClass(reply.status()), "DeviceNotFound");
  EXPECT_THAT(reply.status().message(), HasSubstr("qmp: device_del: DeviceNotFound: "));
  auto unknown = client_->CallSync("no-such-command");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(client_->QueryStatus().ok());  // the session survives errors
}

TEST_P(QmpQemuTest, GetFdPassesADescriptor) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  ASSERT_TRUE(client_->GetFd("mypipe", std::move(r)).ok());
  // QEMU knows it under that name now: closefd succeeds, a second one fails.
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("fdname", "mypipe", args.GetAllocator());
  EXPECT_TRUE(client_->CallSync("closefd", &args).ok());
  EXPECT_FALSE(client_->CallSync("closefd", &args).ok());
}

TEST_P(QmpQemuTest, ManyCallsInFlight) {
  int done = 0, ok = 0;
  for (int i = 0; i < 50; ++i) {
    client_->Execute("query-status", nullptr, {}, [&](absl::StatusOr<Reply> r) {
      ++done;
      ok += r.ok();
    });
  }
  ASSERT_TRUE(loop_->RunUntil([&] { return done == 50; }, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(ok, 50);
}

TEST_P(QmpQemuTest, QuitEndsTheSessionCleanly) {
  bool exited = false;
  ASSERT_TRUE(loop_->WatchPidfd(qemu_.pidfd(), [&] { exited = true; }).ok());
  ASSERT_TRUE(client_->Quit().ok());
  ASSERT_TRUE(loop_
                  ->RunUntil([&] { return exited && !client_->closed_status().ok(); },
                             absl::Now() + absl::Seconds(10))
                  .ok());
  EXPECT_EQ(client_->closed_status().code(), absl::StatusCode::kUnavailable);
  auto after = client_->QueryStatus();
  EXPECT_EQ(after.status().message(), "qmp: query-status: connection closed by QEMU");
  int status = qemu_.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, QmpQemuTest,
                         ::testing::Values(EventLoop::Backend::kIoUring,
                                           EventLoop::Backend::kEpoll),
                         [](const auto& info) {
                           return info.param == EventLoop::Backend::kIoUring ? "IoUring" : "Epoll";
                         });

}  // namespace
}  // namespace qdirect::qmp
