// The Machine's VFIO host devices: readied before QEMU starts, given back
// when it is gone.

#include <sys/resource.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "qdirect/hostdev.h"
#include "rapidjson/document.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {

absl::Status Machine::Impl::PrepareHostDevices(
    const std::optional<launch::Credentials>& qemu) {
  hostdev::PrepareOptions options;
  options.sysfs_root = StandaloneConfigFromEnvironment().sysfs_root;
  // Binding is an operator's decision (vmctl hostdev prepare); a VM only
  // checks the group and takes the group device for QEMU.
  options.bind = false;
  if (qemu) {
    options.qemu_uid = qemu->uid;
    options.qemu_gid = qemu->gid;
  }
  for (const DeviceEntry& entry : plan->devices) {
    if (entry.kind != DeviceEntry::Kind::kDevice ||
        entry.json.find("\"vfio-pci") == std::string::npos) {
      continue;
    }
    rapidjson::Document doc;
    doc.Parse(entry.json.c_str());
    if (!doc.IsObject()) continue;
    absl::StatusOr<hostdev::PreparedDevice> prepared;
    if (doc.HasMember("host") && doc["host"].IsString()) {
      prepared = hostdev::PrepareVfioDevice(doc["host"].GetString(), options);
    } else if (doc.HasMember("sysfsdev") && doc["sysfsdev"].IsString()) {
      // A mediated device: /sys/bus/mdev/devices/<uuid>.
      std::string path = doc["sysfsdev"].GetString();
      prepared = hostdev::PrepareMdevDevice(path.substr(path.rfind('/') + 1),
                                            options);
    } else {
      continue;
    }
    if (!prepared.ok()) {
      return absl::Status(prepared.status().code(),
                          absl::StrCat(entry.id, ": ", prepared.status().message()));
    }
    prepared_host_devices.push_back(std::move(*prepared));
  }
  return absl::OkStatus();
}

void Machine::Impl::ReleaseHostDevices() {
  hostdev::PrepareOptions options;
  options.sysfs_root = StandaloneConfigFromEnvironment().sysfs_root;
  // Reverse order: a group shared by two devices ends with its first owner.
  for (auto it = prepared_host_devices.rbegin(); it != prepared_host_devices.rend();
       ++it) {
    (void)hostdev::ReleaseVfioDevice(*it, options);
  }
  prepared_host_devices.clear();
}

std::optional<launch::ResourceLimit> VfioMemlockLimit(const Plan& plan) {
  if (plan.memlock_bytes <= 0) return std::nullopt;
  const rlim_t needed = static_cast<rlim_t>(plan.memlock_bytes);
  struct rlimit current = {0, 0};
  if (::getrlimit(RLIMIT_MEMLOCK, &current) != 0) return std::nullopt;
  if (current.rlim_cur == RLIM_INFINITY || current.rlim_cur >= needed) {
    return std::nullopt;
  }
  const rlim_t hard = current.rlim_max == RLIM_INFINITY
                          ? RLIM_INFINITY
                          : std::max(current.rlim_max, needed);
  return launch::ResourceLimit{RLIMIT_MEMLOCK, needed, hard};
}

}  // namespace qdirect::vm
