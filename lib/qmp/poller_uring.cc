#include <liburing.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "qmp/poller.h"

namespace qdirect::internal {
namespace {

// user_data of POLL_REMOVE requests; their completions carry nothing for us.
constexpr uint64_t kRemoveToken = 0;

// One-shot POLL_ADD per arming: each arming gets a fresh token, so a
// completion for a poll that was removed or replaced is recognised and
// dropped. Re-arming waits until the next Wait(), after the callbacks ran,
// which gives level-triggered behaviour without a busy re-poll.
class UringPoller : public Poller {
 public:
  UringPoller() = default;
  ~UringPoller() override {
    if (initialized_) io_uring_queue_exit(&ring_);
  }

  absl::Status Init() {
    int rc = io_uring_queue_init(256, &ring_, 0);
    if (rc < 0) return absl::ErrnoToStatus(-rc, "event loop: io_uring_queue_init");
    initialized_ = true;
    return absl::OkStatus();
  }

  absl::Status Arm(uint64_t key, int fd, uint32_t events) override {
    Watch& w = watches_[key];
    w.fd = fd;
    w.events = events;
    w.token = 0;
    to_arm_.insert(key);
    return absl::OkStatus();
  }

  absl::Status Rearm(uint64_t key, int fd, uint32_t events) override {
    auto it = watches_.find(key);
    if (it == watches_.end()) return Arm(key, fd, events);
    if (it->second.events == events) return absl::OkStatus();
    RemovePoll(it->second);
    it->second.events = events;
    to_arm_.insert(key);
    return absl::OkStatus();
  }

  void Disarm(uint64_t key, int /*fd*/) override {
    auto it = watches_.find(key);
    if (it == watches_.end()) return;
    RemovePoll(it->second);
    watches_.erase(it);
    to_arm_.erase(key);
  }

  absl::Status Wait(absl::Duration timeout, std::vector<Ready>* out) override {
    for (uint64_t key : to_arm_) {
      auto it = watches_.find(key);
      if (it == watches_.end() || it->second.token != 0) continue;
      io_uring_sqe* sqe = GetSqe();
      it->second.token = next_token_++;
      io_uring_prep_poll_add(sqe, it->second.fd, it->second.events);
      io_uring_sqe_set_data64(sqe, it->second.token);
      tokens_[it->second.token] = key;
    }
    to_arm_.clear();

    io_uring_cqe* cqe = nullptr;
    int rc;
    if (timeout < absl::ZeroDuration()) {
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    } else {
      __kernel_timespec ts = ToTimespec(timeout);
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
      return absl::ErrnoToStatus(-rc, "event loop: io_uring_submit_and_wait_timeout");
    }

    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      uint64_t token = io_uring_cqe_get_data64(cqe);
      if (token == kRemoveToken) continue;
      auto t = tokens_.find(token);
      if (t == tokens_.end()) continue;  // removed or replaced meanwhile
      uint64_t key = t->second;
      tokens_.erase(t);
      auto w = watches_.find(key);
      if (w == watches_.end()) continue;
      w->second.token = 0;
      if (cqe->res == -ECANCELED) {
        to_arm_.insert(key);
        continue;
      }
      if (cqe->res < 0) {
        // A bad fd (EBADF...): report it once; polling it again would spin.
        out->push_back({key, static_cast<uint32_t>(POLLERR)});
        continue;
      }
      to_arm_.insert(key);
      out->push_back({key, static_cast<uint32_t>(cqe->res)});
    }
    io_uring_cq_advance(&ring_, seen);
    return absl::OkStatus();
  }

 private:
  struct Watch {
    int fd = -1;
    uint32_t events = 0;
    uint64_t token = 0;  // 0: not armed in the kernel
  };

  static __kernel_timespec ToTimespec(absl::Duration d) {
    timespec ts = absl::ToTimespec(d);
    __kernel_timespec kts{};
    kts.tv_sec = ts.tv_sec;
    kts.tv_nsec = ts.tv_nsec;
    return kts;
  }

  io_uring_sqe* GetSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void RemovePoll(Watch& w) {
    if (w.token == 0) return;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_poll_remove(sqe, w.token);
    io_uring_sqe_set_data64(sqe, kRemoveToken);
    tokens_.erase(w.token);
    w.token = 0;
    // Submit now: the caller may close the fd right after Disarm.
    io_uring_submit(&ring_);
  }

  io_uring ring_{};
  bool initialized_ = false;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, Watch> watches_;
  std::unordered_map<uint64_t, uint64_t> tokens_;  // armed token -> key
  std::unordered_set<uint64_t> to_arm_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewUringPoller() {
  auto poller = std::make_unique<UringPoller>();
  absl::Status st = poller->Init();
  if (!st.ok()) return st;
  return std::unique_ptr<Poller>(std::move(poller));
}

}  // namespace qdirect::internal
