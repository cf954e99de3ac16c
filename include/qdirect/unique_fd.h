#pragma once

#include <utility>

namespace qdirect {

// UniqueFd owns one file descriptor and closes it on destruction. Every fd
// and pidfd in qdirect lives in one; no naked close() outside this class.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  // Closes the owned fd (if any) and takes fd.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace qdirect
