#pragma once

// Host devices for VFIO passthrough: what sysfs says is on this host (PCI
// devices, IOMMU groups, mediated devices), whether a device's IOMMU group
// can be handed to QEMU, binding to vfio-pci and back, and KubeVirt's
// device-plugin environment built for standalone use from a
// permittedHostDevices config.
//
// Every function takes the sysfs root (default "/sys") so that tests run on
// a synthetic tree; nothing here needs VFIO hardware.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qdirect::hostdev {

inline constexpr char kDefaultSysfsRoot[] = "/sys";
inline constexpr char kVfioPciDriver[] = "vfio-pci";

// One type a mediated-device parent offers
// (<parent>/mdev_supported_types/<id>/).
struct MdevType {
  std::string id;           // directory name, "nvidia-222"
  std::string name;         // its `name` file, "GRID T4-1B" ("" when absent)
  std::string device_api;   // "vfio-pci"
  int available_instances = 0;
  bool operator==(const MdevType&) const = default;
};

// One mediated device instance (/sys/bus/mdev/devices/<uuid>).
struct MdevInstance {
  std::string uuid;
  std::string type;    // MdevType::id
  std::string parent;  // the parent's PCI address
  int iommu_group = -1;
  bool operator==(const MdevInstance&) const = default;
};

// One PCI function (/sys/bus/pci/devices/<address>).
struct PciDevice {
  std::string address;  // "0000:65:00.0"
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  uint32_t class_code = 0;  // 24 bits: 0x030000 VGA, 0x040300 HD audio
  uint32_t subsystem_vendor_id = 0;
  uint32_t subsystem_device_id = 0;
  std::string driver;          // bound driver, "" when none
  std::string driver_override; // "" when none
  int iommu_group = -1;        // -1: no IOMMU group (no IOMMU)
  int numa_node = -1;
  std::vector<MdevType> mdev_types;  // non-empty: an mdev parent

  // Display controllers, PCI base class 0x03.
  bool IsGpu() const { return (class_code >> 16) == 0x03; }
  // "10de:1eb8", lower-case, as KubeVirt's pciVendorSelector.
  std::string VendorSelector() const;
  bool operator==(const PciDevice&) const = default;
};

// A snapshot of the host's PCI devices and mediated devices.
struct HostDevices {
  std::vector<PciDevice> pci;         // sorted by address
  std::vector<MdevInstance> mdevs;    // sorted by uuid

  const PciDevice* Find(const std::string& address) const;
  // Members of IOMMU group `group`, sorted by address.
  std::vector<const PciDevice*> GroupMembers(int group) const;
  // Group numbers in use, ascending.
  std::vector<int> Groups() const;
  bool operator==(const HostDevices&) const = default;
};

// The snapshot as JSON, grouped by IOMMU group: {"iommuGroups": [{"group",
// "viable", "offending", "devices": [{"address", "vendorSelector", "class",
// "subsystem", "driver", "numaNode", "gpu", "companions", "mdevTypes"}]}],
// "withoutIommuGroup": [devices], "mediatedDevices": [{"uuid", "type",
// "parent", "iommuGroup"}]}. Pretty-printed.
std::string HostDevicesToJson(const HostDevices& host);

// Reads every PCI device and mdev instance under sysfs_root. A device
// directory that cannot be read is an error naming the path; optional
// files (numa_node, subsystem ids, driver_override) may be missing.
absl::StatusOr<HostDevices> DiscoverHostDevices(
    const std::string& sysfs_root = kDefaultSysfsRoot);

// Normalises a PCI address: "65:00.0" -> "0000:65:00.0", upper-case hex
// lowered. InvalidArgument when it is not domain:bus:slot.function.
absl::StatusOr<std::string> CanonicalPciAddress(const std::string& address);

// The functions that go with a GPU (or any function 0): the other functions
// of the same slot in the same IOMMU group (HDMI audio 0x0403, a GPU's USB
// controller ...), sorted. They must reach the same guest anyway (VFIO hands
// out whole groups) and the guest driver expects them beside function 0.
std::vector<std::string> CompanionFunctions(const HostDevices& host,
                                            const std::string& address);

// ---------------------------------------------------------------------------
// IOMMU group viability

// A group can be given to QEMU when every member is bound to vfio-pci or to
// no driver (PCI bridges excepted, as the kernel does: pcieport is fine).
struct GroupViability {
  int group = -1;
  bool viable = false;
  // "0000:00:1f.3 (snd_hda_intel)" for each member held by another driver.
  std::vector<std::string> offending;
  bool operator==(const GroupViability&) const = default;
};
GroupViability CheckGroup(const HostDevices& host, int group);

// OK when `address` exists, has an IOMMU group and the group is viable;
// else FailedPrecondition naming the device, the group and the offenders:
// "0000:65:00.0: IOMMU group 12 is not viable: 0000:65:00.1 (snd_hda_intel)
// is bound to another driver than vfio-pci".
absl::Status CheckViable(const HostDevices& host, const std::string& address);

// ---------------------------------------------------------------------------
// Binding and preparation

// One write to a sysfs file: `value` into `path`.
struct SysfsWrite {
  std::string path;
  std::string value;
  bool operator==(const SysfsWrite&) const = default;
};

// Writes `value` into each path in order (no O_CREAT: sysfs files exist).
// Stops at the first failure with an error naming the path and the value.
absl::Status ApplySysfsWrites(const std::vector<SysfsWrite>& writes);

// The writes that move `device` to vfio-pci: driver_override, unbind from
// the current driver (if any), drivers_probe. Empty when already on vfio-pci.
std::vector<SysfsWrite> BindToVfioWrites(const PciDevice& device,
                                         const std::string& sysfs_root);
// The writes that give `address` back to `original_driver` ("" leaves it
// unbound): unbind from vfio-pci, clear driver_override, re-probe.
std::vector<SysfsWrite> RestoreDriverWrites(const std::string& address,
                                            const std::string& original_driver,
                                            const std::string& sysfs_root);

struct PrepareOptions {
  std::string sysfs_root = kDefaultSysfsRoot;
  std::string dev_root = "/dev";  // /dev/vfio/<group> lives under it
  // Bind the device and the other functions of its slot to vfio-pci
  // (driver_override + drivers_probe). Off: a device not already on
  // vfio-pci, or a group not already viable, is refused.
  bool bind = false;
  // Only compute: no sysfs write, no chown. The writes come back in
  // PreparedDevice::writes.
  bool dry_run = false;
  // Owner to give /dev/vfio/<group> (the QEMU user); nullopt leaves it.
  std::optional<uid_t> qemu_uid;
  std::optional<gid_t> qemu_gid;
};

// What PrepareVfioDevice did, and what ReleaseVfioDevice needs to undo it.
struct PreparedDevice {
  std::string address;
  int iommu_group = -1;
  // Members moved to vfio-pci -> the driver they had ("" none).
  std::map<std::string, std::string> original_drivers;
  std::string group_device;  // "/dev/vfio/12"
  // Owner of group_device before the chown (-1: not changed).
  int64_t original_uid = -1;
  int64_t original_gid = -1;
  std::vector<SysfsWrite> writes;  // made (or, dry run, that would be made)
  bool operator==(const PreparedDevice&) const = default;
};

// Makes `address` ready for QEMU: with options.bind, moves it and the other
// functions of its slot to vfio-pci (members of other slots are never
// taken: one on a host driver makes the group unviable and the call fails
// before any write); checks viability; gives /dev/vfio/<group> to the QEMU
// uid (QEMU 7.2's vfio-pci opens the group itself and takes no fd).
absl::StatusOr<PreparedDevice> PrepareVfioDevice(const std::string& address,
                                                 const PrepareOptions& options);

// The same for a mediated device (vGPU) `uuid`: its own IOMMU group's
// device goes to the QEMU uid (its parent stays on the host driver that
// creates it). NotFound for an unknown uuid.
absl::StatusOr<PreparedDevice> PrepareMdevDevice(const std::string& uuid,
                                                 const PrepareOptions& options);

// Undoes PrepareVfioDevice or PrepareMdevDevice: restores each member's original driver and the
// group device's owner. Returns the sysfs writes made (or, dry run, that
// would be made).
absl::StatusOr<std::vector<SysfsWrite>> ReleaseVfioDevice(
    const PreparedDevice& prepared, const PrepareOptions& options);

// ---------------------------------------------------------------------------
// permittedHostDevices (standalone device-plugin environment)

// As KubeVirt's spec.configuration.permittedHostDevices.
struct PciHostDeviceSelector {
  std::string pci_vendor_selector;  // "10de:1eb8"
  std::string resource_name;        // "nvidia.com/TU104GL_Tesla_T4"
  // True: an external device plugin provides the devices; skipped here.
  bool external_resource_provider = false;
  // qdirect extension: a ROM file for the vfio-pci device ("" none).
  std::string rom_file;
  bool operator==(const PciHostDeviceSelector&) const = default;
};
struct MediatedDeviceSelector {
  std::string mdev_name_selector;  // MdevType::name, "GRID T4-1Q"
  std::string resource_name;       // "nvidia.com/GRID_T4-1Q"
  bool external_resource_provider = false;
  bool operator==(const MediatedDeviceSelector&) const = default;
};
struct PermittedHostDevices {
  std::vector<PciHostDeviceSelector> pci_host_devices;
  std::vector<MediatedDeviceSelector> mediated_devices;
  bool operator==(const PermittedHostDevices&) const = default;
};

// Parses a YAML or JSON config: either `permittedHostDevices: {...}` at the
// top, or KubeVirt's full `spec.configuration.permittedHostDevices`. Errors
// name the field ("permittedHostDevices.pciHostDevices[0].resourceName").
absl::StatusOr<PermittedHostDevices> ParsePermittedHostDevices(
    const std::string& text);
absl::StatusOr<PermittedHostDevices> ReadPermittedHostDevicesFile(
    const std::string& path);

// The environment a device plugin would set for `permitted` on this host:
// PCI_RESOURCE_<NAME>=addresses of devices bound to vfio-pci matching each
// selector (as KubeVirt's permitted-host-devices plugin offers only those),
// MDEV_PCI_RESOURCE_<NAME>=uuids of mdev instances of a matching type.
// Addresses are sorted; each device lands in one resource only (first
// selector wins). A selector with no device gives no variable, so a VMI
// asking for it gets the planner's "not set" error naming the resource.
std::map<std::string, std::string> DevicePluginEnvironment(
    const PermittedHostDevices& permitted, const HostDevices& host);

// Name of the variable for a resource: prefix + resource name upper-cased,
// '/' and '.' turned into '_' ("PCI_RESOURCE_NVIDIA_COM_T4").
std::string DevicePluginVariable(const std::string& prefix,
                                 const std::string& resource_name);

}  // namespace qdirect::hostdev
