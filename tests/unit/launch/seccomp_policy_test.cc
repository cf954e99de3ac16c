#include "launch/seccomp_policy.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "launch/unix_socket.h"

namespace qdirect::launch {
namespace {

// Runs `body` in a forked child under `role`'s policy; its wait status.
// `body` returns the child's exit code.
int RunConfined(SeccompRole role, const std::function<int()>& body) {
  pid_t child = fork();
  if (child == 0) {
    if (!InstallSeccompPolicy(role).ok()) _exit(100);
    _exit(body());
  }
  int status = -1;
  waitpid(child, &status, 0);
  return status;
}

TEST(SeccompPolicy, EveryRoleTableBuilds) {
  EXPECT_TRUE(CheckSeccompPolicy(SeccompRole::kLauncher).ok());
  EXPECT_TRUE(CheckSeccompPolicy(SeccompRole::kHandler).ok());
}

TEST(SeccompPolicy, NoSyscallIsBothAllowedAndForbidden) {
  for (SeccompRole role : {SeccompRole::kLauncher, SeccompRole::kHandler}) {
    for (std::string_view name : AllowedSyscalls(role)) {
      auto forbidden = ForbiddenSyscalls();
      EXPECT_EQ(std::find(forbidden.begin(), forbidden.end(), name),
                forbidden.end())
          << name;
    }
  }
}

TEST(SeccompPolicy, AllowedSyscallsWork) {
  int status = RunConfined(SeccompRole::kLauncher, [] {
    int fds[2];
    if (pipe2(fds, 0) != 0) return 1;
    if (write(fds[1], "x", 1) != 1) return 2;
    char c;
    if (read(fds[0], &c, 1) != 1) return 3;
    if (syscall(SYS_getpid) != getpid()) return 4;
    // What a launcher does all day: threads, big allocations, fd passing.
    bool ran = false;
    std::thread([&] { ran = true; }).join();
    if (!ran) return 5;
    std::vector<char> big(64 << 20, 'x');
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return 6;
    UniqueFd a(pair[0]), b(pair[1]);
    const int send_fds[] = {fds[0]};
    if (!SendWithFds(a.get(), std::span<const char>(big.data(), 1), send_fds)
             .ok())
      return 7;
    std::vector<UniqueFd> received;
    char byte;
    if (!ReceiveWithFds(b.get(), std::span<char>(&byte, 1), &received).ok() ||
        received.size() != 1)
      return 8;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SeccompPolicy, UnlistedSyscallFailsWithEperm) {
  // personality(0xffffffff) only queries: harmless, and not in the table.
  int status = RunConfined(SeccompRole::kLauncher, [] {
    errno = 0;
    long rc = syscall(SYS_personality, 0xffffffffUL);
    return rc == -1 && errno == EPERM ? 0 : 1;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SeccompPolicy, ForbiddenSyscallKillsTheProcess) {
  int status = RunConfined(SeccompRole::kLauncher, [] {
    ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    return 0;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(SeccompPolicy, RolesDiffer) {
  auto inotify = [] { return syscall(SYS_inotify_init1, 0) >= 0 ? 0 : errno; };
  int launcher = RunConfined(SeccompRole::kLauncher, inotify);
  int handler = RunConfined(SeccompRole::kHandler, inotify);
  ASSERT_TRUE(WIFEXITED(launcher) && WIFEXITED(handler));
  EXPECT_EQ(WEXITSTATUS(launcher), EPERM);
  EXPECT_EQ(WEXITSTATUS(handler), 0);
}

}  // namespace
}  // namespace qdirect::launch
