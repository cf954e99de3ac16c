#include "qdirect/event_loop.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "qdirect/unique_fd.h"

namespace qdirect {
namespace {

using Backend = EventLoop::Backend;

class EventLoopTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create(GetParam());
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }
  absl::Time Deadline() { return absl::Now() + absl::Seconds(5); }
  std::unique_ptr<EventLoop> loop_;
};

std::pair<UniqueFd, UniqueFd> SocketPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

TEST_P(EventLoopTest, ReportsTheBackendAskedFor) { EXPECT_EQ(loop_->backend(), GetParam()); }

TEST_P(EventLoopTest, ReadableWatchFiresWhenDataArrives) {
  auto [a, b] = SocketPair();
  std::string got;
  auto id = loop_->WatchFd(a.get(), kFdReadable, [&](uint32_t events) {
    EXPECT_TRUE(events & kFdReadable);
    char buf[16];
    ssize_t n = read(a.get(), buf, sizeof(buf));
    if (n > 0) got.append(buf, n);
  });
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(write(b.get(), "hi", 2), 2);
  ASSERT_TRUE(loop_->RunUntil([&] { return got == "hi"; }, Deadline()).ok());
  // Level-triggered and persistent: a second write fires again.
  ASSERT_EQ(write(b.get(), "yo", 2), 2);
  ASSERT_TRUE(loop_->RunUntil([&] { return got == "hiyo"; }, Deadline()).ok());
}

TEST_P(EventLoopTest, UnwatchedFdNoLongerFires) {
  auto [a, b] = SocketPair();
  int calls = 0;
  auto id = loop_->WatchFd(a.get(), kFdReadable, [&](uint32_t) { ++calls; });
  ASSERT_TRUE(id.ok());
  loop_->Unwatch(*id);
  ASSERT_EQ(write(b.get(), "x", 1), 1);
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(20)).ok());
  EXPECT_EQ(calls, 0);
}

TEST_P(EventLoopTest, CallbackMayUnwatchItselfAndOthers) {
  auto [a, b] = SocketPair();
  auto [c, d] = SocketPair();
  int a_calls = 0, c_calls = 0;
  WatchId wa, wc;
  wa = *loop_->WatchFd(a.get(), kFdReadable, [&](uint32_t) {
    ++a_calls;
    loop_->Unwatch(wa);
    loop_->Unwatch(wc);
  });
  wc = *loop_->WatchFd(c.get(), kFdReadable, [&](uint32_t) {
    ++c_calls;
    loop_->Unwatch(wc);
    loop_->Unwatch(wa);
  });
  ASSERT_EQ(write(b.get(), "x", 1), 1);
  ASSERT_EQ(write(d.get(), "x", 1), 1);
  ASSERT_TRUE(loop_->RunUntil([&] { return a_calls + c_calls > 0; }, Deadline()).ok());
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(20)).ok());
  // Whichever ran first removed the other, even with both ready at once.
  EXPECT_EQ(a_calls + c_calls, 1);
}

TEST_P(EventLoopTest, WritableAndUpdateWatch) {
  auto [a, b] = SocketPair();
  uint32_t seen = 0;
  auto id = loop_->WatchFd(a.get(), kFdReadable, [&](uint32_t events) { seen |= events; });
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(10)).ok());
  EXPECT_EQ(seen, 0u);
  ASSERT_TRUE(loop_->UpdateWatch(*id, kFdReadable | kFdWritable).ok());
  ASSERT_TRUE(loop_->RunUntil([&] { return (seen & kFdWritable) != 0; }, Deadline()).ok());
  EXPECT_FALSE(loop_->UpdateWatch(WatchId{999999}, kFdReadable).ok());
}

TEST_P(EventLoopTest, HangupIsReported) {
  auto [a, b] = SocketPair();
  uint32_t seen = 0;
  ASSERT_TRUE(loop_->WatchFd(a.get(), kFdReadable, [&](uint32_t events) { seen |= events; }).ok());
  b.reset();
  ASSERT_TRUE(loop_->RunUntil([&] { return (seen & kFdHangup) != 0; }, Deadline()).ok());
}

TEST_P(EventLoopTest, BadFdIsRefusedOrReportedAsError) {
  int bad = dup(0);
  ASSERT_GE(bad, 0);
  close(bad);
  uint32_t seen = 0;
  int calls = 0;
  auto id = loop_->WatchFd(bad, kFdReadable, [&](uint32_t events) {
    seen |= events;
    ++calls;
  });
  if (!id.ok()) return;  // epoll checks at once
  ASSERT_TRUE(loop_->RunUntil([&] { return calls > 0; }, Deadline()).ok());
  EXPECT_TRUE(seen & kFdError);
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(10)).ok());
  EXPECT_EQ(calls, 1);  // not re-polled in a loop
}

TEST_P(EventLoopTest, TimersFireInDeadlineOrder) {
  std::vector<int> order;
  loop_->AddTimer(absl::Milliseconds(30), [&] { order.push_back(3); });
  loop_->AddTimer(absl::Milliseconds(1), [&] { order.push_back(1); });
  loop_->AddTimerAt(absl::Now() + absl::Milliseconds(10), [&] { order.push_back(2); });
  ASSERT_TRUE(loop_->RunUntil([&] { return order.size() == 3; }, Deadline()).ok());
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST_P(EventLoopTest, CancelledTimerNeverFires) {
  bool cancelled_fired = false, other_fired = false;
  TimerId t = loop_->AddTimer(absl::Milliseconds(1), [&] { cancelled_fired = true; });
  loop_->AddTimer(absl::Milliseconds(5), [&] { other_fired = true; });
  loop_->CancelTimer(t);
  ASSERT_TRUE(loop_->RunUntil([&] { return other_fired; }, Deadline()).ok());
  EXPECT_FALSE(cancelled_fired);
}

TEST_P(EventLoopTest, TimerCancelsAnotherDueInTheSameIteration) {
  int fired = 0;
  TimerId second;
  loop_->AddTimer(absl::ZeroDuration(), [&] {
    ++fired;
    loop_->CancelTimer(second);
  });
  second = loop_->AddTimer(absl::ZeroDuration(), [&] { ++fired; });
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(10)).ok());
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(10)).ok());
  EXPECT_EQ(fired, 1);
}

TEST_P(EventLoopTest, PostFromAnotherThreadWakesTheLoop) {
  std::atomic<bool> ran{false};
  std::thread t([&] { loop_->Post([&] { ran = true; }); });
  // No timer and no fd: only the wakeup can end this wait.
  ASSERT_TRUE(loop_->RunUntil([&] { return ran.load(); }, Deadline()).ok());
  t.join();
}

TEST_P(EventLoopTest, PidfdWatchFiresOnExit) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(7);
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  ASSERT_TRUE(pidfd.valid());
  int exits = 0;
  ASSERT_TRUE(loop_->WatchPidfd(pidfd.get(), [&] { ++exits; }).ok());
  ASSERT_TRUE(loop_->RunUntil([&] { return exits > 0; }, Deadline()).ok());
  ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(10)).ok());
  EXPECT_EQ(exits, 1);  // one-shot even though the pidfd stays readable
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST_P(EventLoopTest, RunUntilDeadlineAndQuit) {
  absl::Status st = loop_->RunUntil([] { return false; }, absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  loop_->AddTimer(absl::Milliseconds(1), [&] { loop_->Quit(); });
  st = loop_->RunUntil([] { return false; }, Deadline());
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLoopTest,
                         ::testing::Values(Backend::kIoUring, Backend::kEpoll),
                         [](const auto& info) {
                           return info.param == Backend::kIoUring ? "IoUring" : "Epoll";
                         });

TEST(EventLoopCreate, EnvironmentSelectsEpoll) {
  setenv("QDIRECT_EVENT_LOOP", "epoll", 1);
  auto loop = EventLoop::Create();
  unsetenv("QDIRECT_EVENT_LOOP");
  ASSERT_TRUE(loop.ok());
  EXPECT_EQ((*loop)->backend(), Backend::kEpoll);
}

}  // namespace
}  // namespace qdirect
