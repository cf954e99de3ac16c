// vmctl qmp NAME '{"execute":"...","arguments":{...}}': a raw QMP command
// through the launcher; prints QEMU's return value as JSON.

#include <cstdio>
#include <string>

#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {

int RunQmp(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("qmp", args, &parsed)) return *code;
  if (parsed.rest.size() != 1) {
    std::fputs("usage: vmctl qmp NAME '{\"execute\":\"query-status\"}'\n", stderr);
    return kExitUsage;
  }
  absl::StatusOr<kube::QmpRequest> request =
      kube::QmpRequestFromCommandJson(parsed.rest[0]);
  if (!request.ok()) return ReportError(request.status());
  absl::StatusOr<kube::ControlResponse> response = CallVm(parsed.vm, *request);
  if (!response.ok()) return ReportError(response.status());
  std::printf("%s\n", response->qmp_return.value_or("null").c_str());
  return kExitOk;
}

}  // namespace qdirect::vmctl
