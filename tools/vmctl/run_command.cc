// vmctl run FILE [--name NAME] [--grace SECONDS] [--until REGEX]
//
// Runs one VM in the foreground: starts it, copies its serial console to
// stdout and, when stdin is a terminal, keystrokes to the console (raw mode;
// Ctrl-] detaches, which stops the VM). Ctrl-C or SIGTERM stops the VM with
// the grace period (the spec's terminationGracePeriodSeconds unless --grace);
// a second one kills QEMU at once. --until stops the VM the same way once
// the console shows REGEX (a POSIX extended regex): a boot check for scripts.
//
// Exit code: 0 when the VM ended Succeeded (the guest powered off, or obeyed
// the power button), kExitVmFailed (6) when it ended Failed (the reason is
// printed), else the usual codes of a VM that could not start (command.h).

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qdirect/event_loop.h"
#include "qdirect/machine.h"
#include "qdirect/unique_fd.h"
#include "qdirect/vmi_status.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/manifest_file.h"
#include "vm/console_log.h"

namespace qdirect::vmctl {
namespace {

// The VM ran and ended in phase Failed.
// Ctrl-]: telnet's and virsh console's escape.
constexpr char kDetachByte = 0x1d;
// After the phase is final, how long QEMU may take to exit on its own.
constexpr absl::Duration kExitWait = absl::Seconds(10);

constexpr char kRunUsage[] =
    "usage: vmctl run FILE [--name NAME] [--grace SECONDS] [--until REGEX]\n";

// Puts a terminal in raw mode for its life and restores it after.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
    // Keep output processing: the guest's "\n" must still return the
    // carriage for the log lines we print ourselves.
    raw.c_oflag |= OPOST;
    active_ = tcsetattr(fd_, TCSANOW, &raw) == 0;
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal() {
    if (active_) tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stdout gone: keep the VM, drop its output
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

struct Flags {
  std::string file;
  std::string name;
  std::optional<absl::Duration> grace;
  std::string until;
};

// Parses the arguments; returns the exit code on a usage error.
std::optional<int> ParseFlags(const Args& args, Flags* flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--name" && i + 1 < args.size()) {
      flags->name = args[++i];
    } else if (arg == "--until" && i + 1 < args.size()) {
      flags->until = args[++i];
    } else if (arg == "--grace" && i + 1 < args.size()) {
      int64_t seconds = 0;
      if (!absl::SimpleAtoi(args[++i], &seconds) || seconds < 0) {
        std::fprintf(stderr, "vmctl run: --grace %s: expected whole seconds >= 0\n",
                     args[i].c_str());
        return kExitUsage;
      }
      flags->grace = absl::Seconds(seconds);
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "vmctl run: unknown flag %s\n%s", arg.c_str(), kRunUsage);
      return kExitUsage;
    } else if (flags->file.empty()) {
      flags->file = arg;
    } else {
      std::fprintf(stderr, "vmctl run: one FILE only\n%s", kRunUsage);
      return kExitUsage;
    }
  }
  if (flags->file.empty()) {
    std::fputs(kRunUsage, stderr);
    return kExitUsage;
  }
  return std::nullopt;
}

// SIGINT and SIGTERM as readable events on the loop (blocked for the
// process; the QEMU child gets an empty mask back from Spawn).
absl::StatusOr<UniqueFd> OpenSignalFd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    return absl::ErrnoToStatus(errno, "sigprocmask");
  }
  UniqueFd fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "signalfd");
  return fd;
}

}  // namespace

int RunRun(const Args& args) {
  Flags flags;
  if (std::optional<int> usage = ParseFlags(args, &flags)) return *usage;

  std::optional<vm::ConsolePattern> until;
  if (!flags.until.empty()) {
    absl::StatusOr<vm::ConsolePattern> pattern =
        vm::ConsolePattern::Regex(flags.until);
    if (!pattern.ok()) return ReportError(pattern.status());
    until.emplace(std::move(*pattern));
  }

  absl::StatusOr<spec::Vmi> vmi = LoadOneVmi(flags.file, flags.name);
  if (!vmi.ok()) return ReportError(vmi.status());
  const std::string label =
      absl::StrCat("vm ", vmi->metadata.namespace_, "/", vmi->metadata.name);

  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return ReportError(loop.status());
  absl::StatusOr<UniqueFd> signals = OpenSignalFd();
  if (!signals.ok()) return ReportError(signals.status());

  vm::MachineOptions options;
  options.loop = loop->get();
  absl::StatusOr<std::unique_ptr<vm::Machine>> started =
      vm::Machine::Start(*vmi, options);
  if (!started.ok()) return ReportError(started.status());
  vm::Machine& machine = **started;
  std::fprintf(stderr, "vmctl: %s running (QEMU pid %d)%s\n", label.c_str(),
               machine.Status().qdirect.qemu_pid,
               isatty(STDIN_FILENO) ? "; Ctrl-] stops it" : "");

  bool stop_requested = false;
  int signals_seen = 0;
  absl::StatusOr<WatchId> signal_watch = (*loop)->WatchFd(
      signals->get(), kFdReadable, [&](uint32_t) {
        signalfd_siginfo info;
        while (::read(signals->get(), &info, sizeof info) ==
               static_cast<ssize_t>(sizeof info)) {
          ++signals_seen;
        }
        stop_requested = true;
        // A second signal while the stop runs: no more waiting for the guest.
        if (signals_seen > 1) {
          int pid = machine.Status().qdirect.qemu_pid;
          if (pid > 0) ::kill(pid, SIGKILL);
        }
      });
  if (!signal_watch.ok()) return ReportError(signal_watch.status());

  absl::StatusOr<std::unique_ptr<vm::ConsoleSession>> console =
      machine.AttachConsole(
          [&](std::string_view bytes) {
            WriteAll(STDOUT_FILENO, bytes);
            if (until && !until->matched() && until->Feed(bytes)) {
              stop_requested = true;
            }
          },
          /*replay=*/true);
  if (!console.ok() && console.status().code() !=
                           absl::StatusCode::kFailedPrecondition) {
    return ReportError(console.status());
  }

  std::optional<RawTerminal> raw;
  WatchId stdin_watch;
  if (console.ok() && isatty(STDIN_FILENO)) {
    raw.emplace(STDIN_FILENO);
    absl::StatusOr<WatchId> watch = (*loop)->WatchFd(
        STDIN_FILENO, kFdReadable, [&](uint32_t) {
          char buffer[256];
          ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
          if (n <= 0) {  // terminal gone: stop reading it
            (*loop)->Unwatch(stdin_watch);
            stdin_watch = {};
            return;
          }
          std::string_view bytes(buffer, static_cast<size_t>(n));
          size_t detach = bytes.find(kDetachByte);
          if (detach != std::string_view::npos) {
            bytes = bytes.substr(0, detach);
            stop_requested = true;
          }
          if (!bytes.empty()) (void)(*console)->Write(bytes);
        });
    if (watch.ok()) stdin_watch = *watch;
  }

  (void)(*loop)->RunUntil([&] {
    return stop_requested || IsFinal(machine.Status().phase);
  });
  if (stdin_watch.valid()) (*loop)->Unwatch(stdin_watch);
  raw.reset();  // the terminal is the user's again for our messages

  if (!IsFinal(machine.Status().phase)) {
    std::fprintf(stderr, "\nvmctl: stopping %s (Ctrl-C again kills it)\n",
                 label.c_str());
    if (absl::Status st = machine.Shutdown(flags.grace); !st.ok()) {
      (*loop)->Unwatch(*signal_watch);
      return ReportError(st);
    }
  } else {
    // The guest ended it; QEMU follows shortly (quit after SHUTDOWN).
    (void)(*loop)->RunUntil(
        [&] { return machine.Status().qdirect.qemu_pid == 0; },
        absl::Now() + kExitWait);
  }
  (*loop)->Unwatch(*signal_watch);

  const VmiStatus status = machine.Status();
  const VmiCondition* ready = status.FindCondition(vmi_condition::kReady);
  const std::string how =
      ready != nullptr && !ready->message.empty() ? ready->message : "";
  if (status.phase == VmiPhase::kSucceeded) {
    std::fprintf(stderr, "vmctl: %s Succeeded%s%s\n", label.c_str(),
                 how.empty() ? "" : ": ", how.c_str());
    return kExitOk;
  }
  std::fprintf(stderr, "vmctl: %s %s%s%s%s%s\n", label.c_str(),
               std::string(VmiPhaseName(status.phase)).c_str(),
               status.reason.empty() ? "" : " (",
               status.reason.c_str(), status.reason.empty() ? "" : ")",
               how.empty() ? "" : (": " + how).c_str());
  return kExitVmFailed;
}

}  // namespace qdirect::vmctl
