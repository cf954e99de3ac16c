#pragma once

// Starting a detached qdirect-launcher and reading its readiness line, for
// `vmctl start`, `vmctl migrate` (the local target) and `vmctl receive`.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launch/process.h"
#include "qdirect/spec.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {

// $QDIRECT_LAUNCHER, else ../launcher/qdirect-launcher beside vmctl (build
// tree), else qdirect-launcher beside vmctl (installed).
absl::StatusOr<std::string> FindLauncher();

// A manifest about to get a launcher on this host: its VMI (decoded here,
// so spec errors get their exit code and full listing), the VM, and the
// file's absolute path for the launcher. AlreadyExists when the VM already
// runs on this host.
struct ManifestToStart {
  spec::Vmi vmi;
  VmRef vm;
  std::string path;
};
absl::StatusOr<ManifestToStart> PrepareManifestToStart(const std::string& file,
                                                       const std::string& name);

struct StartedLauncher {
  launch::Process process;
  // The launcher's error when it did not become ready ("" when it did).
  std::string error;
};

// Spawns the launcher detached (its own session, outliving vmctl) with
// `args` plus --ready-fd, and waits for its readiness line. A launcher that
// failed is reaped and its error (or exit) is in `error`.
absl::StatusOr<StartedLauncher> StartLauncher(const std::vector<std::string>& args,
                                              const std::string& vm_label);

}  // namespace qdirect::vmctl
