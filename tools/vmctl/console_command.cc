// vmctl console NAME [--namespace NS] [--log]
//
// Attaches the terminal to the VM's serial console (raw mode; Ctrl-]
// detaches and the VM keeps running). --log prints what the console log
// retains and exits: no terminal needed.

#include <errno.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {
namespace {

// Ctrl-]: telnet's and virsh console's escape.
constexpr char kDetachByte = 0x1d;

// Puts a terminal in raw mode for its life and restores it after.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
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

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

int RunConsole(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("console", args, &parsed)) return *code;
  bool log = false;
  for (const std::string& arg : parsed.rest) {
    if (arg != "--log") {
      std::fprintf(stderr, "vmctl console: unknown argument %s\n", arg.c_str());
      return kExitUsage;
    }
    log = true;
  }
  if (log) {
    absl::StatusOr<kube::ControlResponse> response =
        CallVm(parsed.vm, kube::ConsoleLogRequest{});
    if (!response.ok()) return ReportError(response.status());
    WriteAll(STDOUT_FILENO, response->console_log.value_or(""));
    return kExitOk;
  }

  absl::StatusOr<UniqueFd> fd = ConnectToVm(parsed.vm);
  if (!fd.ok()) return ReportError(fd.status());
  absl::StatusOr<kube::ControlResponse> attached =
      Exchange(fd->get(), kube::ConsoleAttachRequest{});
  if (!attached.ok()) return ReportError(attached.status());
  const bool tty = isatty(STDIN_FILENO);
  std::fprintf(stderr, "vmctl: connected to %s%s\r\n", parsed.vm.label().c_str(),
               tty ? " (Ctrl-] detaches)" : "");
  std::optional<RawTerminal> raw;
  if (tty) raw.emplace(STDIN_FILENO);

  bool stdin_open = true;
  char buffer[16384];
  for (;;) {
    pollfd fds[2] = {{fd->get(), POLLIN, 0},
                     {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      ssize_t n = ::read(fd->get(), buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the launcher went away: the VM ended
      if (!WriteAll(STDOUT_FILENO, std::string_view(buffer, static_cast<size_t>(n)))) break;
    }
    if (fds[1].revents != 0) {
      ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        stdin_open = false;
        continue;
      }
      std::string_view bytes(buffer, static_cast<size_t>(n));
      const size_t detach = bytes.find(kDetachByte);
      if (detach != std::string_view::npos) {
        WriteAll(fd->get(), bytes.substr(0, detach));
        break;
      }
      if (!WriteAll(fd->get(), bytes)) break;
    }
  }
  raw.reset();
  std::fprintf(stderr, "\nvmctl: detached from %s\n", parsed.vm.label().c_str());
  return kExitOk;
}

}  // namespace qdirect::vmctl
