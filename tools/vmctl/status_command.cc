// vmctl status NAME [--namespace NS] [--json]
//
// --json prints the VMI status object as KubeVirt names it (what `kubectl get
// vmi -o json` shows under .status); without it, a short summary.

#include <cstdio>
#include <string>

#include "qdirect/vmi_status.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {

int RunStatus(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("status", args, &parsed)) return *code;
  bool json = false;
  for (const std::string& arg : parsed.rest) {
    if (arg != "--json") {
      std::fprintf(stderr, "vmctl status: unknown argument %s\n", arg.c_str());
      return kExitUsage;
    }
    json = true;
  }
  absl::StatusOr<kube::ControlResponse> response =
      CallVm(parsed.vm, kube::StatusRequest{});
  if (!response.ok()) return ReportError(response.status());
  if (!response->status) {
    return ReportError(absl::InternalError("status: the launcher sent no status"));
  }
  const VmiStatus& status = *response->status;
  if (json) {
    std::printf("%s\n", ToJson(status, {.include_qdirect = false, .pretty = true}).c_str());
    return kExitOk;
  }
  std::printf("%s %s%s%s\n", parsed.vm.label().c_str(),
              std::string(VmiPhaseName(status.phase)).c_str(),
              status.reason.empty() ? "" : " ", status.reason.c_str());
  for (const VmiCondition& c : status.conditions) {
    std::printf("  %s=%s%s%s\n", c.type.c_str(),
                std::string(ConditionStatusName(c.status)).c_str(),
                c.reason.empty() ? "" : " ", c.reason.c_str());
  }
  if (status.qdirect.qemu_pid > 0) {
    std::printf("  qemu pid %d, runstate %s\n", status.qdirect.qemu_pid,
                status.qdirect.qemu_runstate.c_str());
  }
  return kExitOk;
}

}  // namespace qdirect::vmctl
