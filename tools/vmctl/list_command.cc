// vmctl list: one VM a line, "NAMESPACE/NAME PHASE", for every dir of the
// runtime root whose launcher answers on its control socket (a dir left by
// a dead launcher is skipped).

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "launch/runtime_dir.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {

int RunList(const Args& args) {
  if (!args.empty()) {
    std::fputs("usage: vmctl list\n", stderr);
    return kExitUsage;
  }
  std::vector<VmRef> vms;
  // A VM moved by `vmctl migrate` lives under the .incoming root.
  for (const std::string& root : RuntimeRoots()) {
    DIR* dir = ::opendir(root.c_str());
    if (dir == nullptr) continue;
    while (dirent* entry = ::readdir(dir)) {
      const std::string dir_name = entry->d_name;
      const size_t sep = dir_name.find('_');
      if (sep == std::string::npos) continue;
      absl::StatusOr<VmRef> vm =
          ParseVmRef(dir_name.substr(0, sep) + "/" + dir_name.substr(sep + 1), "");
      if (vm.ok()) vms.push_back(*vm);
    }
    ::closedir(dir);
  }
  std::sort(vms.begin(), vms.end(), [](const VmRef& a, const VmRef& b) {
    return a.label() < b.label();
  });
  vms.erase(std::unique(vms.begin(), vms.end(),
                        [](const VmRef& a, const VmRef& b) {
                          return a.label() == b.label();
                        }),
            vms.end());
  for (const VmRef& vm : vms) {
    absl::StatusOr<kube::ControlResponse> response =
        CallVm(vm, kube::StatusRequest{});
    if (!response.ok() || !response->status) continue;
    std::printf("%s %s\n", vm.label().c_str(),
                std::string(VmiPhaseName(response->status->phase)).c_str());
  }
  return kExitOk;
}

}  // namespace qdirect::vmctl
