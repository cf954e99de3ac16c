#include "launch/process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in 2.37).
extern "C" {
#include <sys/pidfd.h>
}

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace qdirect::launch {
namespace {

// The step a child failed at, reported to the parent through the error pipe.
enum class ChildStep : int {
  kFds,
  kSession,
  kRlimit,
  kChdir,
  kBoundingSet,
  kAmbient,
  kKeepCaps,
  kSetgroups,
  kSetresgid,
  kSetresuid,
  kCapset,
  kNoNewPrivs,
  kExec,
};

struct ChildError {
  int step;
  int err;
  // The fd, rlimit resource or capability the step was about.
  int detail;
};

// ChildPlan holds everything the child reads between clone and exec, built
// before cloning so the child only makes async-signal-safe calls (no malloc:
// another thread may have held the allocator's lock at clone time).
struct ChildPlan {
  const char* path = nullptr;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<FdToPass> fds;
  // Scratch space for the child: one temporary fd per entry of fds.
  std::vector<int> moved;
  // is_target[fd] for fd < floor: whether fd is a target in fds.
  std::vector<char> is_target;
  // Lowest fd number above every target.
  int floor = 3;
  int error_fd = -1;
  const char* working_dir = nullptr;
  bool new_session = true;
  bool kill_with_parent = true;
  bool no_new_privs = true;
  pid_t parent_pid = 0;
  std::vector<ResourceLimit> rlimits;
  bool set_credentials = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool limit_caps = false;
  uint64_t keep_caps = 0;
  int last_cap = 40;
};

[[noreturn]] void ChildFail(int error_fd, ChildStep step, int err,
                            int detail = 0) {
  ChildError report{static_cast<int>(step), err, detail};
  ssize_t n;
  do {
    n = write(error_fd, &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  _exit(127);
}

// Closes every fd >= lo except `keep`. close_range when the kernel has it
// (5.9+); else walks /proc/self/fd with getdents64 into a stack buffer.
// Closing while walking is fine: procfs lists the fd table by number.
void CloseFdsFrom(int lo, int keep) {
  bool done = true;
  if (keep > lo && close_range(lo, keep - 1, 0) != 0) done = false;
  if (done && close_range(keep + 1, ~0U, 0) != 0) done = false;
  if (done) return;

  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    struct rlimit limit;
    int top =
        getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
            ? static_cast<int>(limit.rlim_cur)
            : 65536;
    for (int fd = lo; fd < top; ++fd) {
      if (fd != keep) close(fd);
    }
    return;
  }
  alignas(8) char buffer[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      unsigned short reclen;
      memcpy(&reclen, buffer + offset + 16, sizeof reclen);
      const char* name = buffer + offset + 19;
      offset += reclen;
      if (name[0] < '0' || name[0] > '9') continue;
      int fd = 0;
      for (const char* c = name; *c >= '0' && *c <= '9'; ++c) {
        fd = fd * 10 + (*c - '0');
      }
      if (fd >= lo && fd != keep && fd != dir) close(fd);
    }
  }
  close(dir);
}

// Runs in the child between clone and exec: async-signal-safe calls only,
// raw syscalls for the credential changes (glibc's wrappers broadcast to the
// parent's threads, which do not exist here, under a lock that may be held).
[[noreturn]] void RunChild(ChildPlan& plan) {
  int error_fd = plan.error_fd;

  // Handlers installed by the parent must not run here, and ignored signals
  // would stay ignored across exec: reset all, then unblock (the parent
  // blocked everything around clone).
  struct sigaction default_action;
  memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &default_action, nullptr);  // glibc refuses its own: fine
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  if (plan.new_session && setsid() < 0) {
    ChildFail(error_fd, ChildStep::kSession, errno);
  }

  // Move the error pipe and every source above all targets first, so that
  // placing one fd can never clobber a source still to be placed.
  int moved_error_fd = fcntl(error_fd, F_DUPFD_CLOEXEC, plan.floor);
  if (moved_error_fd < 0) ChildFail(error_fd, ChildStep::kFds, errno, error_fd);
  error_fd = moved_error_fd;
  for (size_t i = 0; i < plan.fds.size(); ++i) {
    plan.moved[i] = fcntl(plan.fds[i].parent_fd, F_DUPFD_CLOEXEC, plan.floor);
    if (plan.moved[i] < 0) {
      ChildFail(error_fd, ChildStep::kFds, errno, plan.fds[i].parent_fd);
    }
  }
  for (size_t i = 0; i < plan.fds.size(); ++i) {
    // dup2 onto a different number clears FD_CLOEXEC on the target.
    if (dup2(plan.moved[i], plan.fds[i].child_fd) < 0) {
      ChildFail(error_fd, ChildStep::kFds, errno, plan.fds[i].child_fd);
    }
  }
  for (int fd = 0; fd < plan.floor; ++fd) {
    if (!plan.is_target[fd]) close(fd);
  }
  CloseFdsFrom(plan.floor, error_fd);

  for (const ResourceLimit& limit : plan.rlimits) {
    struct rlimit value = {limit.soft, limit.hard};
    if (setrlimit(static_cast<__rlimit_resource>(limit.resource), &value) !=
        0) {
      ChildFail(error_fd, ChildStep::kRlimit, errno, limit.resource);
    }
  }
  if (chdir(plan.working_dir) != 0) {
    ChildFail(error_fd, ChildStep::kChdir, errno);
  }

  if (plan.limit_caps) {
    // Needs CAP_SETPCAP, so before the uid changes.
    for (int cap = 0; cap <= plan.last_cap; ++cap) {
      if (plan.keep_caps & (uint64_t{1} << cap)) continue;
      // Dropping needs CAP_SETPCAP even for an absent cap: skip those, so a
      // launcher that limited its own set can still spawn.
      if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
        ChildFail(error_fd, ChildStep::kBoundingSet, errno, cap);
      }
    }
  }
  if (plan.limit_caps || plan.set_credentials) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
        errno != EINVAL) {
      ChildFail(error_fd, ChildStep::kAmbient, errno);
    }
  }
  if (plan.set_credentials) {
    if (plan.limit_caps && plan.keep_caps != 0 &&
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
      ChildFail(error_fd, ChildStep::kKeepCaps, errno);
    }
    if (syscall(SYS_setgroups, plan.groups.size(), plan.groups.data()) != 0) {
      ChildFail(error_fd, ChildStep::kSetgroups, errno);
    }
    if (syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) {
      ChildFail(error_fd, ChildStep::kSetresgid, errno, plan.gid);
    }
    if (syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
      ChildFail(error_fd, ChildStep::kSetresuid, errno, plan.uid);
    }
  }
  if (plan.limit_caps) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int half = 0; half < 2; ++half) {
      uint32_t bits = static_cast<uint32_t>(plan.keep_caps >> (32 * half));
      data[half].effective = bits;
      data[half].permitted = bits;
      data[half].inheritable = bits;
    }
    if (syscall(SYS_capset, &header, data) != 0) {
      ChildFail(error_fd, ChildStep::kCapset, errno);
    }
    // A non-root exec keeps capabilities only as ambient ones.
    if (plan.set_credentials) {
      for (int cap = 0; cap <= plan.last_cap; ++cap) {
        if (!(plan.keep_caps & (uint64_t{1} << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
          ChildFail(error_fd, ChildStep::kAmbient, errno, cap);
        }
      }
    }
  }
  // After the credential change, which clears the parent-death signal.
  if (plan.kill_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // The parent may have died before prctl: then nobody waits for us.
    if (getppid() != plan.parent_pid) _exit(127);
  }
  if (plan.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    ChildFail(error_fd, ChildStep::kNoNewPrivs, errno);
  }
  // PR_SET_DUMPABLE is left alone: exec resets it from the new credentials.

  execve(plan.path, plan.argv.data(), plan.envp.data());
  ChildFail(error_fd, ChildStep::kExec, errno);
}

std::string DescribeChildError(const ChildPlan& plan, const ChildError& error) {
  switch (static_cast<ChildStep>(error.step)) {
    case ChildStep::kFds:
      return absl::StrCat("place fd ", error.detail);
    case ChildStep::kSession:
      return "setsid";
    case ChildStep::kRlimit:
      return absl::StrCat("setrlimit resource ", error.detail);
    case ChildStep::kChdir:
      return absl::StrCat("chdir ", plan.working_dir);
    case ChildStep::kBoundingSet:
      return absl::StrCat("drop capability ", error.detail,
                          " from the bounding set");
    case ChildStep::kAmbient:
      return "set ambient capabilities";
    case ChildStep::kKeepCaps:
      return "PR_SET_KEEPCAPS";
    case ChildStep::kSetgroups:
      return absl::StrCat("setgroups [", absl::StrJoin(plan.groups, ","), "]");
    case ChildStep::kSetresgid:
      return absl::StrCat("setresgid ", error.detail);
    case ChildStep::kSetresuid:
      return absl::StrCat("setresuid ", error.detail);
    case ChildStep::kCapset:
      return "capset";
    case ChildStep::kNoNewPrivs:
      return "PR_SET_NO_NEW_PRIVS";
    case ChildStep::kExec:
      return absl::StrCat("exec ", plan.path);
  }
  return absl::StrCat("step ", error.step);
}

int LastCapability() {
  std::ifstream file("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  if (file >> last && last >= 0 && last < 64) return last;
  return CAP_LAST_CAP;
}

ExitInfo ExitInfoFrom(const siginfo_t& info) {
  ExitInfo exit;
  if (info.si_code == CLD_EXITED) {
    exit.kind = ExitInfo::Kind::kExited;
    exit.code = info.si_status;
  } else {
    exit.kind = ExitInfo::Kind::kSignaled;
    exit.signal = info.si_status;
    exit.core_dumped = info.si_code == CLD_DUMPED;
  }
  return exit;
}

absl::Status ValidateOptions(const SpawnOptions& options) {
  if (options.argv.empty()) {
    return absl::InvalidArgumentError("spawn: argv is empty");
  }
  const std::string& path = options.argv[0];
  if (path.find('/') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spawn ", path, ": argv[0] must be a path (no PATH search)"));
  }
  for (const std::string& entry : options.env) {
    if (entry.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spawn ", path, ": env entry \"", entry, "\" has no '='"));
    }
  }
  std::set<int> targets;
  for (const FdToPass& fd : options.fds) {
    if (fd.child_fd < 0 || fd.parent_fd < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("spawn ", path, ": fd ", fd.parent_fd, " -> ",
                       fd.child_fd, ": negative fd number"));
    }
    if (!targets.insert(fd.child_fd).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spawn ", path, ": child fd ", fd.child_fd, " is mapped twice"));
    }
    if (fcntl(fd.parent_fd, F_GETFD) < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("spawn ", path, ": fd ", fd.parent_fd,
                              " to pass as ", fd.child_fd));
    }
  }
  if (options.capabilities) {
    for (int cap : *options.capabilities) {
      if (cap < 0 || cap > 63) {
        return absl::InvalidArgumentError(absl::StrCat(
            "spawn ", path, ": capability ", cap, " out of range"));
      }
    }
  }
  return absl::OkStatus();
}

// clone3(CLONE_PIDFD) where the kernel (5.3+) and any seccomp filter allow
// it; glibc 2.36 has no wrapper. Returns the pid (0 in the child) and fills
// *pidfd in the parent; -1 with errno on failure.
pid_t CloneWithPidfd(int* pidfd) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace

std::string ExitInfo::ToString() const {
  if (kind == Kind::kExited) return absl::StrCat("exited with code ", code);
  const char* name = sigabbrev_np(signal);
  std::string text = name != nullptr
                         ? absl::StrCat("killed by SIG", name)
                         : absl::StrCat("killed by signal ", signal);
  if (core_dumped) absl::StrAppend(&text, " (core dumped)");
  return text;
}

absl::Status Process::Kill(int signal) {
  if (exit_info_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kill pid ", pid_, ": already reaped (", exit_info_->ToString(), ")"));
  }
  if (pidfd_send_signal(pidfd_.get(), signal, nullptr, 0) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("kill pid ", pid_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ExitInfo>> Process::TryReap() {
  if (exit_info_) return exit_info_;
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid(static_cast<idtype_t>(P_PIDFD), pidfd_.get(), &info,
             WEXITED | WNOHANG) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("waitid pid ", pid_));
  }
  if (info.si_pid == 0) return std::nullopt;
  exit_info_ = ExitInfoFrom(info);
  return exit_info_;
}

absl::StatusOr<ExitInfo> Process::Wait(absl::Duration timeout) {
  if (exit_info_) return *exit_info_;
  const bool forever = timeout == absl::InfiniteDuration();
  const absl::Time deadline =
      forever ? absl::InfiniteFuture() : absl::Now() + timeout;
  for (;;) {
    int wait_ms = -1;
    if (!forever) {
      absl::Duration left =
          std::max(deadline - absl::Now(), absl::ZeroDuration());
      wait_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
          INT32_MAX));
    }
    struct pollfd poll_fd = {pidfd_.get(), POLLIN, 0};
    int ready = poll(&poll_fd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("poll pidfd of pid ", pid_));
    }
    if (ready > 0) break;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", pid_, " still running after ",
                       absl::FormatDuration(timeout)));
    }
  }
  ASSIGN_OR_RETURN(std::optional<ExitInfo> exit, TryReap());
  if (!exit) {
    return absl::InternalError(
        absl::StrCat("pid ", pid_, ": pidfd readable but not reapable"));
  }
  return *exit;
}

absl::StatusOr<Process> Spawn(const SpawnOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  const std::string& path = options.argv[0];

  ChildPlan plan;
  plan.path = path.c_str();
  for (const std::string& arg : options.argv) {
    plan.argv.push_back(const_cast<char*>(arg.c_str()));
  }
  plan.argv.push_back(nullptr);
  for (const std::string& entry : options.env) {
    plan.envp.push_back(const_cast<char*>(entry.c_str()));
  }
  plan.envp.push_back(nullptr);

  UniqueFd dev_null(open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!dev_null) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("spawn ", path, ": open /dev/null"));
  }
  UniqueFd log;
  if (!options.log_path.empty()) {
    log.reset(open(options.log_path.c_str(),
                   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600));
    if (!log) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("spawn ", path, ": open log ", options.log_path));
    }
  }
  const int output_fd = log ? log.get() : dev_null.get();
  auto mapped = [&](int child_fd) {
    return std::any_of(
        options.fds.begin(), options.fds.end(),
        [&](const FdToPass& fd) { return fd.child_fd == child_fd; });
  };
  if (!mapped(0)) plan.fds.push_back({dev_null.get(), 0});
  if (!mapped(1)) plan.fds.push_back({output_fd, 1});
  if (!mapped(2)) plan.fds.push_back({output_fd, 2});
  plan.fds.insert(plan.fds.end(), options.fds.begin(), options.fds.end());
  int max_target = 2;
  for (const FdToPass& fd : plan.fds)
    max_target = std::max(max_target, fd.child_fd);
  plan.floor = max_target + 1;
  plan.moved.assign(plan.fds.size(), -1);
  plan.is_target.assign(plan.floor, 0);
  for (const FdToPass& fd : plan.fds) plan.is_target[fd.child_fd] = 1;

  plan.working_dir = options.working_dir.c_str();
  plan.new_session = options.new_session;
  plan.kill_with_parent = options.kill_with_parent;
  plan.no_new_privs = options.no_new_privs;
  plan.parent_pid = getpid();
  plan.rlimits = options.rlimits;
  if (options.credentials) {
    plan.set_credentials = true;
    plan.uid = options.credentials->uid;
    plan.gid = options.credentials->gid;
    plan.groups = options.credentials->groups;
  }
  if (options.capabilities) {
    plan.limit_caps = true;
    for (int cap : *options.capabilities) plan.keep_caps |= uint64_t{1} << cap;
    plan.last_cap = LastCapability();
  }

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("spawn ", path, ": pipe2"));
  }
  UniqueFd error_read(pipe_fds[0]);
  UniqueFd error_write(pipe_fds[1]);
  plan.error_fd = error_write.get();

  // No handler may run in the child before it resets them.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int raw_pidfd = -1;
  pid_t pid = CloneWithPidfd(&raw_pidfd);
  if (pid < 0 && (errno == ENOSYS || errno == EPERM)) {
    // Kernel before 5.3, or a container's seccomp filter refusing clone3.
    pid = fork();
    if (pid > 0) raw_pidfd = pidfd_open(pid, 0);
  }
  if (pid == 0) RunChild(plan);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    return absl::ErrnoToStatus(clone_errno,
                               absl::StrCat("spawn ", path, ": clone"));
  }
  if (raw_pidfd < 0) {
    // fork fallback without pidfd_open: we cannot track the child; stop it.
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::ErrnoToStatus(clone_errno,
                               absl::StrCat("spawn ", path, ": pidfd_open"));
  }
  Process process(pid, UniqueFd(raw_pidfd));
  error_write.reset();

  ChildError error;
  ssize_t n;
  do {
    n = read(error_read.get(), &error, sizeof error);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return process;  // exec closed the CLOEXEC pipe: running

  (void)process.Wait(absl::InfiniteDuration());
  if (n != sizeof error) {
    return absl::InternalError(absl::StrCat(
        "spawn ", path, ": short report from child (", n, " bytes)"));
  }
  return absl::ErrnoToStatus(error.err, DescribeChildError(plan, error));
}

}  // namespace qdirect::launch
