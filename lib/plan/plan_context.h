#pragma once

// PlanContext is the planner's scratch state while MakePlan walks a spec:
// the backends (objects, chardevs, blockdevs, netdevs) in the order they
// were made, which go straight into the device table, and the devices,
// kept until the PCI layout so that argv comes out in an order QEMU accepts
// (backends, root ports, PCI devices, then devices on the buses those
// create). The parts of MakePlan (disks, interfaces, host devices, ...)
// each add to it.

#include <charconv>
#include <functional>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "plan/json_object.h"
#include "plan/lazy_path.h"
#include "plan/pci_layout.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"

namespace qdirect::plan {

// A -device that needs a PCI address, placed once every one is known (its
// PciRequest is PlanContext::pci_requests at the same index).
struct PendingPciDevice {
  JsonObject props;  // "driver" first; bus/addr are appended at layout
  std::string id;
  std::string volume;
  // Further functions of a multifunction device (a GPU's HDMI audio): on
  // the same bus and slot, at function `number`; props get bus and addr.
  struct Function {
    int number = 0;
    std::string id;
    JsonObject props;
  };
  std::vector<Function> functions;
};

struct PlanContext {
  PlanContext(const spec::Vmi& v, const HostFacts& h) : vmi(v), host(h) {}

  const spec::Vmi& vmi;
  const HostFacts& host;
  bool q35 = true;
  int vcpus = 1;

  // The backends, in the order made (a blockdev after the node it reads,
  // an object before the device that names it: QEMU makes all backends
  // before any device whatever their order). MakePlan points this at the
  // plan's device table, reserved for a typical plan: an entry is built
  // where it stays (a DeviceEntry move copies six strings). Else (hotplug)
  // they collect in own_backends.
  std::vector<DeviceEntry> own_backends;
  std::vector<DeviceEntry>* backends = &own_backends;
  // Devices on buses, after the PCI devices; held inline: no allocation
  // and no regrowth for a typical plan.
  using EntryGroup = absl::InlinedVector<DeviceEntry, 8>;
  absl::InlinedVector<PendingPciDevice, 8> pci_devices;  // layout order
  // pci_devices[i]'s request: side by side, LayoutPci reads them in place.
  absl::InlinedVector<PciRequest, 8> pci_requests;
  EntryGroup bus_devices;  // on ide/scsi/usb/serial buses
  std::vector<FdToPass> fds;
  std::vector<FileToCreate> files;
  std::vector<Plan::Passt> passt;
  int next_child_fd = 4;  // after the QMP listener
  // Device-plugin variable -> how many of its devices are taken.
  std::map<std::string, size_t> device_plugin_used;
  // Addresses and mdev UUIDs handed out so far, across all variables: a
  // device listed by two resources still goes to one guest device.
  std::set<std::string> device_plugin_taken;
  // A vfio-pci device is planned: QEMU pins guest RAM (Plan::memlock_bytes).
  bool has_vfio = false;
  // Guest RAM in bytes, maxGuest included (PlanMemory).
  int64_t memory_bytes = 0;

  // Controllers the disks and inputs asked for.
  bool need_xhci = false;
  bool need_scsi = false;
  bool need_virtio_mem = false;  // memory.maxGuest
  std::string scsi_iothread;
  // Hotplug: tap fds are named "<prefix><queue>" (getfd) instead of child
  // fd numbers. Empty for cold plug.
  std::string tap_fd_name_prefix;

  // What is used but missing from host.qemu: name -> first spec path.
  // host.qemu does not change while planning, so a name is looked up when
  // first used and only the missing ones are kept (normally none).
  std::map<std::string, std::string, std::less<>> missing_devices;
  std::map<std::string, std::string, std::less<>> missing_objects;

  // "spec.domain.devices" under the document's spec path. One allocation:
  // every device gets a path for the errors it may cause.
  std::string Path(std::string_view suffix) const {
    std::string path;
    path.reserve(vmi.spec_path.size() + 1 + suffix.size());
    path.append(vmi.spec_path).append(1, '.').append(suffix);
    return path;
  }
  // "spec.domain.devices.disks[1]": Path(field) with an index.
  std::string Path(std::string_view field, size_t index) const {
    char digits[24];
    const size_t n =
        static_cast<size_t>(std::to_chars(digits, digits + sizeof(digits), index).ptr - digits);
    std::string path;
    path.reserve(vmi.spec_path.size() + field.size() + 3 + n);
    path.append(vmi.spec_path).append(1, '.').append(field).append(1, '[');
    path.append(digits, n).append(1, ']');
    return path;
  }

  // Path("domain.devices") as a LazyPath: spelled only for an error.
  LazyPath Field(std::string_view suffix) const { return LazyPath(vmi.spec_path, ".", suffix); }

  void NeedDevice(std::string_view driver, const LazyPath& path) {
    if (!host.qemu.HasDevice(driver) && !missing_devices.contains(driver)) {
      missing_devices.emplace(driver, path.Spell());
    }
  }
  void NeedObject(std::string_view type, const LazyPath& path) {
    if (!host.qemu.object_types.contains(type) && !missing_objects.contains(type)) {
      missing_objects.emplace(type, path.Spell());
    }
  }

  // The Add* functions take props to keep: pass them with std::move. Each
  // entry is built in place: a DeviceEntry move copies six strings.
  void AddObject(const std::string& id, JsonObject&& props, const LazyPath& path) {
    NeedObject(props.GetStr("qom-type"), path);
    backends->emplace_back(DeviceEntry::Kind::kObject, id, std::string(), std::string(),
                           std::string(), std::move(props).Render());
  }
  void AddBlockdev(const std::string& node, JsonObject&& props,
                   const std::string& volume) {
    backends->emplace_back(DeviceEntry::Kind::kBlockdev, node, std::string(), std::string(),
                           volume, std::move(props).Render());
  }
  void AddBlockdev(const std::string& node, JsonWriter&& props, const std::string& volume) {
    backends->emplace_back(DeviceEntry::Kind::kBlockdev, node, std::string(), std::string(),
                           volume, std::move(props).Take());
  }
  // A PCI device just added and its request, for the caller to complete
  // (volume, functions; fixed address, root bus).
  struct AddedPciDevice {
    PendingPciDevice& device;
    PciRequest& request;
  };
  // Adds a PCI device built from props (driver first) and returns it, for
  // the caller to complete: it is built in place, as a PendingPciDevice
  // move copies its JsonObject. The references last until the next device
  // is added.
  AddedPciDevice AddPciDevice(JsonObject&& props, std::string id, std::string path) {
    NeedDevice(props.GetStr("driver"), path);
    AddedPciDevice added = NewPciDevice(std::move(props), std::move(id));
    added.request.owner = std::move(path);
    return added;
  }
  // AddPciDevice for one of the planner's own devices (a controller),
  // whose errors name `field` under the spec's path (a literal): spelled
  // only for an error.
  AddedPciDevice AddFieldPciDevice(JsonObject&& props, std::string id, std::string_view field) {
    NeedDevice(props.GetStr("driver"), Field(field));
    AddedPciDevice added = NewPciDevice(std::move(props), std::move(id));
    added.request.owner_root = vmi.spec_path;
    added.request.owner_field = field;
    return added;
  }
  AddedPciDevice NewPciDevice(JsonObject&& props, std::string id) {
    // Built from props (a default JsonObject would allocate its room first).
    PendingPciDevice& device = pci_devices.emplace_back(std::move(props), std::move(id));
    return {device, pci_requests.emplace_back()};
  }
  void AddBusDevice(JsonObject&& props, const std::string& bus, const std::string& volume,
                    const LazyPath& path) {
    NeedDevice(props.GetStr("driver"), path);
    CheckProperties(props, path);
    std::string id(props.GetStr("id"));  // before props is rendered away
    bus_devices.emplace_back(DeviceEntry::Kind::kDevice, std::move(id), bus, std::string(), volume,
                             std::move(props).Render());
  }
  // Checks that every member of props (a -device) is a property of its
  // driver in host.qemu, but for those every device (driver, id, bus) or
  // every PCI device (addr) has; a failure names path. The first failure is
  // kept in property_error and reported by CheckQemuHasNeeds after the
  // missing devices and objects, which explain more.
  void CheckProperties(const JsonObject& props, const LazyPath& path);
  // The same for a -device of driver `driver` with properties `keys`.
  void CheckProperties(std::string_view driver, std::initializer_list<std::string_view> keys,
                       const LazyPath& path);
  // Whether key is a property of the device type `known` (a host.qemu
  // entry), or one every device has; else sets property_error.
  bool CheckProperty(const CapabilityProperties::value_type& known, std::string_view key,
                     const LazyPath& path);
  absl::Status property_error;

  // A socket chardev QEMU serves on a listening unix socket the launcher
  // binds and passes at child_fd.
  void AddListenerChardev(std::string_view id, int child_fd);
};

// The parts of MakePlan, in the order it calls them (planner.cc, disks.cc,
// interfaces.cc, host_devices.cc). Each is a function of its own, not
// only for reading: one function of them all grew past what the compiler
// inlines into, and every literal then cost a strlen call.
//
// The spec and host facts MakePlan needs before it starts (a name, a
// runtime dir short enough for socket paths, a known accelerator).
absl::Status CheckPlanInputs(const spec::Vmi& vmi, const HostFacts& host);
// Machine type, CPU, memory, identity, firmware: -name, -machine, -cpu,
// -smp, -m, -uuid, -smbios, the EFI flash nodes, kernel boot.
absl::Status PlanMachine(PlanContext& ctx, Plan& plan);
// Clock, sandbox, messages, display, watchdog action.
absl::Status PlanRuntimeOptions(PlanContext& ctx, Plan& plan);
// The sockets QEMU serves (QMP, console, guest agent) and their chardevs.
void PlanSockets(PlanContext& ctx, Plan& plan);
absl::Status PlanDisks(PlanContext& ctx);
absl::Status PlanInterfaces(PlanContext& ctx);

// What PlanDisks counts from one disk to the next.
struct DiskUnits {
  bool shared_iothread_added = false;  // "iothread0" exists
  int sata_units = 0;
  int scsi_luns = 0;  // the next LUN on scsi0.0
};
// One disk: its blockdev nodes (<node_prefix>-file, -fmt, ...) and its
// device. Cold plug (PlanDisks) and hotplug (PlanVolumeHotplug) both use it,
// so the JSON QEMU gets is the same either way. `path` (the disk's field
// path) ends up in the device's PCI request: pass a temporary.
absl::Status PlanDisk(PlanContext& ctx, const spec::Disk& disk,
                      const std::string& node_prefix, std::string path,
                      DiskUnits& units);
// One interface: its netdev and NIC (and its passt), or its VFIO device
// for SR-IOV. Shared by cold plug and hotplug.
absl::Status PlanInterface(PlanContext& ctx, const spec::Interface& iface,
                           std::string path);
// Every device and object used exists in ctx.host.qemu, with every property
// recorded by CheckProperties.
absl::Status CheckQemuHasNeeds(const PlanContext& ctx);
absl::Status PlanHostDevices(PlanContext& ctx);
absl::Status PlanInputs(PlanContext& ctx);
// The controllers the devices asked for (virtio-serial with the agent
// port, SCSI, xHCI), the balloon, rng, virtio-mem, watchdog and VGA.
void PlanControllers(PlanContext& ctx);
// Lays out PCI and completes plan.devices in command-line order: after the
// backends (there already), root ports, PCI devices, bus devices. Fails
// when something used is missing from host.qemu.
absl::Status PlanDeviceTable(PlanContext& ctx, Plan& plan);

// Device-plugin addresses: KubeVirt's PCI_RESOURCE_<NAME> variables, where
// NAME is the resource name upper-cased with '/' and '.' replaced by '_'.
std::string DevicePluginEnvName(std::string_view prefix,
                                std::string_view resource_name);

// One device handed out by a device plugin: a PCI address, or a mediated
// device's UUID (MDEV_PCI_RESOURCE_*).
struct HostDeviceAddress {
  std::string pci;
  std::string mdev_uuid;
};

// Takes the next unused device of `resource` (each address is used once,
// in spec order). FailedPrecondition when none is left or none was given.
absl::StatusOr<HostDeviceAddress> TakeDevicePluginDevice(
    PlanContext& ctx, const std::string& resource, const std::string& path);

// How a GPU's mediated device shows a display (virtualGPUOptions.display).
struct VfioDisplay {
  bool display = false;  // display=on: QEMU shows the vGPU's framebuffer
  bool ramfb = false;    // ramfb=on (vfio-pci-nohotplug): a boot display
};

// A vfio-pci device for `address`, id "ua-<name>", on its own root port,
// with the companion functions and ROM file host.host_pci_devices lists.
void AddVfioDevice(PlanContext& ctx, const std::string& name,
                   const HostDeviceAddress& address, const std::string& path,
                   const VfioDisplay& display = {});

// The ISO behind a cloud-init volume resolved to `rv` (its path, and the
// data of a secretRef), with KubeVirt's metadata.
absl::StatusOr<FileToCreate> CloudInitIsoFile(const spec::Vmi& vmi,
                                              const spec::CloudInitSource& src,
                                              const ResolvedVolume& rv);

}  // namespace qdirect::plan
