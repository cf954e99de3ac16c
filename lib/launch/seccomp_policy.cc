#include "launch/seccomp_policy.h"

#include <seccomp.h>

#include <array>
#include <cerrno>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace qdirect::launch {
namespace {

// What every role needs: memory, threads, signals, time, files in its runtime
// dir, unix sockets (QMP, agent, console, control), io_uring/epoll, pidfds.
constexpr std::string_view kCommonSyscalls[] = {
    // memory and threads
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "membarrier",
    "clone",
    "clone3",
    "set_robust_list",
    "get_robust_list",
    "set_tid_address",
    "rseq",
    "futex",
    "sched_yield",
    "sched_getaffinity",
    "arch_prctl",
    "exit",
    "exit_group",
    "restart_syscall",
    "getrandom",
    "prctl",
    // signals
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "tgkill",
    "signalfd4",
    // identity and limits
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "uname",
    "prlimit64",
    "getrlimit",
    "getrusage",
    "sysinfo",
    "capget",
    // time
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    // files
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "openat",
    "open",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "ioctl",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "fstatfs",
    "statfs",
    "readlink",
    "readlinkat",
    "access",
    "faccessat",
    "faccessat2",
    "getdents64",
    "getcwd",
    "mkdirat",
    "mkdir",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    // glibc's chown(): /dev/vfio/<group> handed to QEMU's uid on host-device hotplug
    "chown",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "flock",
    "pipe2",
    "eventfd2",
    "memfd_create",
    // event loop
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "pselect6",
    // unix sockets, fd passing
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "shutdown",
    "sendmsg",
    "recvmsg",
    "sendto",
    "recvfrom",
    // children (QEMU): signal, reap
    "pidfd_open",
    "pidfd_send_signal",
    "waitid",
    "wait4",
};

// The launcher runs one VM: nothing beyond the common set.
constexpr std::string_view kLauncherExtraSyscalls[] = {"kill"};

// The handler also watches manifests and host state.
constexpr std::string_view kHandlerExtraSyscalls[] = {
    "kill",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
};

constexpr std::string_view kForbiddenSyscalls[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "setns",
    "unshare",
    "reboot",
    "swapon",
    "swapoff",
    "open_by_handle_at",
    "iopl",
    "ioperm",
    "acct",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
};

std::span<const std::string_view> ExtraSyscalls(SeccompRole role) {
  switch (role) {
    case SeccompRole::kLauncher:
      return kLauncherExtraSyscalls;
    case SeccompRole::kHandler:
      return kHandlerExtraSyscalls;
  }
  return {};
}

const char* RoleName(SeccompRole role) {
  return role == SeccompRole::kLauncher ? "launcher" : "handler";
}

struct FilterDeleter {
  void operator()(void* filter) const { seccomp_release(filter); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

absl::Status AddRules(scmp_filter_ctx filter, SeccompRole role,
                      std::span<const std::string_view> names,
                      uint32_t action) {
  for (std::string_view name : names) {
    const std::string syscall_name(name);
    const int number = seccomp_syscall_resolve_name(syscall_name.c_str());
    if (number == __NR_SCMP_ERROR) {
      return absl::InternalError(absl::StrCat("seccomp policy ", RoleName(role),
                                              ": unknown syscall ",
                                              syscall_name));
    }
    if (int rc = seccomp_rule_add(filter, action, number, 0); rc != 0) {
      return absl::ErrnoToStatus(
          -rc, absl::StrCat("seccomp policy ", RoleName(role), ": rule for ",
                            syscall_name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Filter> BuildFilter(SeccompRole role) {
  Filter filter(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  if (!filter) {
    return absl::InternalError(absl::StrCat("seccomp policy ", RoleName(role),
                                            ": seccomp_init failed"));
  }
  if (int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 1);
      rc != 0) {
    return absl::ErrnoToStatus(
        -rc, absl::StrCat("seccomp policy ", RoleName(role), ": TSYNC"));
  }
  RETURN_IF_ERROR(
      AddRules(filter.get(), role, AllowedSyscalls(role), SCMP_ACT_ALLOW));
  RETURN_IF_ERROR(
      AddRules(filter.get(), role, ForbiddenSyscalls(), SCMP_ACT_KILL_PROCESS));
  return filter;
}

}  // namespace

std::span<const std::string_view> AllowedSyscalls(SeccompRole role) {
  // One table per role, built once: common + the role's extras.
  static const auto* const tables = [] {
    auto* result = new std::array<std::vector<std::string_view>, 2>();
    for (SeccompRole r : {SeccompRole::kLauncher, SeccompRole::kHandler}) {
      auto& table = (*result)[static_cast<int>(r)];
      table.assign(std::begin(kCommonSyscalls), std::end(kCommonSyscalls));
      std::span<const std::string_view> extra = ExtraSyscalls(r);
      table.insert(table.end(), extra.begin(), extra.end());
    }
    return result;
  }();
  return (*tables)[static_cast<int>(role)];
}

std::span<const std::string_view> ForbiddenSyscalls() {
  return kForbiddenSyscalls;
}

absl::Status CheckSeccompPolicy(SeccompRole role) {
  return BuildFilter(role).status();
}

absl::Status InstallSeccompPolicy(SeccompRole role) {
  ASSIGN_OR_RETURN(Filter filter, BuildFilter(role));
  if (int rc = seccomp_load(filter.get()); rc != 0) {
    return absl::ErrnoToStatus(
        -rc, absl::StrCat("seccomp policy ", RoleName(role), ": load"));
  }
  return absl::OkStatus();
}

}  // namespace qdirect::launch
