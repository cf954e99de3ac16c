#pragma once

// The vmctl side of the launcher control protocol (lib/kube): find a VM's
// launcher by name and ask it one thing.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kube/control_protocol.h"
#include "qdirect/unique_fd.h"
#include "tools/vmctl/command.h"

namespace qdirect::vmctl {

// A VM named on the command line: NAME or NAMESPACE/NAME.
struct VmRef {
  std::string ns = "default";
  std::string name;
  std::string label() const { return ns + "/" + name; }
};

// Parses NAME or NAMESPACE/NAME (`ns_flag`, from --namespace, applies to a
// bare NAME); both parts must be DNS labels.
absl::StatusOr<VmRef> ParseVmRef(const std::string& arg,
                                 const std::string& ns_flag);

// <runtime root>/<namespace>_<name>.
std::string VmDir(const VmRef& vm);

// A local migration target runs under the other of two runtime roots (the
// source holds <root>/<namespace>_<name>): <root>/.incoming for a VM under
// <root>, and back to <root> for one under <root>/.incoming. So a VM keeps
// its name across `vmctl migrate`, and ConnectToVm looks in both.
inline constexpr char kIncomingRootName[] = ".incoming";
std::string OtherRuntimeRoot(const std::string& root);
// The runtime roots vmctl looks in: the environment's, then its .incoming.
std::vector<std::string> RuntimeRoots();

// Connects to the VM's launcher: NotFound "vm NS/NAME: not found" when no
// launcher serves it.
absl::StatusOr<UniqueFd> ConnectToVm(const VmRef& vm);

// Sends one request on `fd` and reads its response line; an error response
// comes back as that Status.
absl::StatusOr<kube::ControlResponse> Exchange(int fd,
                                               const kube::ControlRequest& request);

// ConnectToVm + Exchange.
absl::StatusOr<kube::ControlResponse> CallVm(const VmRef& vm,
                                             const kube::ControlRequest& request);

// Waits until the launcher closes `fd` (it exits after a final phase), up to
// `deadline`.
absl::Status WaitForClose(int fd, absl::Time deadline);

// Parses `NAME [--namespace NS]` plus the flags a command names as boolean
// (`--json`); returns the exit code on a usage error.
struct VmArgs {
  VmRef vm;
  std::vector<std::string> rest;  // other arguments, in order
};
std::optional<int> ParseVmArgs(const char* command, const Args& args,
                               VmArgs* out);

// ParseVmArgs for commands that take nothing beyond the VM: any other
// argument is a usage error.
std::optional<int> ParseVmOnlyArgs(const char* command, const Args& args,
                                   VmRef* out);

}  // namespace qdirect::vmctl
