// vm::Machine's hotplug: volumes, interfaces, vCPUs and memory. The objects
// come from qdirect/hotplug.h's builders (the planner's code), the QMP
// sequences from ops/hotplug_ops.h; this file keeps the Machine's plan,
// HotpluggedDevices() and status.volumeStatus in step with them.

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "ops/hotplug_ops.h"
#include "qdirect/hotplug.h"
#include "qdirect/machine.h"
#include "vm/host_facts.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {
namespace {

constexpr char kVolumeReady[] = "Ready";
constexpr char kVolumeDetaching[] = "Detaching";

bool SameEntry(const DeviceEntry& a, const DeviceEntry& b) {
  return a.kind == b.kind && a.id == b.id;
}

// Drops `removed` from the hot-plugged list.
void Forget(std::vector<DeviceEntry>& hotplugged, const std::vector<DeviceEntry>& removed) {
  std::erase_if(hotplugged, [&](const DeviceEntry& e) {
    return std::any_of(removed.begin(), removed.end(),
                       [&](const DeviceEntry& r) { return SameEntry(e, r); });
  });
}

// The frontend device of what serves a name, and its backends in the order
// to remove them (newest first).
struct Served {
  std::string device_id;
  std::vector<DeviceEntry> backends;
  std::vector<DeviceEntry> all;
};
bool Has(const Served& served, DeviceEntry::Kind kind) {
  return std::any_of(served.all.begin(), served.all.end(),
                     [kind](const DeviceEntry& e) { return e.kind == kind; });
}

Served Split(std::vector<DeviceEntry> entries) {
  Served out;
  out.all = entries;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->kind == DeviceEntry::Kind::kDevice) {
      out.device_id = it->id;
    } else {
      out.backends.push_back(*it);
    }
  }
  return out;
}

// A remove may only undo a hotplug, once: refuses a device that was cold
// plugged (as KubeVirt) or that already awaits the guest. `kind` is
// "volume" or "interface", for the message.
absl::Status CheckRemovable(const std::vector<DeviceEntry>& hotplugged,
                            const std::map<std::string, std::string>& unplugging,
                            const Served& served, const std::string& prefix,
                            std::string_view kind) {
  const bool hot = std::any_of(hotplugged.begin(), hotplugged.end(), [&](const DeviceEntry& e) {
    return e.kind == DeviceEntry::Kind::kDevice && e.id == served.device_id;
  });
  if (!hot) {
    return absl::FailedPreconditionError(
        absl::StrCat(prefix, ": it was not hot-plugged (only hot-plugged ", AV(kind),
                     "s can be removed)"));
  }
  if (unplugging.count(served.device_id) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, ": already being unplugged (device ", served.device_id, " awaits the guest)"));
  }
  return absl::OkStatus();
}

}  // namespace

void Machine::Impl::RefreshDomainInterfaces() {
  Apply(InterfacesUpdate{InterfaceStatusFromDomain(domain_interfaces)});
  if (agent != nullptr && agent->connected()) {
    // A new round: answers of the one under way are dropped.
    ++agent_generation;
    CancelAgentRefresh();
    RefreshFromAgent();
  }
}

absl::StatusOr<HotplugResult> Machine::AddVolume(const VolumeHotplug& request) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("hotplug of volume ", request.disk.name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };

  spec::Vmi with = *m.vmi;
  with.volumes.push_back(request.volume);
  std::unique_ptr<VolumeResolver> resolver =
      MakeStandaloneVolumeResolver(StandaloneConfigFromEnvironment(), m.dir_path);
  absl::StatusOr<ResolvedVolume> resolved = resolver->Resolve(with, request.volume);
  if (!resolved.ok()) return m.Error(what, resolved.status());
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(*m.vmi, *m.facts, *m.plan, request, *resolved);
  if (!hp.ok()) return m.Error(what, hp.status());
  if (absl::Status st = ops::AddEntries(*m.qmp, hp->entries); !st.ok()) {
    return m.Error(what, st);
  }
  m.hotplugged.insert(m.hotplugged.end(), hp->entries.begin(), hp->entries.end());
  if (absl::Status st = AddHotpluggedDevices(hp->entries, *m.plan); !st.ok()) {
    return m.Error(what, st);  // our bug: the builder checked the same rules
  }
  VmiVolumeStatus vs;
  vs.name = request.disk.name;
  vs.phase = kVolumeReady;
  vs.reason = "VolumeReady";
  vs.message = absl::StrCat("Successfully attach hotplugged volume ", request.disk.name,
                            " to VM");
  vs.hotplug_volume = HotplugVolumeStatus{};
  m.volume_status.push_back(std::move(vs));
  m.Apply(VolumeStatusUpdate{m.volume_status});
  return HotplugResult{HotplugOutcome::kDone, hp->device_id, ""};
}

absl::StatusOr<HotplugOutcome> Machine::Impl::SendUnplug(
    const std::string& device_id, const std::vector<DeviceEntry>& backends,
    absl::Duration guest_wait, std::function<void(const absl::Status&)> finish,
    const std::vector<std::string>& other_functions) {
  ops::UnplugRequest unplug;
  unplug.device_id = device_id;
  unplug.other_functions = other_functions;
  unplug.backends = backends;
  unplug.guest_wait = guest_wait;
  std::weak_ptr<bool> weak = alive;
  return ops::UnplugDevice(*loop, *qmp, unplug,
                           [weak, finish = std::move(finish)](absl::Status st) {
                             if (!weak.expired()) finish(st);
                           });
}

absl::StatusOr<HotplugResult> Machine::RemoveVolume(const std::string& name,
                                                    const HotplugOptions& options) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("unplug of volume ", name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  Served served = Split(DevicesServing(*m.plan, name));
  if (served.device_id.empty() || Has(served, DeviceEntry::Kind::kNetdev)) {
    return absl::NotFoundError(absl::StrCat(m.label, ": ", what, ": no volume of that name"));
  }
  RETURN_IF_ERROR(CheckRemovable(m.hotplugged, m.unplugging, served,
                                 absl::StrCat(m.label, ": ", what), "volume"));
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };

  // Once the device is gone: forget it everywhere (also when it ends late).
  Impl* impl = &m;
  auto finish = [impl, served, name](const absl::Status& st) {
    impl->unplugging.erase(served.device_id);
    if (!st.ok()) {
      for (VmiVolumeStatus& v : impl->volume_status) {
        if (v.name == name) v.message = std::string(st.message());
      }
    } else {
      std::erase_if(impl->volume_status, [&](const VmiVolumeStatus& v) { return v.name == name; });
    }
    Forget(impl->hotplugged, served.all);
    RemovePlannedDevices(served.all, *impl->plan);
    impl->Apply(VolumeStatusUpdate{impl->volume_status});
  };
  absl::StatusOr<HotplugOutcome> outcome =
      m.SendUnplug(served.device_id, served.backends, options.guest_wait, finish);
  if (!outcome.ok()) return m.Error(what, outcome.status());
  if (*outcome == HotplugOutcome::kPending) {
    m.unplugging[served.device_id] = name;
    for (VmiVolumeStatus& v : m.volume_status) {
      if (v.name != name) continue;
      v.phase = kVolumeDetaching;
      v.reason = "VolumeDetaching";
      v.message = "waiting for the guest to release the device";
    }
    m.Apply(VolumeStatusUpdate{m.volume_status});
    return HotplugResult{HotplugOutcome::kPending, served.device_id,
                         absl::StrCat("device_del sent; the guest has not released ",
                                      served.device_id, " within ",
                                      absl::FormatDuration(options.guest_wait),
                                      "; it completes on DEVICE_DELETED")};
  }
  finish(absl::OkStatus());
  return HotplugResult{HotplugOutcome::kDone, served.device_id, ""};
}

absl::StatusOr<HotplugResult> Machine::AddInterface(const InterfaceHotplug& request) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("hotplug of interface ", request.iface.name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  absl::StatusOr<HotplugPlan> hp = PlanInterfaceHotplug(*m.vmi, *m.facts, *m.plan, request);
  if (!hp.ok()) return m.Error(what, hp.status());
  if (!hp->fds.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        m.label, ": ", what, ": a tap interface needs its fd from the KubeVirt launcher; "
        "the standalone Machine hot-plugs user-network interfaces"));
  }
  if (absl::Status st = ops::AddEntries(*m.qmp, hp->entries); !st.ok()) {
    return m.Error(what, st);
  }
  m.hotplugged.insert(m.hotplugged.end(), hp->entries.begin(), hp->entries.end());
  if (absl::Status st = AddHotpluggedDevices(hp->entries, *m.plan); !st.ok()) {
    return m.Error(what, st);
  }
  spec::Vmi only = *m.vmi;
  only.domain.devices.interfaces = {request.iface};
  for (DomainInterface& nic : DomainInterfacesFromPlan(only, *m.plan)) {
    m.domain_interfaces.push_back(std::move(nic));
  }
  m.RefreshDomainInterfaces();
  return HotplugResult{HotplugOutcome::kDone, hp->device_id, ""};
}

absl::StatusOr<HotplugResult> Machine::RemoveInterface(const std::string& name,
                                                       const HotplugOptions& options) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("unplug of interface ", name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  Served served = Split(DevicesServing(*m.plan, name));
  if (served.device_id.empty() || !Has(served, DeviceEntry::Kind::kNetdev)) {
    return absl::NotFoundError(absl::StrCat(m.label, ": ", what, ": no interface of that name"));
  }
  RETURN_IF_ERROR(CheckRemovable(m.hotplugged, m.unplugging, served,
                                 absl::StrCat(m.label, ": ", what), "interface"));
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  Impl* impl = &m;
  auto finish = [impl, served, name](const absl::Status&) {
    impl->unplugging.erase(served.device_id);
    Forget(impl->hotplugged, served.all);
    RemovePlannedDevices(served.all, *impl->plan);
    std::erase_if(impl->domain_interfaces,
                  [&](const DomainInterface& nic) { return nic.name == name; });
    impl->RefreshDomainInterfaces();
  };
  absl::StatusOr<HotplugOutcome> outcome =
      m.SendUnplug(served.device_id, served.backends, options.guest_wait, finish);
  if (!outcome.ok()) return m.Error(what, outcome.status());
  if (*outcome == HotplugOutcome::kPending) {
    m.unplugging[served.device_id] = name;
    return HotplugResult{HotplugOutcome::kPending, served.device_id,
                         "device_del sent; completes on DEVICE_DELETED"};
  }
  finish(absl::OkStatus());
  return HotplugResult{HotplugOutcome::kDone, served.device_id, ""};
}

absl::Status Machine::SetInterfaceLink(const std::string& name, bool up) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("link ", up ? "up" : "down", " of interface ", name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  Served served = Split(DevicesServing(*m.plan, name));
  if (served.device_id.empty() || !Has(served, DeviceEntry::Kind::kNetdev)) {
    return absl::NotFoundError(absl::StrCat(m.label, ": ", what, ": no interface of that name"));
  }
  if (absl::Status st = ops::SetLink(*m.qmp, served.device_id, up); !st.ok()) {
    return m.Error(what, st);
  }
  for (DomainInterface& nic : m.domain_interfaces) {
    if (nic.name == name) nic.link_state = up ? "up" : "down";
  }
  m.RefreshDomainInterfaces();
  return absl::OkStatus();
}

absl::Status Machine::ChangeMedia(const std::string& disk_name,
                                  const std::optional<spec::Volume>& volume) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("media change of ", disk_name);
  RETURN_IF_ERROR(m.RequireRunning(what));
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  ResolvedVolume resolved;
  if (volume) {
    spec::Vmi with = *m.vmi;
    std::erase_if(with.volumes, [&](const spec::Volume& v) { return v.name == disk_name; });
    with.volumes.push_back(*volume);
    std::unique_ptr<VolumeResolver> resolver =
        MakeStandaloneVolumeResolver(StandaloneConfigFromEnvironment(), m.dir_path);
    absl::StatusOr<ResolvedVolume> r = resolver->Resolve(with, *volume);
    if (!r.ok()) return m.Error(what, r.status());
    resolved = *r;
  }
  absl::StatusOr<MediaPlan> media =
      PlanMediaChange(*m.vmi, *m.facts, *m.plan, disk_name, volume, resolved);
  if (!media.ok()) return m.Error(what, media.status());
  if (absl::Status st = ops::ChangeMedium(*m.qmp, *media); !st.ok()) return m.Error(what, st);
  ApplyMediaPlan(*media, *m.plan);
  return absl::OkStatus();
}

absl::StatusOr<HotplugResult> Machine::SetVcpus(const VcpuHotplug& request) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("scale to ", request.sockets, " sockets");
  RETURN_IF_ERROR(m.RequireRunning(what));
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  absl::StatusOr<std::vector<ops::HotpluggableCpu>> cpus = ops::QueryHotpluggableCpus(*m.qmp);
  if (!cpus.ok()) return m.Error(what, cpus.status());
  absl::StatusOr<std::vector<DeviceEntry>> plug = ops::CpusToPlug(*cpus, request.sockets);
  if (!plug.ok()) return m.Error(what, plug.status());
  if (absl::Status st = ops::AddEntries(*m.qmp, *plug); !st.ok()) return m.Error(what, st);
  m.hotplugged.insert(m.hotplugged.end(), plug->begin(), plug->end());
  if (absl::Status st = AddHotpluggedDevices(*plug, *m.plan); !st.ok()) {
    return m.Error(what, st);
  }
  return HotplugResult{HotplugOutcome::kDone, plug->empty() ? "" : plug->back().id, ""};
}

absl::StatusOr<HotplugResult> Machine::SetGuestMemory(const MemoryHotplug& request,
                                                      const HotplugOptions& options) {
  Impl& m = *impl_;
  const std::string what = absl::StrCat("set guest memory to ", request.guest_bytes, " bytes");
  RETURN_IF_ERROR(m.RequireRunning(what));
  const spec::Memory& memory = m.vmi->domain.memory;
  const int64_t boot = memory.guest ? memory.guest->value : 0;
  const int64_t max = memory.max_guest ? memory.max_guest->value : boot;
  if (max <= boot) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": ", what, ": the VM has no hotpluggable memory (set "
        "spec.domain.memory.maxGuest above spec.domain.memory.guest)"));
  }
  constexpr int64_t kBlock = 2 << 20;  // virtio-mem's default block size
  if (request.guest_bytes < boot || request.guest_bytes > max ||
      (request.guest_bytes - boot) % kBlock != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        m.label, ": ", what, ": must lie between ", boot, " (guest) and ", max,
        " (maxGuest) bytes, in steps of ", kBlock));
  }
  RETURN_IF_ERROR(m.BeginOperation(what));
  absl::Cleanup end = [&m] { m.EndOperation(); };
  absl::StatusOr<HotplugOutcome> outcome = ops::SetVirtioMemSize(
      *m.loop, *m.qmp, "virtiomem0", request.guest_bytes - boot, options.guest_wait);
  if (!outcome.ok()) return m.Error(what, outcome.status());
  m.virtio_mem_requested = request.guest_bytes - boot;
  return HotplugResult{*outcome, "virtiomem0",
                       *outcome == HotplugOutcome::kPending
                           ? "requested-size set; the guest has not plugged it all yet"
                           : ""};
}

}  // namespace qdirect::vm
