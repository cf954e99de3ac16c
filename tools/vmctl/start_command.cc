// vmctl start FILE [--name N]
//
// Starts a VM in the background: spawns qdirect-launcher detached (its own
// session, outliving vmctl) and returns once the VM is Running (exit 0), or
// with the launcher's start error (exit 4). The launcher is $QDIRECT_LAUNCHER,
// else ../launcher/qdirect-launcher beside vmctl (build tree), else
// qdirect-launcher beside vmctl (installed).

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "launch/process.h"
#include "qdirect/unique_fd.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"
#include "tools/vmctl/manifest_file.h"

extern char** environ;

namespace qdirect::vmctl {
namespace {

constexpr char kStartUsage[] = "usage: vmctl start FILE [--name NAME]\n";
absl::StatusOr<std::string> FindLauncher() {
  if (const char* env = std::getenv("QDIRECT_LAUNCHER"); env && *env) {
    return std::string(env);
  }
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return absl::ErrnoToStatus(errno, "readlink /proc/self/exe");
  std::string dir(self, static_cast<size_t>(n));
  dir.resize(dir.rfind('/'));
  for (const std::string& candidate :
       {absl::StrCat(dir, "/../launcher/qdirect-launcher"),
        absl::StrCat(dir, "/qdirect-launcher")}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "qdirect-launcher not found beside ", dir, " (set QDIRECT_LAUNCHER)"));
}

// Reads the launcher's one readiness line (without its newline); empty when
// it closed the pipe without one. No timeout of ours: Machine::Start bounds
// the launcher's start.
absl::StatusOr<std::string> ReadReadyLine(int fd) {
  std::string line;
  char c;
  while (line.size() < 65536) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "launcher ready pipe: read");
    if (n == 0 || c == '\n') break;
    line.push_back(c);
  }
  return line;
}

}  // namespace

int RunStart(const Args& args) {
  std::string file;
  std::string name;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--name" && i + 1 < args.size()) {
      name = args[++i];
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      std::fprintf(stderr, "vmctl start: unknown flag %s\n%s", args[i].c_str(),
                   kStartUsage);
      return kExitUsage;
    } else if (file.empty()) {
      file = args[i];
    } else {
      std::fputs(kStartUsage, stderr);
      return kExitUsage;
    }
  }
  if (file.empty() || file == "-") {
    std::fputs(kStartUsage, stderr);
    return kExitUsage;
  }
  // Decode here too: spec errors get their exit code and full listing.
  absl::StatusOr<spec::Vmi> vmi = LoadOneVmi(file, name);
  if (!vmi.ok()) return ReportError(vmi.status());
  const VmRef vm{vmi->metadata.namespace_, vmi->metadata.name};
  if (absl::StatusOr<UniqueFd> live = ConnectToVm(vm); live.ok()) {
    return ReportError(absl::AlreadyExistsError(
        absl::StrCat("vm ", vm.label(), ": already running")));
  }

  absl::StatusOr<std::string> launcher = FindLauncher();
  if (!launcher.ok()) return ReportError(launcher.status());
  char resolved[PATH_MAX];
  if (::realpath(file.c_str(), resolved) == nullptr) {
    return ReportError(absl::ErrnoToStatus(errno, absl::StrCat(file, ": realpath")));
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return ReportError(absl::ErrnoToStatus(errno, "pipe2"));
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  launch::SpawnOptions spawn;
  spawn.argv = {*launcher, "--manifest", resolved, "--ready-fd", "3"};
  if (!name.empty()) {
    spawn.argv.push_back("--name");
    spawn.argv.push_back(name);
  }
  for (char** e = environ; *e != nullptr; ++e) spawn.env.emplace_back(*e);
  spawn.fds = {{write_end.get(), 3}};
  spawn.new_session = true;
  spawn.kill_with_parent = false;  // the VM outlives `vmctl start`
  absl::StatusOr<launch::Process> process = launch::Spawn(spawn);
  if (!process.ok()) return ReportError(process.status());
  write_end.reset();  // EOF on read_end once the launcher closes its end

  absl::StatusOr<std::string> line =
      ReadReadyLine(read_end.get());
  if (!line.ok()) return ReportError(line.status());
  if (*line == "ok") {
    std::printf("vm %s running (launcher pid %d)\n", vm.label().c_str(),
                process->pid());
    return kExitOk;
  }
  // Failed: reap the launcher so its exit can be quoted.
  absl::StatusOr<launch::ExitInfo> exit_info = process->Wait(absl::Seconds(30));
  std::string message(absl::StripPrefix(*line, "error: "));
  if (message.empty()) {
    message = absl::StrCat("vm ", vm.label(), ": launcher ",
                           exit_info.ok() ? exit_info->ToString() : "vanished",
                           " before the VM was running");
  }
  if (absl::StrContains(message, "already") ||
      absl::StrContains(message, "held by")) {
    return ReportError(absl::AlreadyExistsError(message));
  }
  return ReportError(absl::FailedPreconditionError(message));
}

}  // namespace qdirect::vmctl
