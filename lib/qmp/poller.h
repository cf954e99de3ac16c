#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace qdirect::internal {

// Poller is an EventLoop backend: level-triggered readiness for fds, each
// identified by a key the loop chooses. None of its methods call back.
class Poller {
 public:
  struct Ready {
    uint64_t key;
    uint32_t events;  // poll(2) bits
  };
  virtual ~Poller() = default;
  virtual absl::Status Arm(uint64_t key, int fd, uint32_t events) = 0;
  virtual absl::Status Rearm(uint64_t key, int fd, uint32_t events) = 0;
  virtual void Disarm(uint64_t key, int fd) = 0;
  // Appends what became ready to out; a negative timeout waits without limit.
  virtual absl::Status Wait(absl::Duration timeout, std::vector<Ready>* out) = 0;
};

// Fails (e.g. kPermissionDenied, kUnimplemented) when the kernel refuses
// io_uring, so the caller can fall back to epoll.
absl::StatusOr<std::unique_ptr<Poller>> NewUringPoller();
absl::StatusOr<std::unique_ptr<Poller>> NewEpollPoller();

}  // namespace qdirect::internal
