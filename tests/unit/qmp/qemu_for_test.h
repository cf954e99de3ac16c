#pragma once

// Starts a bare QEMU (-machine none, TCG, -S) whose QMP monitor listens on a
// unix socket we bound ourselves and passed as fd 3, as the launcher does.
// For e2e tests and benchmarks only.

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "qdirect/unique_fd.h"

namespace qdirect::qmp::testing {

inline constexpr char kQemuBinary[] = "/usr/bin/qemu-system-x86_64";

class QemuForTest {
 public:
  QemuForTest() = default;
  QemuForTest(const QemuForTest&) = delete;
  QemuForTest& operator=(const QemuForTest&) = delete;
  ~QemuForTest() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (const std::string& path : socket_paths_) unlink(path.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  // monitors: how many QMP monitors (fds 3, 4, ...), each on its own socket.
  absl::Status Start(int monitors = 1) {
    char tmpl[] = "/tmp/qdirect-qmp-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
    dir_ = tmpl;
    std::vector<UniqueFd> listeners;
    std::vector<std::string> args = {kQemuBinary, "-S",          "-machine", "none", "-accel",
                                     "tcg",       "-nodefaults", "-display", "none"};
    for (int i = 0; i < monitors; ++i) {
      socket_paths_.push_back(absl::StrCat(dir_, "/qmp", i, ".sock"));
      UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!listener) return absl::ErrnoToStatus(errno, "socket");
      sockaddr_un addr = Address(i);
      if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          listen(listener.get(), 1) != 0) {
        return absl::ErrnoToStatus(errno, absl::StrCat("bind/listen ", socket_paths_[i]));
      }
      listeners.push_back(std::move(listener));
      args.insert(
          args.end(),
          {"-chardev", absl::StrCat("socket,id=qmp", i, ",fd=", 3 + i, ",server=on,wait=off"),
           "-mon", absl::StrCat("chardev=qmp", i, ",mode=control")});
    }
    pid_ = fork();
    if (pid_ < 0) return absl::ErrnoToStatus(errno, "fork");
    if (pid_ == 0) {
      // Move the listeners above the target range first, so dup2 never
      // clobbers one still to be placed; dup2 clears FD_CLOEXEC on the copy.
      std::vector<int> high;
      for (auto& l : listeners) high.push_back(fcntl(l.get(), F_DUPFD_CLOEXEC, 100));
      for (size_t i = 0; i < high.size(); ++i) {
        if (high[i] < 0 || dup2(high[i], 3 + static_cast<int>(i)) < 0) _exit(126);
      }
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    return absl::OkStatus();
  }

  // A new connection to monitor i (QEMU accepts one at a time per monitor).
  absl::StatusOr<UniqueFd> Connect(int i = 0) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = Address(i);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("connect ", socket_paths_[i]));
    }
    return fd;
  }

  // Waits for the exit (after quit); returns the wait status.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  int pidfd() const { return pidfd_.get(); }

 private:
  sockaddr_un Address(int i) const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_paths_[i].c_str(), sizeof(addr.sun_path) - 1);
    return addr;
  }

  std::string dir_;
  std::vector<std::string> socket_paths_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

}  // namespace qdirect::qmp::testing
