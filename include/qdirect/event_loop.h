#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace qdirect {

// Readiness bits for EventLoop::WatchFd; the values are poll(2)'s so both
// backends pass them through unchanged.
enum FdEvent : uint32_t {
  kFdReadable = 0x001,  // POLLIN
  kFdWritable = 0x004,  // POLLOUT
  kFdError = 0x008,     // POLLERR, always reported
  kFdHangup = 0x010,    // POLLHUP, always reported
};

// Ids are never reused within one loop, so a stale id is harmless.
struct WatchId {
  uint64_t value = 0;
  bool valid() const { return value != 0; }
};
struct TimerId {
  uint64_t value = 0;
  bool valid() const { return value != 0; }
};

// EventLoop is the one loop of a process: fd readiness, timers, pidfd exits
// and cross-thread wakeups. It runs on io_uring, or on epoll when the kernel
// refuses io_uring (or QDIRECT_EVENT_LOOP=epoll is set).
//
// Not thread-safe: every method except Post() must be called on the thread
// that runs the loop. Callbacks run only from RunOnce()/RunUntil(), never
// from inside WatchFd/Unwatch/AddTimer/CancelTimer. A callback may unwatch or
// cancel anything, itself included; an event for a watch removed earlier in
// the same iteration is not delivered.
class EventLoop {
 public:
  enum class Backend { kIoUring, kEpoll };
  // Called with the ready FdEvent bits (level-triggered: called again on the
  // next iteration while the condition holds).
  using FdCallback = std::function<void(uint32_t events)>;
  using Callback = std::function<void()>;

  // io_uring unless refused or QDIRECT_EVENT_LOOP=epoll.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();
  // A given backend; fails if it cannot be set up.
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(Backend backend);

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  Backend backend() const;

  // Watches fd (borrowed: the caller keeps it open until Unwatch) for the
  // kFdReadable/kFdWritable bits in events. At most one watch per fd.
  absl::StatusOr<WatchId> WatchFd(int fd, uint32_t events, FdCallback callback);
  // Changes the bits a watch waits for.
  absl::Status UpdateWatch(WatchId id, uint32_t events);
  void Unwatch(WatchId id);

  // Calls on_exit once when the process behind pidfd (borrowed) exits.
  absl::StatusOr<WatchId> WatchPidfd(int pidfd, Callback on_exit);

  // One-shot timers.
  TimerId AddTimer(absl::Duration after, Callback callback);
  TimerId AddTimerAt(absl::Time deadline, Callback callback);
  void CancelTimer(TimerId id);

  // Runs fn on the loop thread at its next iteration. Safe from any thread.
  void Post(Callback fn);

  // Waits at most timeout for events, then runs every ready callback, due
  // timer and posted function once. An infinite or negative timeout waits
  // without limit.
  absl::Status RunOnce(absl::Duration timeout);
  // Iterates until done() is true (checked before each iteration):
  // kDeadlineExceeded at deadline, kCancelled when Quit() was called.
  absl::Status RunUntil(const std::function<bool()>& done,
                        absl::Time deadline = absl::InfiniteFuture());
  // Makes the running (or next) RunUntil return kCancelled.
  void Quit() { quit_ = true; }

 private:
  struct State;
  explicit EventLoop(std::unique_ptr<State> state);
  void Dispatch(uint64_t key, uint32_t events);
  void RunDueTimers();
  void RunPosted();

  std::unique_ptr<State> state_;
  bool quit_ = false;
};

}  // namespace qdirect
