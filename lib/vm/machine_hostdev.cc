// The Machine's VFIO host devices: readied before QEMU starts, given back
// when it is gone.

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ops/hotplug_ops.h"
#include "ops/live_migratable.h"
#include "qdirect/hotplug.h"
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

namespace {

// QEMU's RLIMIT_MEMLOCK raised (never lowered) to `needed`, on the running
// process: VFIO pins all guest RAM when the first host device arrives.
absl::Status RaiseMemlock(pid_t pid, int64_t needed) {
  struct rlimit current = {0, 0};
  if (::prlimit(pid, RLIMIT_MEMLOCK, nullptr, &current) != 0) {
    return absl::ErrnoToStatus(errno, "prlimit RLIMIT_MEMLOCK");
  }
  const rlim_t want = static_cast<rlim_t>(needed);
  if (current.rlim_cur == RLIM_INFINITY || current.rlim_cur >= want) return absl::OkStatus();
  struct rlimit raised = {want, current.rlim_max == RLIM_INFINITY ? RLIM_INFINITY
                                                                  : std::max(current.rlim_max, want)};
  if (::prlimit(pid, RLIMIT_MEMLOCK, &raised, nullptr) != 0) {
    return absl::ErrnoToStatus(errno, "prlimit RLIMIT_MEMLOCK");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HotplugResult> Machine::AddHostDevice(const HostDeviceHotplug& request) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("hotplug of host device ", request.name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  const std::string id = "ua-" + request.name;
  if (request.name.empty() ||
      std::any_of(m.plan->devices.begin(), m.plan->devices.end(),
                  [&](const DeviceEntry& e) { return e.id == id; })) {
    return absl::AlreadyExistsError(absl::StrCat(
        m.label, ": ", what, ": ", request.name.empty() ? "a name is required"
                                                        : "the VM has a device of that name"));
  }
  if (m.plan->free_root_ports.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(m.label, ": ", what, ": no free pcie-root-port left for hotplug"));
  }
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };

  absl::StatusOr<DeviceEntry> entry = VfioHotplugDevice(
      request.name, request.pci_address, m.plan->free_root_ports.front(), *m.facts);
  if (!entry.ok()) return m.Error(what, entry.status());
  hostdev::PrepareOptions options;
  options.sysfs_root = StandaloneConfigFromEnvironment().sysfs_root;
  options.bind = false;  // binding is the operator's (vmctl hostdev prepare)
  if (m.qemu_credentials) {
    options.qemu_uid = m.qemu_credentials->uid;
    options.qemu_gid = m.qemu_credentials->gid;
  }
  absl::StatusOr<hostdev::PreparedDevice> prepared =
      hostdev::PrepareVfioDevice(request.pci_address, options);
  if (!prepared.ok()) return m.Error(what, prepared.status());
  absl::Status st = RaiseMemlock(m.process->pid(),
                                 m.plan->guest_memory_bytes + (int64_t{1} << 30));
  if (st.ok()) st = ops::AddEntries(*m.qmp, {*entry});
  if (!st.ok()) {
    (void)hostdev::ReleaseVfioDevice(*prepared, options);
    return m.Error(what, st);
  }
  m.prepared_host_devices.push_back(*std::move(prepared));
  m.hotplugged.push_back(*entry);
  if (absl::Status added = AddHotpluggedDevices({*entry}, *m.plan); !added.ok()) {
    return m.Error(what, added);
  }
  ops::LiveMigratability verdict;
  verdict.migratable = false;
  verdict.reason = ops::live_migratable_reason::kHostDeviceNotLiveMigratable;
  verdict.message = absl::StrCat("host device ", request.name, " is not live migratable");
  m.Apply(LiveMigratableUpdate{ops::LiveMigratableCondition(verdict)});
  return HotplugResult{HotplugOutcome::kDone, id, ""};
}

absl::StatusOr<HotplugResult> Machine::RemoveHostDevice(const std::string& name,
                                                        const HotplugOptions& options) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("unplug of host device ", name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  const std::string id = "ua-" + name;
  const auto hot = std::find_if(m.hotplugged.begin(), m.hotplugged.end(), [&](const DeviceEntry& e) {
    return e.id == id && e.json.find("\"vfio-pci\"") != std::string::npos;
  });
  if (hot == m.hotplugged.end()) {
    return absl::NotFoundError(
        absl::StrCat(m.label, ": ", what, ": no hot-plugged host device of that name"));
  }
  if (m.unplugging.count(id) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": ", what, ": already being unplugged (device ", id, " awaits the guest)"));
  }
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  const DeviceEntry entry = *hot;
  rapidjson::Document doc;
  doc.Parse(entry.json.c_str());
  const std::string address =
      doc.IsObject() && doc.HasMember("host") && doc["host"].IsString() ? doc["host"].GetString()
                                                                         : "";
  Impl* impl = &m;
  auto finish = [impl, entry, address](const absl::Status&) {
    impl->unplugging.erase(entry.id);
    std::erase_if(impl->hotplugged, [&](const DeviceEntry& e) { return e.id == entry.id; });
    RemovePlannedDevices({entry}, *impl->plan);
    hostdev::PrepareOptions release;
    release.sysfs_root = StandaloneConfigFromEnvironment().sysfs_root;
    for (auto it = impl->prepared_host_devices.begin(); it != impl->prepared_host_devices.end();
         ++it) {
      if (it->address != address) continue;
      (void)hostdev::ReleaseVfioDevice(*it, release);
      impl->prepared_host_devices.erase(it);
      break;
    }
    if (impl->vmi) impl->ApplyLiveMigratable(*impl->vmi);
  };
  absl::StatusOr<HotplugOutcome> outcome = m.SendUnplug(id, {}, options.guest_wait, finish);
  if (!outcome.ok()) return m.Error(what, outcome.status());
  if (*outcome == HotplugOutcome::kPending) {
    m.unplugging[id] = name;
    return HotplugResult{HotplugOutcome::kPending, id,
                         "device_del sent; completes on DEVICE_DELETED"};
  }
  finish(absl::OkStatus());
  return HotplugResult{HotplugOutcome::kDone, id, ""};
}

}  // namespace qdirect::vm
