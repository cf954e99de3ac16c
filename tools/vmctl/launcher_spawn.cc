#include "tools/vmctl/launcher_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "qdirect/unique_fd.h"
#include "tools/vmctl/manifest_file.h"

extern char** environ;

namespace qdirect::vmctl {

namespace {

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

absl::StatusOr<ManifestToStart> PrepareManifestToStart(const std::string& file,
                                                       const std::string& name) {
  ManifestToStart out;
  absl::StatusOr<spec::Vmi> vmi = LoadOneVmi(file, name);
  if (!vmi.ok()) return vmi.status();
  out.vmi = *std::move(vmi);
  out.vm = VmRef{out.vmi.metadata.namespace_, out.vmi.metadata.name};
  if (absl::StatusOr<UniqueFd> live = ConnectToVm(out.vm); live.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("vm ", out.vm.label(), ": already running on this host"));
  }
  char resolved[PATH_MAX];
  if (::realpath(file.c_str(), resolved) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat(file, ": realpath"));
  }
  out.path = resolved;
  return out;
}

absl::StatusOr<StartedLauncher> StartLauncher(const std::vector<std::string>& args,
                                              const std::string& vm_label) {
  absl::StatusOr<std::string> launcher = FindLauncher();
  if (!launcher.ok()) return launcher.status();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  launch::SpawnOptions spawn;
  spawn.argv = {*launcher};
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.argv.push_back("--ready-fd");
  spawn.argv.push_back("3");
  for (char** e = environ; *e != nullptr; ++e) spawn.env.emplace_back(*e);
  spawn.fds = {{write_end.get(), 3}};
  spawn.new_session = true;
  spawn.kill_with_parent = false;  // the VM outlives vmctl
  absl::StatusOr<launch::Process> process = launch::Spawn(spawn);
  if (!process.ok()) return process.status();
  write_end.reset();  // EOF on read_end once the launcher closes its end

  absl::StatusOr<std::string> line = ReadReadyLine(read_end.get());
  if (!line.ok()) return line.status();
  StartedLauncher started{std::move(*process), ""};
  if (*line == "ok") return started;
  // Failed: reap the launcher so its exit can be quoted.
  absl::StatusOr<launch::ExitInfo> exit_info =
      started.process.Wait(absl::Seconds(30));
  started.error = std::string(absl::StripPrefix(*line, "error: "));
  if (started.error.empty()) {
    started.error = absl::StrCat("vm ", vm_label, ": launcher ",
                                 exit_info.ok() ? exit_info->ToString() : "vanished",
                                 " before it was ready");
  }
  return started;
}

}  // namespace qdirect::vmctl
