#pragma once

// Hotplug of volumes, interfaces, vCPUs and memory into a running VM.
//
// The requests are typed after KubeVirt's (AddVolumeOptions: a disk and its
// volume source; an interface and its network). The builders here are pure:
// they turn a request into the QEMU objects to add, through the same code
// the planner uses for cold plug (plan/disks.cc, plan/interfaces.cc), so a
// hot-plugged disk is the JSON a cold-plugged one would be. The QMP
// sequences that send them live in lib/ops/hotplug_*.cc; vm::Machine offers
// them as AddVolume, RemoveVolume, AddInterface, ... (qdirect/machine.h).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"

namespace qdirect {

// A volume to hot-plug (KubeVirt's AddVolumeOptions). disk.name names both
// the disk and the volume; disk.bus is virtio or scsi (as KubeVirt allows);
// volume.source is a persistentVolumeClaim, dataVolume or hostDisk (an
// existing file or block device).
struct VolumeHotplug {
  spec::Disk disk;
  spec::Volume volume;
};

// An interface to hot-plug: the spec's interface (name, model, macAddress,
// binding) and the network it joins. Standalone, masquerade/bridge/slirp
// become QEMU user networking; in pod mode bridge/masquerade take a tap fd
// the caller passes (HotplugPlan::fds).
struct InterfaceHotplug {
  spec::Interface iface;
  spec::Network network;
};

// What a hotplug adds, in the order to add it (its backends in the order the
// planner made them: objects, blockdevs, netdevs; then the frontend device
// last); removal goes in reverse.
struct HotplugPlan {
  std::vector<DeviceEntry> entries;
  std::string device_id;  // the frontend device ("ua-<name>")
  std::string root_port;  // the pcie-root-port it takes ("" on a SCSI bus)
  // Tap fds to hand to QEMU with getfd under fd.name before netdev_add.
  std::vector<FdToPass> fds;
  bool operator==(const HotplugPlan&) const = default;
};

// The objects for hot-plugging `request` into the VM `vmi` planned as
// `plan` (which includes what was hot-plugged since: AddHotpluggedDevices),
// with `volume` resolved by the caller's VolumeResolver. Pure.
// Errors: AlreadyExists for a name the VM has; ResourceExhausted when no
// pcie-root-port is free; FailedPrecondition for a scsi disk in a VM without
// a SCSI controller (one is planned only when a cold disk has bus scsi:
// planning one into every VM would cost each a PCI device and a driver);
// InvalidArgument for a bus, type or source hotplug does not take.
absl::StatusOr<HotplugPlan> PlanVolumeHotplug(const spec::Vmi& vmi,
                                              const HostFacts& host,
                                              const Plan& plan,
                                              const VolumeHotplug& request,
                                              const ResolvedVolume& volume);

// The objects for hot-plugging an interface (see PlanVolumeHotplug).
absl::StatusOr<HotplugPlan> PlanInterfaceHotplug(
    const spec::Vmi& vmi, const HostFacts& host, const Plan& plan,
    const InterfaceHotplug& request);

// The entries of `plan.devices` that serve spec volume or interface `name`
// (blockdevs, netdevs, objects and the device), in plan order; empty when
// none does.
std::vector<DeviceEntry> DevicesServing(const Plan& plan,
                                        const std::string& name);

// Removes the entries with these (kind, id) from plan.devices (and so from
// its command line); the root ports of removed devices become free again
// (first in free_root_ports). Ids the plan lacks are ignored. Pure.
void RemovePlannedDevices(const std::vector<DeviceEntry>& removed, Plan& plan);

// A CD-ROM's medium change: the QEMU objects to swap. The new medium's
// nodes keep the cold plan's names (disk<index>-*), so the device's "drive"
// stays valid.
struct MediaPlan {
  std::string device_id;               // "ua-<disk>"
  std::vector<DeviceEntry> old_nodes;  // the medium's nodes now, plan order
  std::vector<DeviceEntry> new_nodes;  // to add, in order (empty: eject)
  std::string node;                    // the node to insert ("" : eject)
  DeviceEntry device;                  // the device entry afterwards
  bool operator==(const MediaPlan&) const = default;
};

// Plans putting `volume` (resolved as `resolved`) into the cdrom disk
// `disk_name` of vmi, or ejecting its medium when volume is nullopt. NotFound
// for no such disk; FailedPrecondition when it is not a cdrom; Unimplemented
// for a medium that needs a file created. Pure.
absl::StatusOr<MediaPlan> PlanMediaChange(const spec::Vmi& vmi,
                                          const HostFacts& host,
                                          const Plan& plan,
                                          const std::string& disk_name,
                                          const std::optional<spec::Volume>& volume,
                                          const ResolvedVolume& resolved);

// Puts a done media change into plan (nodes swapped, the device's JSON
// updated). Pure.
void ApplyMediaPlan(const MediaPlan& media, Plan& plan);

// vCPU hotplug: the VM's socket count, up to spec.domain.cpu.maxSockets.
struct VcpuHotplug {
  uint32_t sockets = 1;
};

// Memory hotplug: the guest memory wanted in all, between the boot memory
// and spec.domain.memory.maxGuest; the difference is virtio-mem's
// requested-size (a multiple of its block size, 2 MiB).
struct MemoryHotplug {
  int64_t guest_bytes = 0;
};

// A host PCI device hot-plugged as vfio-pci (KubeVirt's hostDevices entry
// `name`): "ua-<name>" on the next free root port. With companions (as
// KubeVirt passes a GPU's functions), the other functions of its slot in its
// IOMMU group (HDMI audio ...) come along as one multifunction guest device
// (VfioHotplugDevices), as cold plug renders it.
struct HostDeviceHotplug {
  std::string name;
  std::string pci_address;  // "0000:65:00.0" (or "65:00.0")
  bool with_companions = true;
};

// How a hotplug call ended.
enum class HotplugOutcome {
  kDone,     // QEMU and the guest have completed it
  kPending,  // asked, but the guest has not acted within the wait (an
             // unplug the guest has not released yet, memory not plugged
             // yet); it completes later on QEMU's event
};

struct HotplugResult {
  HotplugOutcome outcome = HotplugOutcome::kDone;
  std::string device_id;  // the QEMU device concerned ("ua-data", ...)
  std::string message;    // for kPending: what is awaited
};

// How long hotplug calls wait for the guest before answering kPending.
struct HotplugOptions {
  absl::Duration guest_wait = absl::Seconds(10);
};

}  // namespace qdirect
