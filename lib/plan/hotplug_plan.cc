// Hotplug requests -> the QEMU objects to add, through the planner's own
// per-disk and per-interface code (PlanDisk, PlanInterface).

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "plan/plan_context.h"
#include "qdirect/hotplug.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect {
namespace {

using plan::PendingPciDevice;
using plan::PlanContext;

bool HasEntry(const Plan& plan, DeviceEntry::Kind kind, const std::string& id) {
  return std::any_of(plan.devices.begin(), plan.devices.end(),
                     [&](const DeviceEntry& e) {
                       return e.kind == kind && e.id == id;
                     });
}

bool IsQ35(const Plan& plan) {
  return std::any_of(plan.devices.begin(), plan.devices.end(),
                     [](const DeviceEntry& e) { return e.bus == "pcie.0"; });
}

// The first "hp<n>" no blockdev of the plan starts with: node names must be
// unique and QEMU caps them at 31 characters, which volume names exceed.
std::string FreeNodePrefix(const Plan& plan) {
  for (int n = 0;; ++n) {
    const std::string prefix = absl::StrCat("hp", n);
    const bool used = std::any_of(
        plan.devices.begin(), plan.devices.end(), [&](const DeviceEntry& e) {
          return e.kind == DeviceEntry::Kind::kBlockdev &&
                 absl::StartsWith(e.id, prefix + "-");
        });
    if (!used) return prefix;
  }
}

// The next LUN on scsi0.0: one past the highest in use.
int NextScsiLun(const Plan& plan) {
  int next = 0;
  for (const DeviceEntry& e : plan.devices) {
    if (e.kind != DeviceEntry::Kind::kDevice || e.bus != "scsi0.0") continue;
    rapidjson::Document doc;
    doc.Parse(e.json.c_str());
    if (doc.HasParseError() || !doc.IsObject()) continue;
    auto lun = doc.FindMember("lun");
    if (lun != doc.MemberEnd() && lun->value.IsInt()) {
      next = std::max(next, lun->value.GetInt() + 1);
    }
  }
  return next;
}

// Common checks; the free root port for a PCI device.
absl::StatusOr<std::string> TakeRootPort(const Plan& plan,
                                         const std::string& what) {
  if (!IsQ35(plan)) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": hotplug needs machine type q35 (pcie-root-ports)"));
  }
  if (plan.free_root_ports.empty()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": no free pcie-root-port left for hotplug (every spare port "
              "is taken; the VM reserves HostFacts::spare_root_ports at "
              "start)"));
  }
  return plan.free_root_ports.front();
}

// Moves what ctx collected into out, the frontend device last, placing a
// PCI device at 0x0 of `port`.
absl::Status Collect(PlanContext& ctx, const std::string& port,
                     HotplugPlan& out) {
  if (!ctx.files.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        "hotplug of a volume that needs a file created (", ctx.files[0].path,
        "): only existing images and block devices can be hot-plugged"));
  }
  if (!ctx.passt.empty()) {
    return absl::UnimplementedError(
        "hotplug of a passt interface: passt is started only at launch");
  }
  if (ctx.pci_devices.size() + ctx.bus_devices.size() != 1) {
    return absl::InternalError("hotplug: expected exactly one device");
  }
  DeviceEntry device;
  if (!ctx.pci_devices.empty()) {
    PendingPciDevice& d = ctx.pci_devices[0];
    const plan::PciRequest& request = ctx.pci_requests[0];
    if (!request.fixed_address.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          request.Owner(), ".pciAddress: a hot-plugged device takes the next "
                           "free root port; a fixed address is not supported"));
    }
    d.props.Str("bus", port).Str("addr", "0x0");
    ctx.CheckProperties(d.props, request.OwnerPath());
    device = {DeviceEntry::Kind::kDevice, d.id, port, "0x0", d.volume,
              std::move(d.props).Render(), ""};
    out.root_port = port;
  } else {
    device = ctx.bus_devices[0];
  }
  RETURN_IF_ERROR(plan::CheckQemuHasNeeds(ctx));
  for (DeviceEntry& e : ctx.own_backends) out.entries.push_back(std::move(e));
  out.device_id = device.id;
  out.entries.push_back(std::move(device));
  out.fds = std::move(ctx.fds);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HotplugPlan> PlanVolumeHotplug(const spec::Vmi& vmi,
                                              const HostFacts& host,
                                              const Plan& plan,
                                              const VolumeHotplug& request,
                                              const ResolvedVolume& volume) {
  const spec::Disk& disk = request.disk;
  const std::string what = absl::StrCat("hotplug volume \"", disk.name, "\"");
  if (disk.name.empty()) {
    return absl::InvalidArgumentError("hotplug volume: name: Required value");
  }
  if (request.volume.name != disk.name) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": the volume is named \"", request.volume.name,
        "\"; disk and volume must have the same name"));
  }
  if (disk.type != spec::Disk::Type::kDisk && disk.type != spec::Disk::Type::kLun) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": only a disk or lun can be hot-plugged (a cdrom's media is "
              "changed instead)"));
  }
  if (disk.bus != spec::DiskBus::kVirtio && disk.bus != spec::DiskBus::kScsi) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": bus: Unsupported value: hotplug supports \"scsi\", "
              "\"virtio\""));
  }
  const auto& source = request.volume.source;
  if (!std::holds_alternative<spec::PersistentVolumeClaimSource>(source) &&
      !std::holds_alternative<spec::DataVolumeSource>(source) &&
      !std::holds_alternative<spec::HostDiskSource>(source)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": source: hotplug takes a persistentVolumeClaim, dataVolume "
              "or hostDisk"));
  }
  for (const spec::Volume& v : vmi.volumes) {
    if (v.name == disk.name) {
      return absl::AlreadyExistsError(absl::StrCat(
          what, ": the VM has a volume of that name"));
    }
  }
  if (HasEntry(plan, DeviceEntry::Kind::kDevice, "ua-" + disk.name) ||
      !DevicesServing(plan, disk.name).empty()) {
    return absl::AlreadyExistsError(absl::StrCat(
        what, ": the VM has device \"ua-", disk.name, "\" already"));
  }
  std::string port;
  plan::DiskUnits units;
  units.shared_iothread_added =
      HasEntry(plan, DeviceEntry::Kind::kObject, "iothread0");
  if (disk.bus == spec::DiskBus::kVirtio) {
    ASSIGN_OR_RETURN(port, TakeRootPort(plan, what));
  } else {
    if (!HasEntry(plan, DeviceEntry::Kind::kDevice, "scsi0")) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": bus scsi: the VM has no SCSI controller; give one cold "
                "disk bus \"scsi\" in spec.domain.devices.disks (that plans "
                "virtio-scsi-pci scsi0), or hot-plug with bus \"virtio\""));
    }
    units.scsi_luns = NextScsiLun(plan);
  }

  // The VM's spec with this volume added, so the planner code finds it.
  spec::Vmi with = vmi;
  with.volumes.push_back(request.volume);
  HostFacts facts = host;
  facts.volumes.volumes[disk.name] = volume;
  PlanContext ctx(with, facts);
  ctx.q35 = true;
  RETURN_IF_ERROR(plan::PlanDisk(ctx, disk, FreeNodePrefix(plan), what, units));
  HotplugPlan out;
  RETURN_IF_ERROR(Collect(ctx, port, out));
  for (const DeviceEntry& e : out.entries) {
    if (HasEntry(plan, e.kind, e.id) && e.kind != DeviceEntry::Kind::kObject) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": the VM has \"", e.id, "\" already"));
    }
  }
  // A shared iothread the VM has already is not added again.
  std::erase_if(out.entries, [&](const DeviceEntry& e) {
    return e.kind == DeviceEntry::Kind::kObject && HasEntry(plan, e.kind, e.id);
  });
  return out;
}

absl::StatusOr<HotplugPlan> PlanInterfaceHotplug(
    const spec::Vmi& vmi, const HostFacts& host, const Plan& plan,
    const InterfaceHotplug& request) {
  const spec::Interface& iface = request.iface;
  const std::string what =
      absl::StrCat("hotplug interface \"", iface.name, "\"");
  if (iface.name.empty()) {
    return absl::InvalidArgumentError("hotplug interface: name: Required value");
  }
  if (request.network.name != iface.name) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": the network is named \"", request.network.name,
        "\"; interface and network must have the same name"));
  }
  if (iface.binding == spec::Interface::Binding::kSriov) {
    return absl::UnimplementedError(
        absl::StrCat(what, ": SR-IOV interfaces are not hot-plugged"));
  }
  for (const spec::Interface& i : vmi.domain.devices.interfaces) {
    if (i.name == iface.name) {
      return absl::AlreadyExistsError(
          absl::StrCat(what, ": the VM has an interface of that name"));
    }
  }
  if (HasEntry(plan, DeviceEntry::Kind::kDevice, "ua-" + iface.name) ||
      HasEntry(plan, DeviceEntry::Kind::kNetdev, "hostua-" + iface.name)) {
    return absl::AlreadyExistsError(absl::StrCat(
        what, ": the VM has device \"ua-", iface.name, "\" already"));
  }
  ASSIGN_OR_RETURN(std::string port, TakeRootPort(plan, what));

  spec::Vmi with = vmi;
  with.networks.push_back(request.network);
  with.domain.devices.interfaces.push_back(iface);
  PlanContext ctx(with, host);
  ctx.q35 = true;
  ctx.tap_fd_name_prefix = absl::StrCat("tap-", iface.name, "-");
  RETURN_IF_ERROR(plan::PlanInterface(ctx, iface, what));
  HotplugPlan out;
  RETURN_IF_ERROR(Collect(ctx, port, out));
  for (size_t q = 0; q < out.fds.size(); ++q) {
    out.fds[q].name = absl::StrCat(ctx.tap_fd_name_prefix, q);
  }
  return out;
}

absl::StatusOr<MediaPlan> PlanMediaChange(const spec::Vmi& vmi, const HostFacts& host,
                                          const Plan& plan, const std::string& disk_name,
                                          const std::optional<spec::Volume>& volume,
                                          const ResolvedVolume& resolved) {
  const std::string what = absl::StrCat("media change of disk \"", disk_name, "\"");
  const std::vector<spec::Disk>& disks = vmi.domain.devices.disks;
  auto it = std::find_if(disks.begin(), disks.end(),
                         [&](const spec::Disk& d) { return d.name == disk_name; });
  if (it == disks.end()) {
    return absl::NotFoundError(absl::StrCat(what, ": the VM has no disk of that name"));
  }
  if (it->type != spec::Disk::Type::kCdrom) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": not a cdrom (only a cdrom's medium can be changed)"));
  }
  MediaPlan out;
  out.device_id = "ua-" + disk_name;
  auto device = std::find_if(plan.devices.begin(), plan.devices.end(), [&](const DeviceEntry& e) {
    return e.kind == DeviceEntry::Kind::kDevice && e.id == out.device_id;
  });
  if (device == plan.devices.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": the VM has no device ", out.device_id));
  }
  for (const DeviceEntry& e : plan.devices) {
    if (e.kind == DeviceEntry::Kind::kBlockdev && e.volume == disk_name) {
      out.old_nodes.push_back(e);
    }
  }
  if (volume) {
    if (volume->name != disk_name) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": the volume is named \"", volume->name, "\"; it must be the disk's name"));
    }
    spec::Vmi with = vmi;
    std::erase_if(with.volumes, [&](const spec::Volume& v) { return v.name == disk_name; });
    with.volumes.push_back(*volume);
    HostFacts facts = host;
    facts.volumes.volumes[disk_name] = resolved;
    PlanContext ctx(with, facts);
    ctx.q35 = IsQ35(plan);
    plan::DiskUnits units;
    const size_t index = static_cast<size_t>(it - disks.begin());
    RETURN_IF_ERROR(plan::PlanDisk(ctx, *it, absl::StrCat("disk", index), what, units));
    if (!ctx.files.empty()) {
      return absl::UnimplementedError(absl::StrCat(
          what, ": the medium needs a file created (", ctx.files[0].path,
          "); only existing images can be inserted"));
    }
    for (DeviceEntry& e : ctx.own_backends) {
      if (e.kind == DeviceEntry::Kind::kBlockdev) out.new_nodes.push_back(std::move(e));
    }
    if (out.new_nodes.empty()) return absl::InternalError(absl::StrCat(what, ": no nodes"));
    out.node = out.new_nodes.back().id;
  }
  // The device names its medium's node (or none once ejected).
  rapidjson::Document doc;
  doc.Parse(device->json.c_str());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError(absl::StrCat(what, ": device JSON is not an object"));
  }
  doc.RemoveMember("drive");
  out.device = *device;
  if (!out.node.empty()) {
    // Where cold plug puts it: after "bus"/"unit"/"lun", before "id".
    rapidjson::Document rebuilt;
    rebuilt.SetObject();
    auto& alloc = rebuilt.GetAllocator();
    for (auto& m : doc.GetObject()) {
      if (std::string_view(m.name.GetString()) == "id") {
        rebuilt.AddMember("drive", rapidjson::Value(out.node.c_str(), alloc), alloc);
      }
      rebuilt.AddMember(rapidjson::Value(m.name, alloc), rapidjson::Value(m.value, alloc), alloc);
    }
    doc.Swap(rebuilt);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  out.device.json.assign(buffer.GetString(), buffer.GetSize());
  return out;
}

void ApplyMediaPlan(const MediaPlan& media, Plan& plan) {
  RemovePlannedDevices(media.old_nodes, plan);
  auto device = std::find_if(plan.devices.begin(), plan.devices.end(), [&](const DeviceEntry& e) {
    return e.kind == DeviceEntry::Kind::kDevice && e.id == media.device_id;
  });
  if (device == plan.devices.end()) return;
  *device = media.device;
  // The new nodes go before the device (and so on the command line too).
  plan.devices.insert(device, media.new_nodes.begin(), media.new_nodes.end());
}

std::vector<DeviceEntry> DevicesServing(const Plan& plan,
                                        const std::string& name) {
  std::vector<DeviceEntry> out;
  for (const DeviceEntry& e : plan.devices) {
    if (!name.empty() && e.volume == name) out.push_back(e);
  }
  return out;
}

void RemovePlannedDevices(const std::vector<DeviceEntry>& removed, Plan& plan) {
  for (const DeviceEntry& r : removed) {
    auto it = std::find_if(plan.devices.begin(), plan.devices.end(),
                           [&](const DeviceEntry& e) {
                             return e.kind == r.kind && e.id == r.id;
                           });
    if (it == plan.devices.end()) continue;
    if (it->kind == DeviceEntry::Kind::kDevice &&
        absl::StartsWith(it->bus, "rp") &&
        std::find(plan.free_root_ports.begin(), plan.free_root_ports.end(),
                  it->bus) == plan.free_root_ports.end()) {
      plan.free_root_ports.insert(plan.free_root_ports.begin(), it->bus);
    }
    plan.devices.erase(it);
  }
}

}  // namespace qdirect
