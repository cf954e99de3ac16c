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

namespace {

// How a VM prepares and releases its host devices: sysfs and /dev as the
// environment says; no binding, an operator's decision (vmctl hostdev
// prepare): a VM only checks the group and, when QEMU runs as `qemu`, gives
// it the group device.
hostdev::PrepareOptions VmHostdevOptions(const std::optional<launch::Credentials>& qemu) {
  const StandaloneConfig config = StandaloneConfigFromEnvironment();
  hostdev::PrepareOptions options;
  options.sysfs_root = config.sysfs_root;
  options.dev_root = config.dev_root;
  options.bind = false;
  if (qemu) {
    options.qemu_uid = qemu->uid;
    options.qemu_gid = qemu->gid;
  }
  return options;
}

}  // namespace

absl::Status Machine::Impl::PrepareHostDevices(
    const std::optional<launch::Credentials>& qemu) {
  const hostdev::PrepareOptions options = VmHostdevOptions(qemu);
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
  const hostdev::PrepareOptions options = VmHostdevOptions(std::nullopt);
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
                  [&](const DeviceEntry& e) { return e.id == id || e.volume == request.name; })) {
    return absl::AlreadyExistsError(absl::StrCat(
        m.label, ": ", what, ": ", request.name.empty() ? "a name is required"
                                                        : "the VM has a device of that name"));
  }
  absl::StatusOr<std::string> address = hostdev::CanonicalPciAddress(request.pci_address);
  if (!address.ok()) return m.Error(what, address.status());
  if (m.plan->free_root_ports.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(m.label, ": ", what, ": no free pcie-root-port left for hotplug"));
  }
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };

  const hostdev::PrepareOptions options = VmHostdevOptions(m.qemu_credentials);
  // The other functions of its slot in its IOMMU group, as cold plug finds
  // them (GatherHostDeviceFacts); they share the group, so one group device
  // serves them all.
  std::vector<std::string> companions;
  if (request.with_companions) {
    absl::StatusOr<hostdev::HostDevices> host = hostdev::DiscoverHostDevices(options.sysfs_root);
    if (!host.ok()) return m.Error(what, host.status());
    companions = hostdev::CompanionFunctions(*host, *address);
  }
  absl::StatusOr<std::vector<DeviceEntry>> entries = VfioHotplugDevices(
      request.name, *address, companions, m.plan->free_root_ports.front(), *m.facts);
  if (!entries.ok()) return m.Error(what, entries.status());
  absl::StatusOr<hostdev::PreparedDevice> prepared =
      hostdev::PrepareVfioDevice(*address, options);
  if (!prepared.ok()) return m.Error(what, prepared.status());
  absl::Status st = RaiseMemlock(m.process->pid(),
                                 m.plan->guest_memory_bytes + (int64_t{1} << 30));
  if (st.ok()) {
    st = ops::AddMultifunctionDevice(*m.loop, *m.qmp, *entries, HotplugOptions{}.guest_wait);
  }
  if (!st.ok()) {
    (void)hostdev::ReleaseVfioDevice(*prepared, options);
    return m.Error(what, st);
  }
  m.prepared_host_devices.push_back(*std::move(prepared));
  m.hotplugged.insert(m.hotplugged.end(), entries->begin(), entries->end());
  if (absl::Status added = AddHotpluggedDevices(*entries, *m.plan); !added.ok()) {
    return m.Error(what, added);
  }
  ops::LiveMigratability verdict;
  verdict.migratable = false;
  verdict.reason = ops::live_migratable_reason::kHostDeviceNotLiveMigratable;
  verdict.message = absl::StrCat("host device ", request.name, " is not live migratable");
  m.Apply(LiveMigratableUpdate{ops::LiveMigratableCondition(verdict)});
  return HotplugResult{HotplugOutcome::kDone, id,
                       entries->size() > 1
                           ? absl::StrCat("with ", entries->size() - 1, " companion function",
                                          entries->size() > 2 ? "s" : "")
                           : ""};
}

absl::StatusOr<HotplugResult> Machine::RemoveHostDevice(const std::string& name,
                                                        const HotplugOptions& options) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("unplug of host device ", name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  const std::string id = "ua-" + name;
  // Its functions: function 0 ("ua-<name>") and its companions.
  std::vector<DeviceEntry> functions;
  for (const DeviceEntry& e : m.hotplugged) {
    if (e.volume == name && e.kind == DeviceEntry::Kind::kDevice &&
        e.json.find("\"vfio-pci\"") != std::string::npos) {
      functions.push_back(e);
    }
  }
  if (std::none_of(functions.begin(), functions.end(),
                   [&](const DeviceEntry& e) { return e.id == id; })) {
    return absl::NotFoundError(
        absl::StrCat(m.label, ": ", what, ": no hot-plugged host device of that name"));
  }
  if (m.unplugging.count(id) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": ", what, ": already being unplugged (device ", id, " awaits the guest)"));
  }
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  std::string address;
  std::vector<std::string> other_functions;
  for (const DeviceEntry& e : functions) {
    if (e.id != id) {
      other_functions.push_back(e.id);
      continue;
    }
    rapidjson::Document doc;
    doc.Parse(e.json.c_str());
    if (doc.IsObject() && doc.HasMember("host") && doc["host"].IsString()) {
      address = doc["host"].GetString();
    }
  }
  Impl* impl = &m;
  auto finish = [impl, functions, id, address](const absl::Status&) {
    impl->unplugging.erase(id);
    for (const DeviceEntry& f : functions) {
      std::erase_if(impl->hotplugged, [&](const DeviceEntry& e) { return e.id == f.id; });
    }
    RemovePlannedDevices(functions, *impl->plan);
    const hostdev::PrepareOptions release = VmHostdevOptions(std::nullopt);
    for (auto it = impl->prepared_host_devices.begin(); it != impl->prepared_host_devices.end();
         ++it) {
      if (it->address != address) continue;
      (void)hostdev::ReleaseVfioDevice(*it, release);
      impl->prepared_host_devices.erase(it);
      break;
    }
    if (impl->vmi) impl->ApplyLiveMigratable(*impl->vmi);
  };
  // device_del of function 0 takes the whole slot; every function's
  // DEVICE_DELETED is awaited.
  absl::StatusOr<HotplugOutcome> outcome =
      m.SendUnplug(id, {}, options.guest_wait, finish, other_functions);
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
