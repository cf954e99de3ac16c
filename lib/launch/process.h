#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "launch/credentials.h"
#include "qdirect/unique_fd.h"

namespace qdirect::launch {

// FdToPass places the parent's `parent_fd` (borrowed for the Spawn call; the
// caller keeps ownership) at number `child_fd` in the child. Sources and
// targets may collide (e.g. swap 3 and 4): Spawn moves every source out of
// the way before placing any.
struct FdToPass {
  int parent_fd = -1;
  int child_fd = -1;
};

// ResourceLimit is one setrlimit applied in the child, e.g.
// {RLIMIT_MEMLOCK, 64 << 20, 64 << 20}.
struct ResourceLimit {
  int resource = 0;
  rlim_t soft = 0;
  rlim_t hard = 0;
};

// SpawnOptions says everything about how a child starts; Spawn does nothing
// it is not told here.
struct SpawnOptions {
  // argv[0] is the program run: a path containing '/'; no PATH search, since
  // the environment is explicit and the caller chose the binary.
  std::vector<std::string> argv;
  // The child's whole environment, "NAME=value" each; nothing is inherited.
  std::vector<std::string> env;
  // Fds placed in the child. Every other fd is closed (close_range, not
  // CLOEXEC, which would miss fds other threads opened without it). A
  // mapping to 0, 1 or 2 replaces the defaults below.
  std::vector<FdToPass> fds;
  // stdout and stderr go to this file (O_APPEND, created 0600); empty:
  // /dev/null. stdin is always /dev/null unless fds maps 0.
  std::string log_path;
  // The child's working directory.
  std::string working_dir = "/";
  // setsid(): the child leads a new session, so a terminal's signals and the
  // launcher's process group never reach it.
  bool new_session = true;
  // PR_SET_PDEATHSIG SIGKILL: the child dies with the *thread* that spawned
  // it. Off for a launcher meant to outlive its starter (vmctl start).
  bool kill_with_parent = true;
  std::vector<ResourceLimit> rlimits;
  // Run as these credentials (needs CAP_SETUID/CAP_SETGID).
  std::optional<Credentials> credentials;
  // Capabilities the child keeps (numbers, see ParseCapability). Absent:
  // unchanged, though switching to a non-root uid clears them anyway. Set:
  // the bounding set is cut to these and, with credentials, they survive
  // the uid change and exec as ambient capabilities.
  std::optional<std::vector<int>> capabilities;
  // PR_SET_NO_NEW_PRIVS: exec can never gain privileges (setuid binaries,
  // file capabilities).
  bool no_new_privs = true;
};

// ExitInfo is how a child ended.
struct ExitInfo {
  enum class Kind { kExited, kSignaled };
  Kind kind = Kind::kExited;
  // Exit status when kExited.
  int code = 0;
  // Signal number when kSignaled.
  int signal = 0;
  bool core_dumped = false;

  bool success() const { return kind == Kind::kExited && code == 0; }
  // "exited with code 1", "killed by SIGKILL".
  std::string ToString() const;

  friend bool operator==(const ExitInfo&, const ExitInfo&) = default;
};

// Process is a handle on a spawned child: its pid and pidfd. Destroying it
// neither kills nor reaps the child (a launcher may outlive its starter);
// call Kill and Wait for that.
class Process {
 public:
  Process(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Process(Process&&) = default;
  Process& operator=(Process&&) = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Readable (POLLIN) once the child has exited; for event loops.
  int pidfd() const { return pidfd_.get(); }
  // The ExitInfo once Wait or TryReap has reaped the child.
  const std::optional<ExitInfo>& exit_info() const { return exit_info_; }

  // Sends `signal` through the pidfd, so a recycled pid is never hit.
  absl::Status Kill(int signal);
  // Waits up to `timeout` (absl::InfiniteDuration() for ever) for the child
  // to exit and reaps it. DeadlineExceeded if it is still running.
  absl::StatusOr<ExitInfo> Wait(absl::Duration timeout);
  // Reaps the child if it has exited; nullopt while it runs.
  absl::StatusOr<std::optional<ExitInfo>> TryReap();

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  std::optional<ExitInfo> exit_info_;
};

// Starts argv[0] as SpawnOptions say. Returns once the child has exec'd: a
// failure in the child before exec (chdir, setresuid, exec itself ...) comes
// back as this call's error, e.g. "exec /usr/bin/qemu-system-x86_64: No such
// file or directory", never as a mysterious exit 127.
absl::StatusOr<Process> Spawn(const SpawnOptions& options);

}  // namespace qdirect::launch
