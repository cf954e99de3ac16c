#include "spec/defaults.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "spec/name_set.h"

namespace qdirect::spec {
namespace {

// pkg/defaults: requests copied from limits when unset.
void DefaultResourceRequests(Vmi* vmi) {
  ResourceRequirements& r = vmi->domain.resources;
  for (const char* name : {"cpu", "memory"}) {
    auto limit = r.limits.find(name);
    auto request = r.requests.find(name);
    if (limit != r.limits.end() && limit->second.milli != 0 &&
        (request == r.requests.end() || request->second.milli == 0)) {
      r.requests[name] = limit->second;
    }
  }
  // No memory request: the guest memory is the request (overcommit 100%).
  if (r.requests.find("memory") == r.requests.end() && vmi->domain.memory.guest &&
      vmi->domain.memory.guest->value > 0) {
    r.requests["memory"] = *vmi->domain.memory.guest;
  }
}

// pkg/defaults setGuestMemory: requests.memory, else limits.memory, else
// the hugepage size.
void DefaultGuestMemory(Vmi* vmi) {
  Memory& m = vmi->domain.memory;
  if (m.guest) return;
  const ResourceRequirements& r = vmi->domain.resources;
  auto request = r.requests.find("memory");
  auto limit = r.limits.find("memory");
  if (request != r.requests.end() && request->second.milli != 0) {
    m.guest = request->second;
  } else if (limit != r.limits.end() && limit->second.milli != 0) {
    m.guest = limit->second;
  } else if (m.hugepages) {
    absl::StatusOr<Quantity> size = ParseQuantity(m.hugepages->page_size);
    if (size.ok()) m.guest = *size;
  }
}

// pkg/defaults SetDefaultGuestCPUTopology: with no topology given, the vCPU
// count (cpu limit, else request, rounded up) becomes sockets.
void DefaultCpuTopology(Vmi* vmi) {
  Cpu& cpu = vmi->domain.cpu;
  if (cpu.cores == 0 && cpu.sockets == 0 && cpu.threads == 0) {
    const ResourceRequirements& r = vmi->domain.resources;
    uint32_t sockets = 1;
    auto limit = r.limits.find("cpu");
    auto request = r.requests.find("cpu");
    if (limit != r.limits.end()) {
      sockets = static_cast<uint32_t>(limit->second.value);
    } else if (request != r.requests.end()) {
      sockets = static_cast<uint32_t>(request->second.value);
    }
    cpu.sockets = sockets;
    cpu.cores = 1;
    cpu.threads = 1;
    return;
  }
  // A partial topology: virt-launcher counts a missing level as 1.
  if (cpu.cores == 0) cpu.cores = 1;
  if (cpu.sockets == 0) cpu.sockets = 1;
  if (cpu.threads == 0) cpu.threads = 1;
}

// pkg/network/vmispec SetDefaultNetworkInterface: with no interfaces and no
// networks, a pod network "default" and a bridge interface "default".
void DefaultNetworkInterface(Vmi* vmi, Findings* findings) {
  Devices& d = vmi->domain.devices;
  if (!d.autoattach_pod_interface) return;
  if (d.interfaces.empty() && vmi->networks.empty()) {
    vmi->networks.push_back(Network{"default", PodNetwork{}});
    Interface iface;
    iface.name = "default";
    iface.binding = Interface::Binding::kBridge;
    d.interfaces.push_back(std::move(iface));
    return;
  }
  // qdirect's leniency: an interface "default" with no networks at all (as
  // in manifests written against older KubeVirt docs) gets the pod network
  // KubeVirt would have given it, with a warning (an error when strict).
  if (!vmi->networks.empty()) return;
  for (const Interface& iface : d.interfaces) {
    if (iface.name != "default" || iface.binding == Interface::Binding::kSriov) continue;
    vmi->networks.push_back(Network{"default", PodNetwork{}});
    if (!findings->reports_warnings()) return;
    FieldError w;
    w.type = FieldError::Type::kRequired;
    w.path = absl::StrCat(vmi->spec_path, ".networks");
    w.detail = "interface \"default\" has no network: the pod network \"default\" was added";
    findings->Warn(std::move(w));
    return;
  }
}

// pkg/util SetDefaultVolumeDisk: a volume used by no disk gets a disk.
void DefaultVolumeDisks(Vmi* vmi) {
  // Views of disk names must not outlive the first push_back below: the
  // names to add are gathered first.
  std::vector<const std::string*> missing;
  {
    NameSet names;
    for (const Disk& d : vmi->domain.devices.disks) names.Insert(d.name);
    for (const Volume& v : vmi->volumes) {
      if (names.Insert(v.name)) missing.push_back(&v.name);
    }
  }
  for (const std::string* name : missing) {
    Disk d;
    d.name = *name;
    vmi->domain.devices.disks.push_back(std::move(d));
  }
}

}  // namespace

void ApplyDefaults(Vmi* vmi, Findings* findings) {
  if (vmi->domain.machine.type.empty()) vmi->domain.machine.type = "q35";
  DefaultResourceRequests(vmi);
  DefaultGuestMemory(vmi);
  DefaultCpuTopology(vmi);
  DefaultNetworkInterface(vmi, findings);
  DefaultVolumeDisks(vmi);
  for (Interface& iface : vmi->domain.devices.interfaces) {
    if (iface.model.empty()) iface.model = "virtio";
  }
}

}  // namespace qdirect::spec
