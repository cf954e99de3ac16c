#include <sys/epoll.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "qdirect/unique_fd.h"
#include "qmp/poller.h"

namespace qdirect::internal {
namespace {

class EpollPoller : public Poller {
 public:
  explicit EpollPoller(UniqueFd epfd) : epfd_(std::move(epfd)) {}

  absl::Status Arm(uint64_t key, int fd, uint32_t events) override {
    return Ctl(EPOLL_CTL_ADD, key, fd, events);
  }
  absl::Status Rearm(uint64_t key, int fd, uint32_t events) override {
    return Ctl(EPOLL_CTL_MOD, key, fd, events);
  }
  void Disarm(uint64_t /*key*/, int fd) override {
    // ENOENT/EBADF: the fd was already closed, which removed it.
    epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }

  absl::Status Wait(absl::Duration timeout, std::vector<Ready>* out) override {
    int ms = -1;
    if (timeout >= absl::ZeroDuration()) {
      // Round up so a timer due in 0.3 ms does not spin.
      ms = static_cast<int>(absl::ToInt64Milliseconds(timeout + absl::Microseconds(999)));
    }
    epoll_event events[64];
    int n = epoll_wait(epfd_.get(), events, 64, ms);
    if (n < 0) {
      if (errno == EINTR) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "event loop: epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      out->push_back({events[i].data.u64, events[i].events});
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Ctl(int op, uint64_t key, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key;
    if (epoll_ctl(epfd_.get(), op, fd, &ev) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("event loop: epoll_ctl fd ", fd));
    }
    return absl::OkStatus();
  }

  UniqueFd epfd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> NewEpollPoller() {
  UniqueFd epfd(epoll_create1(EPOLL_CLOEXEC));
  if (!epfd) return absl::ErrnoToStatus(errno, "event loop: epoll_create1");
  return std::make_unique<EpollPoller>(std::move(epfd));
}

}  // namespace qdirect::internal
