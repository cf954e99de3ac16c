#include "launch/own_capabilities.h"

#include <linux/capability.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "launch/process.h"

namespace qdirect::launch {
namespace {

// The value of `field` ("CapEff") in /proc/self/status.
std::string StatusField(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":\t", 0) == 0) return line.substr(field.size() + 2);
  }
  return "";
}

// Runs `body` in a forked child; its exit code (or 200 + signal).
int InChild(int (*body)()) {
  pid_t child = fork();
  if (child == 0) _exit(body());
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

TEST(LimitOwnCapabilities, KeepsOnlyTheListedOnes) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  EXPECT_EQ(InChild([] {
              const int keep[] = {CAP_SETGID, CAP_SETUID};
              if (!LimitOwnCapabilities(keep).ok()) return 1;
              const std::string want = "00000000000000c0";
              if (StatusField("CapEff") != want) return 2;
              if (StatusField("CapPrm") != want) return 3;
              if (StatusField("CapBnd") != want) return 4;
              if (StatusField("CapInh") != "0000000000000000") return 5;
              return 0;
            }),
            0);
}

// What the launcher keeps is enough to start QEMU as another uid with no
// capabilities.
TEST(LimitOwnCapabilities, LauncherSetStillSpawnsAsAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  EXPECT_EQ(InChild([] {
              const int keep[] = {CAP_SETGID, CAP_SETUID, CAP_SETPCAP};
              if (!LimitOwnCapabilities(keep).ok()) return 1;
              SpawnOptions options;
              options.argv = {"/bin/true"};
              options.credentials =
                  Credentials{.uid = 65534, .gid = 65534, .groups = {}};
              options.capabilities = std::vector<int>{};
              absl::StatusOr<Process> process = Spawn(options);
              if (!process.ok()) return 2;
              absl::StatusOr<ExitInfo> exit = process->Wait(absl::Seconds(60));
              return exit.ok() && exit->success() ? 0 : 3;
            }),
            0);
}

// Spawn drops from the child's bounding set only what is there, so without
// CAP_SETPCAP a launcher can still spawn a child limited to what it holds.
TEST(LimitOwnCapabilities, SpawnNeedsNoSetpcapWhenNothingIsLeftToDrop) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  EXPECT_EQ(InChild([] {
              const int keep[] = {CAP_SETGID, CAP_SETUID};
              if (!LimitOwnCapabilities(keep).ok()) return 1;
              SpawnOptions options;
              options.argv = {"/bin/true"};
              options.capabilities = std::vector<int>{CAP_SETGID, CAP_SETUID};
              absl::StatusOr<Process> process = Spawn(options);
              if (!process.ok()) return 2;
              absl::StatusOr<ExitInfo> exit = process->Wait(absl::Seconds(60));
              return exit.ok() && exit->success() ? 0 : 3;
            }),
            0);
}

TEST(LimitOwnCapabilities, RefusesUnknownCapability) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  EXPECT_EQ(InChild([] {
              const int keep[] = {200};
              return LimitOwnCapabilities(keep).code() ==
                             absl::StatusCode::kInvalidArgument
                         ? 0
                         : 1;
            }),
            0);
}

}  // namespace
}  // namespace qdirect::launch
