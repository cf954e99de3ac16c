// GPUs and host devices -> vfio-pci, from KubeVirt's device-plugin
// environment. Each device sits on its own root port; a GPU's companion
// functions (HDMI audio) share its slot as one multifunction device.

#include <algorithm>
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
    while (used < addresses.size()) {
      const std::string& candidate = addresses[used++];
      // Taken through another resource already: each device goes once.
      if (!ctx.device_plugin_taken.insert(candidate).second) continue;
      HostDeviceAddress address;
      (mdev ? address.mdev_uuid : address.pci) = candidate;
      return address;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": resource \"", resource, "\": ", var, "=\"", it->second,
        "\" has too few devices: all ", addresses.size(),
        " already used by the devices before this one"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      path, ": resource \"", resource, "\": neither ",
      DevicePluginEnvName("PCI_RESOURCE_", resource), " nor ",
      DevicePluginEnvName("MDEV_PCI_RESOURCE_", resource),
      " is set (no device allocated by a device plugin)"));
}

namespace {

// "0000:65:00.1" -> 1; -1 when the address has no ".N" function.
int PciFunction(const std::string& address) {
  size_t dot = address.rfind('.');
  if (dot == std::string::npos || dot + 2 != address.size() ||
      address[dot + 1] < '0' || address[dot + 1] > '7') {
    return -1;
  }
  return address[dot + 1] - '0';
}

}  // namespace

void AddVfioDevice(PlanContext& ctx, const std::string& name,
                   const HostDeviceAddress& address, const std::string& path,
                   const VfioDisplay& display) {
  ctx.has_vfio = true;
  const HostFacts::HostPciDevice* facts = nullptr;
  if (auto it = ctx.host.host_pci_devices.find(address.pci);
      !address.pci.empty() && it != ctx.host.host_pci_devices.end()) {
    facts = &it->second;
  }
  JsonObject dev;
  // ramfb exists only on the variant that cannot be hot-unplugged (QEMU
  // keeps the boot framebuffer for the VM's life), as libvirt does.
  dev.Str("driver", display.ramfb ? "vfio-pci-nohotplug" : "vfio-pci");
  if (!address.pci.empty()) {
    dev.Str("host", address.pci);
  } else {
    dev.Str("sysfsdev",
            absl::StrCat("/sys/bus/mdev/devices/", address.mdev_uuid));
  }
  dev.Str("id", "ua-" + name);
  if (display.display) dev.Str("display", "on");
  if (display.ramfb) dev.Bool("ramfb", true);
  if (facts != nullptr && !facts->rom_file.empty()) {
    dev.Str("romfile", facts->rom_file);
  }
  // Companions only beside function 0: the guest sees the host's function
  // numbers, and function 0 must exist for it to scan the others.
  const bool companions = facts != nullptr && !facts->companions.empty() &&
                          PciFunction(address.pci) == 0;
  if (companions) dev.Bool("multifunction", true);
  PendingPciDevice& pci = ctx.AddPciDevice(std::move(dev), "ua-" + name, path).device;
  pci.volume = name;
  if (!companions) return;
  for (const std::string& companion : facts->companions) {
    const int function = PciFunction(companion);
    if (function <= 0) continue;
    PendingPciDevice::Function f;
    f.number = function;
    f.id = absl::StrCat("ua-", name, "-fn", function);
    f.props.Str("driver", "vfio-pci").Str("host", companion).Str("id", f.id);
    pci.functions.push_back(std::move(f));
  }
}

absl::Status PlanHostDevices(PlanContext& ctx) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  // One ramfb per VM (QEMU has one fw_cfg framebuffer): KubeVirt refuses a
  // second explicit one; a default one goes to the first vGPU only.
  bool ramfb_taken = false;
  for (size_t i = 0; i < devices.gpus.size(); ++i) {
    const spec::Gpu& gpu = devices.gpus[i];
    const std::string path =
        ctx.Path("domain.devices.gpus", i);
    ASSIGN_OR_RETURN(HostDeviceAddress address,
                     TakeDevicePluginDevice(ctx, gpu.device_name, path));
    VfioDisplay display;
    // As KubeVirt: display options apply to mediated devices (vGPUs) only;
    // without virtualGPUOptions a vGPU gets display and ramfb on.
    if (!address.mdev_uuid.empty()) {
      const spec::VgpuDisplay options = gpu.display.value_or(spec::VgpuDisplay{});
      display.display = options.enabled;
      display.ramfb = options.enabled && options.ramfb;
      if (display.ramfb && ramfb_taken) {
        if (gpu.display) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ".virtualGPUOptions.display.ramFB: Invalid value: "
                    "configuring multiple displays with ramfb is not valid"));
        }
        display.ramfb = false;
      }
      ramfb_taken = ramfb_taken || display.ramfb;
    }
    AddVfioDevice(ctx, gpu.name, address, path, display);
  }
  for (size_t i = 0; i < devices.host_devices.size(); ++i) {
    const spec::HostDevice& hd = devices.host_devices[i];
    const std::string path =
        ctx.Path("domain.devices.hostDevices", i);
    ASSIGN_OR_RETURN(HostDeviceAddress address,
                     TakeDevicePluginDevice(ctx, hd.device_name, path));
    AddVfioDevice(ctx, hd.name, address, path);
  }
  return absl::OkStatus();
}

}  // namespace qdirect::plan

namespace qdirect {
namespace {

// domain:bus:slot.function in hex, e.g. 0000:65:00.0, as sysfs spells it.
bool IsCanonicalPciAddress(const std::string& address) {
  bool ok = address.size() == 12 && address[4] == ':' && address[7] == ':' &&
            address[10] == '.' && address[11] >= '0' && address[11] <= '7';
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    ok = ok && std::isxdigit(static_cast<unsigned char>(address[i]));
  }
  return ok;
}

absl::Status BadAddress(const std::string& name, const std::string& address) {
  return absl::InvalidArgumentError(absl::StrCat(
      "vfio hotplug ", name, ": PCI address \"", address,
      "\": expected domain:bus:slot.function, e.g. 0000:65:00.0"));
}

}  // namespace

absl::StatusOr<DeviceEntry> VfioHotplugDevice(const std::string& name,
                                              const std::string& pci_address,
                                              const std::string& root_port,
                                              const HostFacts& host) {
  ASSIGN_OR_RETURN(std::vector<DeviceEntry> entries,
                   VfioHotplugDevices(name, pci_address, {}, root_port, host));
  return entries.front();
}

absl::StatusOr<std::vector<DeviceEntry>> VfioHotplugDevices(
    const std::string& name, const std::string& pci_address,
    const std::vector<std::string>& companions, const std::string& root_port,
    const HostFacts& host) {
  if (!IsCanonicalPciAddress(pci_address)) return BadAddress(name, pci_address);
  // The guest sees the host's function numbers; its function 0 must be the
  // device, or the guest never scans the slot.
  if (!companions.empty() && pci_address.back() != '0') {
    return absl::InvalidArgumentError(absl::StrCat(
        "vfio hotplug ", name, ": ", pci_address,
        " is not function 0 of its slot: companion functions go beside function 0"));
  }
  std::vector<std::string> sorted = companions;
  std::sort(sorted.begin(), sorted.end());
  std::vector<DeviceEntry> entries;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& companion = sorted[i];
    if (!IsCanonicalPciAddress(companion)) return BadAddress(name, companion);
    if (companion.compare(0, 10, pci_address, 0, 10) != 0 || companion == pci_address ||
        (i > 0 && sorted[i - 1] == companion)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vfio hotplug ", name, ": companion ", companion, " is not another function of ",
          pci_address, "'s slot, or is given twice"));
    }
    const std::string id = absl::StrCat("ua-", name, "-fn", companion.substr(11));
    const std::string addr = absl::StrCat("0x0.0x", companion.substr(11));
    plan::JsonObject fn;
    fn.Str("driver", "vfio-pci").Str("host", companion).Str("id", id);
    fn.Str("bus", root_port).Str("addr", addr);
    entries.push_back(
        DeviceEntry{DeviceEntry::Kind::kDevice, id, root_port, addr, name, fn.Render(), ""});
  }
  plan::JsonObject dev;
  dev.Str("driver", "vfio-pci").Str("host", pci_address).Str("id", "ua-" + name);
  if (auto it = host.host_pci_devices.find(pci_address);
      it != host.host_pci_devices.end() && !it->second.rom_file.empty()) {
    dev.Str("romfile", it->second.rom_file);
  }
  if (!entries.empty()) dev.Bool("multifunction", true);
  dev.Str("bus", root_port).Str("addr", "0x0");
  entries.push_back(DeviceEntry{DeviceEntry::Kind::kDevice, "ua-" + name, root_port, "0x0",
                                name, dev.Render(), ""});
  return entries;
}

}  // namespace qdirect
