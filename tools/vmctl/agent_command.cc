// vmctl guestosinfo|fslist|userlist NAME: what the guest agent reports, as
// KubeVirt's JSON (virtctl's commands of the same names).

#include <cstdio>
#include <string>

#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {
namespace {

int RunAgentQuery(const char* command, const Args& args,
                  const kube::ControlRequest& request) {
  VmRef vm;
  if (std::optional<int> code = ParseVmOnlyArgs(command, args, &vm)) return *code;
  absl::StatusOr<kube::ControlResponse> response = CallVm(vm, request);
  if (!response.ok()) return ReportError(response.status());
  std::string json;
  if (response->guest_os_info) {
    json = GuestOsInfoToJson(*response->guest_os_info, /*pretty=*/true);
  } else if (response->filesystems) {
    json = kube::FilesystemsToJson(*response->filesystems, /*pretty=*/true);
  } else if (response->users) {
    json = kube::UsersToJson(*response->users, /*pretty=*/true);
  } else {
    return ReportError(absl::InternalError(
        std::string(command) + ": the launcher sent no answer"));
  }
  std::printf("%s\n", json.c_str());
  return kExitOk;
}

}  // namespace

int RunGuestOsInfo(const Args& args) {
  return RunAgentQuery("guestosinfo", args, kube::GuestOsInfoRequest{});
}
int RunFsList(const Args& args) {
  return RunAgentQuery("fslist", args, kube::FsListRequest{});
}
int RunUserList(const Args& args) {
  return RunAgentQuery("userlist", args, kube::UserListRequest{});
}

}  // namespace qdirect::vmctl
