#pragma once

// vmctl's subcommands. Each takes its arguments after the subcommand name
// and returns the process exit code (see ExitCode).

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qdirect::vmctl {

// Exit codes, documented in the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitInvalid = 1,     // the spec or an argument value is invalid
  kExitUsage = 2,       // bad command line
  kExitNotFound = 3,    // no such file, VM, image or volume
  kExitFailed = 4,      // QEMU or the host refused (precondition, I/O)
  kExitInternal = 5,    // a bug
  kExitVmFailed = 6,    // the VM ran and ended Failed (vmctl run)
};

// Maps a Status to an exit code and prints `vmctl: <message>` to stderr.
int ReportError(const absl::Status& status);

using Args = std::vector<std::string>;

int RunValidate(const Args& args);
int RunRender(const Args& args);
int RunRun(const Args& args);
// Background VMs, through qdirect-launcher's control socket.
int RunStart(const Args& args);
int RunList(const Args& args);
int RunStatus(const Args& args);
int RunStop(const Args& args);
int RunPause(const Args& args);
int RunUnpause(const Args& args);
int RunRestart(const Args& args);
int RunSoftReboot(const Args& args);
int RunKill(const Args& args);
int RunConsole(const Args& args);
int RunQmp(const Args& args);
int RunStats(const Args& args);
int RunGuestOsInfo(const Args& args);
int RunFsList(const Args& args);
int RunUserList(const Args& args);
// Host devices for VFIO (no VM needed).
int RunHostdev(const Args& args);
// Hotplug into a background VM (hotplug_command.cc).
int RunAddVolume(const Args& args);
int RunRemoveVolume(const Args& args);
int RunAddInterface(const Args& args);
int RunRemoveInterface(const Args& args);
int RunSetLink(const Args& args);
int RunScale(const Args& args);
int RunChangeMedia(const Args& args);
int RunAddHostdev(const Args& args);
int RunRemoveHostdev(const Args& args);
// Live migration (migrate_command.cc).
int RunMigrate(const Args& args);
int RunMigrateCancel(const Args& args);
int RunReceive(const Args& args);

}  // namespace qdirect::vmctl
