// vmctl stop NAME [--namespace NS] [--grace SECONDS]
//
// The stop policy (ACPI power button, grace period, quit, SIGKILL); returns
// once the phase is final and the launcher has gone, printing the phase.
// Exit 0 when Succeeded, kExitVmFailed when Failed.

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {
namespace {

// After the final phase the launcher answers, removes the runtime dir and
// exits; that takes well under this.
constexpr absl::Duration kLauncherExit = absl::Seconds(30);

}  // namespace

int RunStop(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("stop", args, &parsed)) return *code;
  kube::StopRequest stop;
  for (size_t i = 0; i < parsed.rest.size(); ++i) {
    int64_t seconds = 0;
    if (parsed.rest[i] == "--grace" && i + 1 < parsed.rest.size() &&
        absl::SimpleAtoi(parsed.rest[i + 1], &seconds) && seconds >= 0) {
      stop.grace_seconds = seconds;
      ++i;
    } else {
      std::fputs("usage: vmctl stop NAME [--namespace NS] [--grace SECONDS]\n", stderr);
      return kExitUsage;
    }
  }
  absl::StatusOr<UniqueFd> fd = ConnectToVm(parsed.vm);
  if (!fd.ok()) return ReportError(fd.status());
  absl::StatusOr<kube::ControlResponse> response = Exchange(fd->get(), stop);
  if (!response.ok()) return ReportError(response.status());
  (void)WaitForClose(fd->get(), absl::Now() + kLauncherExit);
  const VmiPhase phase =
      response->status ? response->status->phase : VmiPhase::kUnknown;
  std::printf("vm %s %s\n", parsed.vm.label().c_str(),
              std::string(VmiPhaseName(phase)).c_str());
  return phase == VmiPhase::kSucceeded ? kExitOk : kExitVmFailed;
}

}  // namespace qdirect::vmctl
