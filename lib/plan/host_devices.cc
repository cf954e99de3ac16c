// GPUs and host devices -> vfio-pci, from KubeVirt's device-plugin
// environment. Each device sits on its own root port.

#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "plan/plan_context.h"

namespace qdirect::plan {

std::string DevicePluginEnvName(std::string_view prefix,
                                std::string_view resource_name) {
  std::string name(prefix);
  for (char c : resource_name) {
    if (c == '/' || c == '.') {
      name += '_';
    } else {
      name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  return name;
}

absl::StatusOr<HostDeviceAddress> TakeDevicePluginDevice(
    PlanContext& ctx, const std::string& resource, const std::string& path) {
  for (bool mdev : {false, true}) {
    const std::string var = DevicePluginEnvName(
        mdev ? "MDEV_PCI_RESOURCE_" : "PCI_RESOURCE_", resource);
    auto it = ctx.host.device_plugin_env.find(var);
    if (it == ctx.host.device_plugin_env.end()) continue;
    std::vector<std::string> addresses;
    for (absl::string_view a :
         absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
      addresses.emplace_back(absl::StripAsciiWhitespace(a));
    }
    size_t& used = ctx.device_plugin_used[var];
    if (used >= addresses.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": resource \"", resource, "\": ", var, " lists ",
          addresses.size(), " device(s), all already used"));
    }
    HostDeviceAddress address;
    (mdev ? address.mdev_uuid : address.pci) = addresses[used++];
    return address;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      path, ": resource \"", resource, "\": neither ",
      DevicePluginEnvName("PCI_RESOURCE_", resource), " nor ",
      DevicePluginEnvName("MDEV_PCI_RESOURCE_", resource),
      " is set (no device allocated by a device plugin)"));
}

void AddVfioDevice(PlanContext& ctx, const std::string& name,
                   const HostDeviceAddress& address, const std::string& path) {
  JsonObject dev;
  dev.Str("driver", "vfio-pci");
  if (!address.pci.empty()) {
    dev.Str("host", address.pci);
  } else {
    dev.Str("sysfsdev",
            absl::StrCat("/sys/bus/mdev/devices/", address.mdev_uuid));
  }
  dev.Str("id", "ua-" + name);
  PendingPciDevice pci;
  pci.props = dev;
  pci.id = "ua-" + name;
  pci.volume = name;
  ctx.AddPciDevice(std::move(pci), path);
}

absl::Status PlanHostDevices(PlanContext& ctx) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  for (size_t i = 0; i < devices.gpus.size(); ++i) {
    const spec::Gpu& gpu = devices.gpus[i];
    const std::string path =
        ctx.Path(absl::StrCat("domain.devices.gpus[", i, "]"));
    ASSIGN_OR_RETURN(HostDeviceAddress address,
                     TakeDevicePluginDevice(ctx, gpu.device_name, path));
    AddVfioDevice(ctx, gpu.name, address, path);
  }
  for (size_t i = 0; i < devices.host_devices.size(); ++i) {
    const spec::HostDevice& hd = devices.host_devices[i];
    const std::string path =
        ctx.Path(absl::StrCat("domain.devices.hostDevices[", i, "]"));
    ASSIGN_OR_RETURN(HostDeviceAddress address,
                     TakeDevicePluginDevice(ctx, hd.device_name, path));
    AddVfioDevice(ctx, hd.name, address, path);
  }
  return absl::OkStatus();
}

}  // namespace qdirect::plan
