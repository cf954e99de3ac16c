#include "qdirect/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "qdirect/unique_fd.h"
#include "qmp/poller.h"

namespace qdirect {

struct EventLoop::State {
  struct Watch {
    int fd;
    uint32_t events;
    // shared: a callback may Unwatch itself while it runs.
    std::shared_ptr<FdCallback> callback;
  };

  Backend backend;
  std::unique_ptr<internal::Poller> poller;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, Watch> watches;
  std::map<uint64_t, std::pair<absl::Time, Callback>> timers;  // id ->
  std::set<std::pair<absl::Time, uint64_t>> timer_queue;       // by deadline

  UniqueFd wakeup_fd;
  WatchId wakeup_watch;
  std::mutex post_mu;
  std::vector<Callback> posted;  // guarded by post_mu
};

EventLoop::EventLoop(std::unique_ptr<State> state) : state_(std::move(state)) {}

EventLoop::~EventLoop() {
  for (auto& [key, watch] : state_->watches) state_->poller->Disarm(key, watch.fd);
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  const char* env = std::getenv("QDIRECT_EVENT_LOOP");
  if (env != nullptr && std::string_view(env) == "epoll") return Create(Backend::kEpoll);
  auto loop = Create(Backend::kIoUring);
  if (loop.ok()) return loop;
  // Containers and hardened kernels often refuse io_uring (EPERM, ENOSYS).
  return Create(Backend::kEpoll);
}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(Backend backend) {
  auto state = std::make_unique<State>();
  state->backend = backend;
  if (backend == Backend::kIoUring) {
    ASSIGN_OR_RETURN(state->poller, internal::NewUringPoller());
  } else {
    ASSIGN_OR_RETURN(state->poller, internal::NewEpollPoller());
  }
  state->wakeup_fd = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->wakeup_fd) return absl::ErrnoToStatus(errno, "event loop: eventfd");
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(state)));
  State* s = loop->state_.get();
  ASSIGN_OR_RETURN(s->wakeup_watch, loop->WatchFd(s->wakeup_fd.get(), kFdReadable, [s](uint32_t) {
    uint64_t count;
    // Drains the counter; the posted list is run after fd events.
    [[maybe_unused]] ssize_t n = read(s->wakeup_fd.get(), &count, sizeof(count));
  }));
  return loop;
}

EventLoop::Backend EventLoop::backend() const { return state_->backend; }

absl::StatusOr<WatchId> EventLoop::WatchFd(int fd, uint32_t events, FdCallback callback) {
  uint64_t key = state_->next_id++;
  RETURN_IF_ERROR(state_->poller->Arm(key, fd, events));
  state_->watches.emplace(
      key, State::Watch{fd, events, std::make_shared<FdCallback>(std::move(callback))});
  return WatchId{key};
}

absl::Status EventLoop::UpdateWatch(WatchId id, uint32_t events) {
  auto it = state_->watches.find(id.value);
  if (it == state_->watches.end()) {
    return absl::NotFoundError(absl::StrCat("event loop: no watch ", id.value));
  }
  if (it->second.events == events) return absl::OkStatus();
  RETURN_IF_ERROR(state_->poller->Rearm(id.value, it->second.fd, events));
  it->second.events = events;
  return absl::OkStatus();
}

void EventLoop::Unwatch(WatchId id) {
  auto it = state_->watches.find(id.value);
  if (it == state_->watches.end()) return;
  state_->poller->Disarm(id.value, it->second.fd);
  state_->watches.erase(it);
}

absl::StatusOr<WatchId> EventLoop::WatchPidfd(int pidfd, Callback on_exit) {
  // The watch id is known only after WatchFd returns; the callback reads it
  // from a shared cell.
  auto self = std::make_shared<WatchId>();
  auto cb = std::make_shared<Callback>(std::move(on_exit));
  ASSIGN_OR_RETURN(*self, WatchFd(pidfd, kFdReadable, [this, self, cb](uint32_t) {
    Unwatch(*self);  // one-shot; keeps self/cb alive via our copies
    Callback fn = std::move(*cb);
    fn();
  }));
  return *self;
}

TimerId EventLoop::AddTimer(absl::Duration after, Callback callback) {
  return AddTimerAt(absl::Now() + after, std::move(callback));
}

TimerId EventLoop::AddTimerAt(absl::Time deadline, Callback callback) {
  uint64_t id = state_->next_id++;
  state_->timers.emplace(id, std::make_pair(deadline, std::move(callback)));
  state_->timer_queue.emplace(deadline, id);
  return TimerId{id};
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = state_->timers.find(id.value);
  if (it == state_->timers.end()) return;
  state_->timer_queue.erase({it->second.first, id.value});
  state_->timers.erase(it);
}

void EventLoop::Post(Callback fn) {
  {
    std::lock_guard<std::mutex> lock(state_->post_mu);
    state_->posted.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(state_->wakeup_fd.get(), &one, sizeof(one));
}

void EventLoop::Dispatch(uint64_t key, uint32_t events) {
  auto it = state_->watches.find(key);
  if (it == state_->watches.end()) return;  // unwatched by an earlier callback
  std::shared_ptr<FdCallback> cb = it->second.callback;
  (*cb)(events);
}

void EventLoop::RunDueTimers() {
  absl::Time now = absl::Now();
  // Only timers due now: one added by a callback for "now" runs next time.
  std::vector<uint64_t> due;
  for (auto& [deadline, id] : state_->timer_queue) {
    if (deadline > now) break;
    due.push_back(id);
  }
  for (uint64_t id : due) {
    auto it = state_->timers.find(id);
    if (it == state_->timers.end()) continue;  // cancelled by an earlier one
    Callback cb = std::move(it->second.second);
    state_->timer_queue.erase({it->second.first, id});
    state_->timers.erase(it);
    cb();
  }
}

void EventLoop::RunPosted() {
  std::vector<Callback> posted;
  {
    std::lock_guard<std::mutex> lock(state_->post_mu);
    posted.swap(state_->posted);
  }
  for (Callback& fn : posted) fn();
}

absl::Status EventLoop::RunOnce(absl::Duration timeout) {
  absl::Duration wait = timeout == absl::InfiniteDuration() ? -absl::Seconds(1) : timeout;
  if (!state_->timer_queue.empty()) {
    absl::Duration until = state_->timer_queue.begin()->first - absl::Now();
    if (until < absl::ZeroDuration()) until = absl::ZeroDuration();
    if (wait < absl::ZeroDuration() || until < wait) wait = until;
  }
  {
    std::lock_guard<std::mutex> lock(state_->post_mu);
    if (!state_->posted.empty()) wait = absl::ZeroDuration();
  }
  std::vector<internal::Poller::Ready> ready;
  RETURN_IF_ERROR(state_->poller->Wait(wait, &ready));
  for (const auto& r : ready) Dispatch(r.key, r.events);
  RunDueTimers();
  RunPosted();
  return absl::OkStatus();
}

absl::Status EventLoop::RunUntil(const std::function<bool()>& done, absl::Time deadline) {
  while (!done()) {
    if (quit_) {
      quit_ = false;
      return absl::CancelledError("event loop: Quit() called");
    }
    absl::Time now = absl::Now();
    if (now >= deadline) return absl::DeadlineExceededError("event loop: deadline reached");
    RETURN_IF_ERROR(RunOnce(deadline - now));  // InfiniteFuture - now is infinite
  }
  return absl::OkStatus();
}

}  // namespace qdirect
