#pragma once

// The planner: spec::Vmi + HostFacts -> Plan (QEMU argv, fds to pass, files
// to create, device table). Planning is pure: no I/O. Everything the planner
// needs to know about the host arrives in HostFacts, gathered beforehand by
// ProbeQemu() and ResolveVolumes() (which do the I/O).

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qdirect/spec.h"

namespace qdirect {

// ---------------------------------------------------------------------------
// QEMU capabilities

namespace capability_internal {
// Hashes and compares stored names (by pointer) and looked-up ones (views)
// alike, so that the index holds pointers to the set's strings.
// QEMU's names are short ASCII words ("virtio-blk-pci", "chassis"): their
// first and last eight bytes and their length tell them apart, mixed as
// MurmurHash3's finalizer does (the table uses the low and high bits).
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const {
    uint64_t head = 0, tail = 0;
    const size_t n = name.size();
    if (n >= 8) {
      std::memcpy(&head, name.data(), 8);
      std::memcpy(&tail, name.data() + n - 8, 8);
    } else if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, name.data(), 4);
      std::memcpy(&b, name.data() + n - 4, 4);
      head = a;
      tail = b;
    } else {
      for (size_t i = 0; i < n; ++i) head = head << 8 | static_cast<unsigned char>(name[i]);
    }
    uint64_t h = head * 0x9e3779b97f4a7c15u ^ (tail + n) * 0xc2b2ae3d27d4eb4fu;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return static_cast<size_t>(h);
  }
  size_t operator()(const std::string* name) const { return (*this)(std::string_view(*name)); }
};
struct NameEq {
  using is_transparent = void;
  static std::string_view View(std::string_view name) { return name; }
  static std::string_view View(const std::string* name) { return *name; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) == View(b);
  }
};
}  // namespace capability_internal

// A set of QEMU names (device types, properties, QMP commands, ...):
// iterated in name order, as the cache file lists them, and looked up
// through a hash index: the planner asks ~30 times per plan, and an ordered
// lookup costs a string compare per tree level. Every change goes through
// insert/erase, which keep the index in step.
class CapabilityNames {
 public:
  using Set = std::set<std::string, std::less<>>;
  using value_type = std::string;
  using const_iterator = Set::const_iterator;
  using iterator = const_iterator;

  CapabilityNames() = default;
  CapabilityNames(std::initializer_list<std::string_view> names);
  // A copy indexes its own strings; a move keeps them (the set's nodes,
  // which the index points at, move with it).
  CapabilityNames(const CapabilityNames& other);
  CapabilityNames& operator=(const CapabilityNames& other);
  CapabilityNames(CapabilityNames&&) noexcept = default;
  CapabilityNames& operator=(CapabilityNames&&) noexcept = default;

  bool contains(std::string_view name) const { return index_.contains(name); }
  size_t count(std::string_view name) const { return contains(name) ? 1 : 0; }
  // The stored name equal to `name` (lives as long as the set holds it), or
  // nullptr.
  const std::string* Find(std::string_view name) const;
  // Whether name was new.
  bool insert(std::string name);
  bool emplace(const char* data, size_t size) { return insert(std::string(data, size)); }
  size_t erase(std::string_view name);

  size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }
  const_iterator begin() const { return names_.begin(); }
  const_iterator end() const { return names_.end(); }
  bool operator==(const CapabilityNames& other) const { return names_ == other.names_; }

 private:
  void Reindex();
  Set names_;
  // The strings of names_ (set nodes do not move).
  absl::flat_hash_set<const std::string*, capability_internal::NameHash,
                      capability_internal::NameEq>
      index_;
};

// Device type -> its property names, the same way: in order, hashed.
class CapabilityProperties {
 public:
  using Map = std::map<std::string, CapabilityNames, std::less<>>;
  using value_type = Map::value_type;
  using const_iterator = Map::const_iterator;
  using iterator = const_iterator;

  CapabilityProperties() = default;
  CapabilityProperties(const CapabilityProperties& other);
  CapabilityProperties& operator=(const CapabilityProperties& other);
  CapabilityProperties(CapabilityProperties&&) noexcept = default;
  CapabilityProperties& operator=(CapabilityProperties&&) noexcept = default;

  // The properties of `type`, added empty when absent.
  CapabilityNames& operator[](std::string_view type);
  // The entry of `type` (its stored name and properties), or nullptr when
  // it was not probed.
  const value_type* Find(std::string_view type) const;
  size_t count(std::string_view type) const { return index_.contains(type) ? 1 : 0; }

  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  bool operator==(const CapabilityProperties& other) const { return map_ == other.map_; }

 private:
  void Reindex();
  Map map_;
  // Views of map_'s keys (map nodes do not move) -> their entries.
  absl::flat_hash_map<std::string_view, value_type*, capability_internal::NameHash> index_;
};

// What one QEMU binary can do, probed once (QMP, -S, no guest) and cached on
// disk keyed by the binary's path, size and mtime.
struct QemuCapabilities {
  using Names = CapabilityNames;

  std::string binary;   // absolute path
  std::string version;  // "7.2.22"
  int major = 0, minor = 0, micro = 0;
  Names machine_types;  // incl. aliases ("q35", "pc-q35-7.2")
  Names accelerators;   // "kvm", "tcg" compiled in
  Names device_types;   // qom-list-types implements=device
  Names object_types;   // user-creatable objects
  // Properties of the device types the planner uses (device-list-properties).
  CapabilityProperties device_properties;
  Names commands;  // QMP commands
  Names events;    // QMP events
  Names cpu_models;
  bool operator==(const QemuCapabilities&) const = default;

  bool HasDevice(std::string_view type) const { return device_types.contains(type); }
  bool HasDeviceProperty(std::string_view type, std::string_view property) const;
};

// Runs `binary` once to probe it, or reads the cache in cache_dir (empty:
// no cache) when path, size and mtime match. I/O; not part of planning.
absl::StatusOr<QemuCapabilities> ProbeQemu(const std::string& binary,
                                           const std::string& cache_dir);

// A fixed capability set equal to Debian 12's QEMU 7.2 for the devices the
// planner uses. For tests and benchmarks that must not run QEMU.
const QemuCapabilities& BuiltinQemu72Capabilities();

// ---------------------------------------------------------------------------
// Host facts

// How one spec volume maps to something QEMU can open.
struct ResolvedVolume {
  enum class Kind {
    kFile,         // an existing image file (raw or qcow2)
    kBlockDevice,  // a block device node
    kOverlay,      // a qcow2 overlay to create over a read-only base
    kCreate,       // an image to create (emptyDisk, hostDisk DiskOrCreate)
    kIso,          // an ISO to build (cloud-init, configMap, secret, ...)
  };
  Kind kind = Kind::kFile;
  std::string path;         // what QEMU opens (the overlay, the ISO, ...)
  std::string format = "raw";  // "raw" or "qcow2"
  std::string backing_path;    // kOverlay: the base image
  std::string backing_format;  // kOverlay: "raw" or "qcow2"
  int64_t size_bytes = 0;      // kCreate
  bool read_only = false;
  bool shared = false;
  // kIso of a configMap, secret, serviceAccount or downwardAPI volume: the
  // files of its source (path in the ISO -> contents), read by the resolver
  // so that planning stays pure.
  std::map<std::string, std::string> config_files;
  // kIso of a cloud-init volume with secretRef / networkDataSecretRef: the
  // secret's userdata / networkdata, read by the resolver.
  std::string secret_user_data;
  std::string secret_network_data;
  bool operator==(const ResolvedVolume&) const = default;
};

// Decides where volumes live. Implementations do I/O (stat, path checks);
// their output is plain data handed to the planner.
class VolumeResolver {
 public:
  virtual ~VolumeResolver() = default;
  // Resolves the volume `volume` of `vmi`. Paths must stay inside the
  // resolver's allowed roots (PermissionDenied otherwise).
  virtual absl::StatusOr<ResolvedVolume> Resolve(
      const spec::Vmi& vmi, const spec::Volume& volume) const = 0;
};

// Standalone use (vmctl): containerDisk and kernelBoot images come from a
// local image store (QDIRECT_IMAGE_DIR, default /var/lib/qdirect/images): the
// image `quay.io/kubevirt/cirros:v1` is the directory
// `<image_dir>/quay.io_kubevirt_cirros` holding the image's file tree (disks
// under disk/). PVCs and DataVolumes are files `<pvc_dir>/<claimName>` (raw
// or .qcow2). hostDisk paths must lie under one of allowed_roots.
// configMaps, secrets and serviceAccounts are directories
// `<config_dir>/{configmaps,secrets,serviceaccounts}/<name>/`, one file per
// key as the kubelet mounts them; a cloud-init secretRef reads the keys
// `userdata` (or `userData`) and `networkdata` (or `networkData`) of
// `<config_dir>/secrets/<name>/`.
struct LocalResolverOptions {
  std::string image_dir = "/var/lib/qdirect/images";
  std::string pvc_dir = "/var/lib/qdirect/pvc";
  std::string config_dir = "/var/lib/qdirect/config";
  std::vector<std::string> allowed_roots;  // hostDisk confinement
  std::string vm_dir;  // per-VM state dir: overlays and ISOs go here
};
std::unique_ptr<VolumeResolver> MakeLocalVolumeResolver(
    LocalResolverOptions options);

// Maps an image reference to its image store directory name:
// "quay.io/kubevirt/cirros:v1" -> "quay.io_kubevirt_cirros".
std::string ImageDirName(std::string_view image_reference);

// Resolves every volume of vmi (and kernelBoot's image paths).
struct ResolvedVolumes {
  std::map<std::string, ResolvedVolume> volumes;  // by volume name
  std::string kernel_path;  // kernelBoot, absolute
  std::string initrd_path;  // kernelBoot, absolute ("" if none)
  bool operator==(const ResolvedVolumes&) const = default;
};
absl::StatusOr<ResolvedVolumes> ResolveVolumes(const spec::Vmi& vmi,
                                               const VolumeResolver& resolver);

// Everything the planner knows about the host.
struct HostFacts {
  QemuCapabilities qemu;
  // "kvm" or "tcg", already decided (see ChooseAccelerator).
  std::string accel = "tcg";
  ResolvedVolumes volumes;
  // Per-VM runtime directory (sockets live here).
  std::string runtime_dir;
  // Child fd number at which the launcher passes the listening QMP socket.
  int qmp_fd = 3;
  // Spare pcie-root-ports reserved for hotplug.
  int spare_root_ports = 4;
  // KubeVirt device-plugin environment (PCI_RESOURCE_*, MDEV_PCI_RESOURCE_*).
  std::map<std::string, std::string> device_plugin_env;
  // What sysfs says about host PCI devices a VMI may pass through, by
  // address ("0000:65:00.0"); gathered with device_plugin_env. A device not
  // listed is passed alone and without ROM file.
  struct HostPciDevice {
    // Functions of the same slot and IOMMU group that go with the device (a
    // GPU's HDMI audio): passed as further functions of one multifunction
    // guest device on the same root port.
    std::vector<std::string> companions;
    // vfio-pci romfile (permittedHostDevices romFile); "" none.
    std::string rom_file;
    bool operator==(const HostPciDevice&) const = default;
  };
  std::map<std::string, HostPciDevice> host_pci_devices;
  // Host logical CPU count and memory, for sanity checks.
  int host_cpus = 1;
  int64_t host_memory_bytes = 0;

  // How interfaces reach a network. kStandalone (vmctl, CI): the pod
  // network becomes QEMU user networking (masquerade ports as hostfwd) or
  // passt when the interface asks for it; nothing needs privileges.
  // kPod (the KubeVirt launcher): bridge/masquerade/macvtap interfaces get a
  // tap fd that the launcher opens and passes (Plan::fds, kTap).
  enum class NetworkMode { kStandalone, kPod };
  NetworkMode network_mode = NetworkMode::kStandalone;

  // How q35 guests are told of PCI hotplug. kAcpi (QEMU's default): ACPI
  // PCI hotplug, an unplug completes in ~55 ms. kNative: the root ports'
  // own PCIe hotplug, where Linux waits 5 s for the attention button (~6 s
  // an unplug). Ignored on i440fx.
  enum class PciHotplug { kAcpi, kNative };
  PciHotplug pci_hotplug = PciHotplug::kAcpi;

  // EFI firmware (Debian's ovmf package). The VARS file is a template: each
  // VM gets its own qcow2 overlay over it (Plan::files).
  std::string ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
  std::string ovmf_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
  std::string ovmf_secure_code = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd";
  std::string ovmf_secure_vars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";

  // Start time (Unix seconds) for clock.utc.offsetSeconds, which QEMU 7.2
  // only takes as an absolute `-rtc base=` date. 0: unknown (an offset is
  // then refused).
  int64_t start_time_unix = 0;
};

// Picks the accelerator: $QDIRECT_ACCEL when set ("kvm"|"tcg"), else "kvm"
// when /dev/kvm is usable, else "tcg". I/O (reads env, opens /dev/kvm).
absl::StatusOr<std::string> ChooseAccelerator();

// ---------------------------------------------------------------------------
// The plan

// One QEMU object (-device/-blockdev/-netdev/-object/-chardev) as JSON. The
// same JSON is on the command line for cold plug and sent as the argument of
// device_add/blockdev-add/netdev_add/object-add for hotplug.
struct DeviceEntry {
  enum class Kind { kDevice, kBlockdev, kNetdev, kObject, kChardev };
  Kind kind = Kind::kDevice;
  std::string id;        // "id" / "node-name"
  std::string bus;       // "pcie.0", "rp3", "ide.0", "scsi0.0", ...
  std::string address;   // PCI "0x0" (slot) or "" when not on PCI
  std::string volume;    // spec volume or interface name it serves, if any
  // The complete object, compact JSON. kChardev: the chardev-add arguments.
  std::string json;
  // kChardev only: the `-chardev` keyval text (QEMU 7.2 takes no JSON there).
  std::string keyval;
  bool operator==(const DeviceEntry&) const = default;
};

// A file the launcher must create before starting QEMU.
struct FileToCreate {
  enum class Kind { kNoCloudIso, kConfigDriveIso, kConfigIso, kQcow2Overlay, kRawImage };
  Kind kind = Kind::kRawImage;
  std::string path;
  // ISO: file name in the image -> contents. Volume label in `label`.
  std::map<std::string, std::string> iso_files;
  std::string label;
  // kQcow2Overlay: the base; kRawImage: the size.
  std::string backing_path;
  std::string backing_format;
  int64_t size_bytes = 0;
  bool operator==(const FileToCreate&) const = default;
};

// An fd the launcher passes to QEMU at child fd number `child_fd`.
struct FdToPass {
  // The listeners are unix sockets bound at Plan::qmp_socket,
  // console_socket and agent_socket.
  // kPasst: QEMU's end of a socketpair whose other end a passt process
  // serves (Plan::passt).
  enum class Kind {
    kQmpListener,
    kConsoleListener,
    kAgentListener,
    kTap,
    kVfioGroup,
    kPasst
  };
  Kind kind = Kind::kQmpListener;
  int child_fd = 3;
  std::string name;  // what it serves ("qmp", an interface name, ...)
  bool operator==(const FdToPass&) const = default;
};

struct Plan {
  // QEMU's options other than the device table's; args[0] is the QEMU
  // binary. The command line is args with every entry of `devices`
  // cold-plugged ("-device" and its JSON, "-chardev" and its keyval, ...) at
  // device_args_at: see CommandLine(). The table holds the only copy of each
  // object's JSON, so the command line cannot disagree with it.
  std::vector<std::string> args;
  size_t device_args_at = 0;
  std::vector<FdToPass> fds;
  std::vector<FileToCreate> files;
  // In command-line order: the backends (objects, chardevs, blockdevs,
  // netdevs) as the planner made them, then root ports, PCI devices and
  // the devices on their buses.
  std::vector<DeviceEntry> devices;
  // Free pcie-root-port ids for hotplug, in the order to use them.
  std::vector<std::string> free_root_ports;
  // Sockets QEMU serves, in the runtime dir: the launcher binds each and
  // passes it (Plan::fds), QEMU accepts on it.
  std::string qmp_socket;
  std::string console_socket;  // serial console ("" when none)
  std::string agent_socket;    // guest agent channel
  // passt instances (KubeVirt's passt binding) the launcher starts before
  // QEMU, one per interface: passt gets one end of a socketpair
  // (`passt --fd`), QEMU the other at child_fd (FdToPass::kPasst); args are
  // passt's forwarding options ("-t", "80,443").
  struct Passt {
    std::string interface;
    int child_fd = 0;
    std::vector<std::string> args;
    bool operator==(const Passt&) const = default;
  };
  std::vector<Passt> passt;
  // Extra environment for QEMU ("TZ=Europe/Paris" for clock.timezone).
  std::vector<std::string> env;
  // RLIMIT_MEMLOCK QEMU needs, in bytes (0: leave the limit alone). VFIO
  // pins all guest RAM for DMA: guest RAM (maxGuest included) + 1 GiB for
  // QEMU's own pinned pages, as libvirt sizes it.
  int64_t memlock_bytes = 0;
  // Guest RAM the VM may reach (maxGuest included), for a memlock raised
  // when a host device is hot-plugged later.
  int64_t guest_memory_bytes = 0;
  bool operator==(const Plan&) const = default;

  // The command line QEMU is run with (argv[0] the binary): views of args,
  // of the devices' texts and of literals, each a whole NUL-terminated
  // string; valid while the plan lives unchanged.
  std::vector<std::string_view> CommandLine() const;
  // The same, copied.
  std::vector<std::string> Argv() const;
};

// Plans the QEMU invocation. Pure: same inputs, same plan (PCI addresses
// included, which migration relies on). Refuses what the QEMU in `host`
// lacks with FailedPrecondition naming the option.
absl::StatusOr<Plan> MakePlan(const spec::Vmi& vmi, const HostFacts& host);

// The device table as JSON and back: how a launcher hands the devices it
// hot-plugged to the one that continues the VM (MachineOptions::
// hotplugged_devices). A malformed table is InvalidArgument naming the entry.
std::string DeviceEntriesToJson(const std::vector<DeviceEntry>& entries);
absl::StatusOr<std::vector<DeviceEntry>> DeviceEntriesFromJson(std::string_view json);

// Devices hot-plugged into a running VM, in the order they were added, put
// into a fresh plan as cold-plugged ones, so that a migration target or a
// restarted launcher has the same layout: appended to the devices, and
// their root ports taken off free_root_ports. A duplicate id is
// AlreadyExists; a device on a root port the plan lacks or already uses is
// FailedPrecondition; plan is then unchanged. Pure.
absl::Status AddHotpluggedDevices(const std::vector<DeviceEntry>& hotplugged,
                                  Plan& plan);

// ---------------------------------------------------------------------------
// VFIO hotplug

// The vfio-pci device that hot-plugs host PCI device `pci_address` as
// "ua-<name>" at 0x0 of root port `root_port` (one of Plan::free_root_ports),
// with the ROM file host.host_pci_devices names: the object cold plug would
// render, whose json is device_add's argument. No companion functions (see
// VfioHotplugDevices). InvalidArgument for an address that is not
// domain:bus:slot.function. Pure.
absl::StatusOr<DeviceEntry> VfioHotplugDevice(const std::string& name,
                                              const std::string& pci_address,
                                              const std::string& root_port,
                                              const HostFacts& host);

// The vfio-pci functions that hot-plug `pci_address` (function 0 of its
// slot) with its `companions` (other functions of the same slot, e.g. HDMI
// audio; hostdev::CompanionFunctions finds them) as one multifunction guest
// device on `root_port`, in the order device_add takes them: functions >0
// first ("ua-<name>-fn<N>" at 0x0.0x<N>), function 0 ("ua-<name>", with
// multifunction=on) last, as QEMU exposes the slot to the guest when
// function 0 arrives. The JSON is what cold plug renders. Every entry
// serves `name` (DeviceEntry::volume). Without companions: the one entry of
// VfioHotplugDevice. InvalidArgument for a malformed address, companions
// beside a function other than 0, or a companion in another slot or twice.
// Pure.
absl::StatusOr<std::vector<DeviceEntry>> VfioHotplugDevices(
    const std::string& name, const std::string& pci_address,
    const std::vector<std::string>& companions, const std::string& root_port,
    const HostFacts& host);

}  // namespace qdirect
