// vmctl start FILE [--name N]
//
// Starts a VM in the background: spawns qdirect-launcher detached (its own
// session, outliving vmctl) and returns once the VM is Running (exit 0), or
// with the launcher's start error (exit 4). The launcher is $QDIRECT_LAUNCHER,
// else ../launcher/qdirect-launcher beside vmctl (build tree), else
// qdirect-launcher beside vmctl (installed).

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "qdirect/unique_fd.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"
#include "tools/vmctl/launcher_spawn.h"
#include "tools/vmctl/manifest_file.h"

namespace qdirect::vmctl {
namespace {

constexpr char kStartUsage[] = "usage: vmctl start FILE [--name NAME]\n";

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
  absl::StatusOr<ManifestToStart> manifest = PrepareManifestToStart(file, name);
  if (!manifest.ok()) return ReportError(manifest.status());
  const VmRef& vm = manifest->vm;
  std::vector<std::string> launcher_args = {"--manifest", manifest->path};
  if (!name.empty()) {
    launcher_args.push_back("--name");
    launcher_args.push_back(name);
  }
  absl::StatusOr<StartedLauncher> started = StartLauncher(launcher_args, vm.label());
  if (!started.ok()) return ReportError(started.status());
  if (started->error.empty()) {
    std::printf("vm %s running (launcher pid %d)\n", vm.label().c_str(),
                started->process.pid());
    return kExitOk;
  }
  const std::string& message = started->error;
  if (absl::StrContains(message, "already") ||
      absl::StrContains(message, "held by")) {
    return ReportError(absl::AlreadyExistsError(message));
  }
  return ReportError(absl::FailedPreconditionError(message));
}

}  // namespace qdirect::vmctl
