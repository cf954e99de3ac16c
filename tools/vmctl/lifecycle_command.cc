// vmctl pause|unpause|restart|soft-reboot|kill NAME [--namespace NS]: one lifecycle
// request each, printing the phase afterwards.

#include <cstdio>
#include <string>

#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {
namespace {

int RunLifecycle(const char* command, const Args& args,
                 const kube::ControlRequest& request) {
  VmRef vm;
  if (std::optional<int> code = ParseVmOnlyArgs(command, args, &vm)) return *code;
  absl::StatusOr<kube::ControlResponse> response = CallVm(vm, request);
  if (!response.ok()) return ReportError(response.status());
  if (response->status) {
    const VmiCondition* paused =
        response->status->FindCondition(vmi_condition::kPaused);
    std::printf("vm %s %s%s\n", vm.label().c_str(),
                std::string(VmiPhaseName(response->status->phase)).c_str(),
                paused != nullptr && paused->status == ConditionStatus::kTrue
                    ? " (Paused)"
                    : "");
  }
  return kExitOk;
}

}  // namespace

int RunPause(const Args& args) {
  return RunLifecycle("pause", args, kube::PauseRequest{});
}
int RunUnpause(const Args& args) {
  return RunLifecycle("unpause", args, kube::UnpauseRequest{});
}
int RunRestart(const Args& args) {
  return RunLifecycle("restart", args, kube::ResetRequest{});
}
int RunSoftReboot(const Args& args) {
  return RunLifecycle("soft-reboot", args, kube::SoftRebootRequest{});
}
int RunKill(const Args& args) {
  return RunLifecycle("kill", args, kube::KillRequest{});
}

}  // namespace qdirect::vmctl
