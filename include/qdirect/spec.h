#pragma once

// The KubeVirt kubevirt.io/v1 VirtualMachineInstance spec as plain C++ value
// types, its decoder (YAML and JSON, multi-document) and its validation.
//
// Names follow KubeVirt's API (pkg/apis/core/v1 types.go, schema.go):
// a field `spec.domain.devices.disks[].bootOrder` is `Disk::boot_order`.
// Decoding applies KubeVirt's defaults, so a decoded Vmi is complete: the
// planner never guesses.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qdirect::spec {

// ---------------------------------------------------------------------------
// Kubernetes quantities

// Quantity is a Kubernetes resource quantity ("1024M", "2Gi", "500m", "1e3"),
// parsed exactly as k8s.io/apimachinery/pkg/api/resource does.
struct Quantity {
  std::string text;   // as written
  int64_t value = 0;  // Value(): rounded up to an integer (bytes, cores)
  int64_t milli = 0;  // MilliValue(): value * 1000, rounded up
  bool operator==(const Quantity&) const = default;
};

// Parses a quantity. A malformed string or a value whose milli-value does
// not fit in int64 is InvalidArgument.
absl::StatusOr<Quantity> ParseQuantity(std::string_view text);

// ---------------------------------------------------------------------------
// Field errors, kube style

// FieldError is one finding with a kube-style field path, e.g.
// `spec.domain.devices.disks[1].bus: Unsupported value: "ide": supported
// values: "sata", "scsi", "usb", "virtio"`.
struct FieldError {
  enum class Type {
    kRequired,     // "Required value"
    kInvalid,      // "Invalid value"
    kUnsupported,  // "Unsupported value"
    kDuplicate,    // "Duplicate value"
    kNotFound,     // "Not found"
    kForbidden,    // "Forbidden"
    kTooMany,      // "Too many"
    kTooLong,      // "Too long"
    kUnknown,      // unknown field (a warning unless strict)
    kSyntax,       // YAML/JSON syntax error; path is "line L, column C"
  };
  Type type = Type::kInvalid;
  std::string path;    // "spec.domain.devices.disks[1].bus"
  std::string value;   // the offending value as text, if any
  std::string detail;  // free text after the value
  // Where the field is in the YAML source (1-based; 0 when unknown, e.g. for
  // JSON input or a defaulted field). Not part of ToString().
  uint32_t line = 0;
  uint32_t column = 0;

  // Renders as Kubernetes' field.Error does.
  std::string ToString() const;
  bool operator==(const FieldError&) const = default;
};

// ---------------------------------------------------------------------------
// The VMI spec

struct ObjectMeta {
  std::string name;
  std::string namespace_ = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string uid;
  bool operator==(const ObjectMeta&) const = default;
};

struct ResourceRequirements {
  // Transparent: looked up by literal names without a string built.
  std::map<std::string, Quantity, std::less<>> requests;  // "cpu", "memory", ...
  std::map<std::string, Quantity, std::less<>> limits;
  bool overcommit_guest_overhead = false;
  bool operator==(const ResourceRequirements&) const = default;
};

struct CpuFeature {
  std::string name;
  std::string policy = "require";  // force|require|optional|disable|forbid
  bool operator==(const CpuFeature&) const = default;
};

struct Cpu {
  uint32_t cores = 1;
  uint32_t sockets = 1;
  uint32_t threads = 1;
  std::optional<uint32_t> max_sockets;  // vCPU hotplug ceiling
  // "host-passthrough", "host-model" or a QEMU CPU model name; empty means
  // KubeVirt's default (host-model under KVM; the planner picks for TCG).
  std::string model;
  std::vector<CpuFeature> features;
  bool dedicated_cpu_placement = false;
  bool isolate_emulator_thread = false;
  bool operator==(const Cpu&) const = default;
};

struct Hugepages {
  std::string page_size;  // "2Mi" or "1Gi"
  bool operator==(const Hugepages&) const = default;
};

struct Memory {
  // Guest-visible memory. Defaulted from resources.requests.memory when
  // unset (KubeVirt's rule), so after decoding it is always set for a valid
  // spec.
  std::optional<Quantity> guest;
  std::optional<Quantity> max_guest;  // virtio-mem hotplug ceiling
  std::optional<Hugepages> hugepages;
  bool operator==(const Memory&) const = default;
};

struct Machine {
  std::string type = "q35";
  bool operator==(const Machine&) const = default;
};

struct Bios {
  bool use_serial = false;
  bool operator==(const Bios&) const = default;
};

struct Efi {
  bool secure_boot = true;  // KubeVirt's default
  bool persistent = false;
  bool operator==(const Efi&) const = default;
};

struct KernelBootContainer {
  std::string image;
  std::string kernel_path;
  std::string initrd_path;
  std::string image_pull_policy;
  bool operator==(const KernelBootContainer&) const = default;
};

struct KernelBoot {
  std::string kernel_args;
  std::optional<KernelBootContainer> container;
  bool operator==(const KernelBoot&) const = default;
};

struct Firmware {
  std::string uuid;    // empty: derived from name by the planner
  std::string serial;  // SMBIOS serial
  std::variant<Bios, Efi> bootloader = Bios{};
  std::optional<KernelBoot> kernel_boot;
  bool operator==(const Firmware&) const = default;
};

// KubeVirt's FeatureState: present in the spec means enabled unless
// `enabled: false`.
struct FeatureState {
  bool enabled = true;
  bool operator==(const FeatureState&) const = default;
};

struct FeatureSpinlocks {
  bool enabled = true;
  uint32_t spinlocks = 4096;  // retries
  bool operator==(const FeatureSpinlocks&) const = default;
};

struct FeatureVendorId {
  bool enabled = true;
  std::string vendor_id;
  bool operator==(const FeatureVendorId&) const = default;
};

struct SyNicTimer {
  bool enabled = true;
  std::optional<FeatureState> direct;
  bool operator==(const SyNicTimer&) const = default;
};

struct Hyperv {
  std::optional<FeatureState> relaxed;
  std::optional<FeatureState> vapic;
  std::optional<FeatureSpinlocks> spinlocks;
  std::optional<FeatureState> vpindex;
  std::optional<FeatureState> runtime;
  std::optional<FeatureState> synic;
  std::optional<SyNicTimer> synictimer;
  std::optional<FeatureState> reset;
  std::optional<FeatureVendorId> vendorid;
  std::optional<FeatureState> frequencies;
  std::optional<FeatureState> reenlightenment;
  std::optional<FeatureState> tlbflush;
  std::optional<FeatureState> ipi;
  std::optional<FeatureState> evmcs;
  bool operator==(const Hyperv&) const = default;
};

struct Features {
  FeatureState acpi;  // enabled unless `acpi: {enabled: false}`
  std::optional<FeatureState> apic;
  std::optional<FeatureState> smm;
  std::optional<FeatureState> pvspinlock;
  std::optional<FeatureState> kvm_hidden;  // features.kvm.hidden
  std::optional<Hyperv> hyperv;
  bool operator==(const Features&) const = default;
};

struct Timer {
  bool present = true;
  std::string tick_policy;  // delay|catchup|merge|discard
  std::string track;        // rtc only: guest|wall
  bool operator==(const Timer&) const = default;
};

struct Clock {
  // Exactly one of utc / timezone; utc with no offset is the default.
  std::optional<int32_t> utc_offset_seconds;
  std::string timezone;
  std::optional<Timer> hpet;
  std::optional<Timer> kvm;
  std::optional<Timer> pit;
  std::optional<Timer> rtc;
  std::optional<Timer> hyperv;
  bool operator==(const Clock&) const = default;
};

enum class DiskBus { kVirtio, kSata, kScsi, kUsb };
enum class DiskCache { kDefault, kNone, kWriteThrough, kWriteBack };
enum class DiskIo { kDefault, kNative, kThreads };

// One entry of spec.domain.devices.disks.
struct Disk {
  enum class Type { kDisk, kCdrom, kLun };
  std::string name;
  Type type = Type::kDisk;
  // Defaulted: virtio for disk, sata for cdrom, scsi for lun.
  DiskBus bus = DiskBus::kVirtio;
  bool readonly = false;  // cdrom defaults to true
  std::optional<uint32_t> boot_order;
  std::string serial;
  DiskCache cache = DiskCache::kDefault;
  DiskIo io = DiskIo::kDefault;
  bool shareable = false;
  bool dedicated_io_thread = false;
  std::string pci_address;  // disk.pciAddress, virtio only
  std::string tag;
  bool operator==(const Disk&) const = default;
};

struct Port {
  std::string name;
  std::string protocol = "TCP";
  uint32_t port = 0;
  bool operator==(const Port&) const = default;
};

// One entry of spec.domain.devices.interfaces.
struct Interface {
  enum class Binding { kBridge, kMasquerade, kPasst, kSriov, kSlirp, kMacvtap };
  std::string name;
  Binding binding = Binding::kBridge;
  std::string model = "virtio";  // virtio|e1000|e1000e|igb|ne2k_pci|pcnet|rtl8139
  std::string mac_address;
  std::vector<Port> ports;
  std::string pci_address;
  std::optional<uint32_t> boot_order;
  std::string state;  // "", "up", "down", "absent"
  std::string tag;
  bool operator==(const Interface&) const = default;
};

struct VgpuDisplay {
  bool enabled = true;
  bool ramfb = true;
  bool operator==(const VgpuDisplay&) const = default;
};

struct Gpu {
  std::string name;
  std::string device_name;  // "nvidia.com/T4"
  std::optional<VgpuDisplay> display;  // virtualGPUOptions.display
  std::string tag;
  bool operator==(const Gpu&) const = default;
};

struct HostDevice {
  std::string name;
  std::string device_name;
  std::string tag;
  bool operator==(const HostDevice&) const = default;
};

struct Watchdog {
  std::string name;
  std::string action = "reset";  // i6300esb.action: poweroff|reset|shutdown
  bool operator==(const Watchdog&) const = default;
};

struct Input {
  std::string name;
  std::string type = "tablet";
  std::string bus = "usb";  // usb|virtio
  bool operator==(const Input&) const = default;
};

struct Devices {
  std::vector<Disk> disks;
  std::vector<Interface> interfaces;
  std::vector<Gpu> gpus;
  std::vector<HostDevice> host_devices;
  std::vector<Input> inputs;
  std::optional<Watchdog> watchdog;
  bool rng = false;
  bool autoattach_serial_console = true;
  bool autoattach_graphics_device = true;
  bool autoattach_mem_balloon = true;
  bool autoattach_pod_interface = true;
  bool block_multi_queue = false;
  bool network_interface_multiqueue = false;
  bool use_virtio_transitional = false;
  bool operator==(const Devices&) const = default;
};

struct Domain {
  ResourceRequirements resources;
  Cpu cpu;
  Memory memory;
  Machine machine;
  Firmware firmware;
  Features features;
  Clock clock;
  Devices devices;
  std::string io_threads_policy;  // "", "shared", "auto"
  bool operator==(const Domain&) const = default;
};

// Volume sources (spec.volumes[].<source>).
struct ContainerDiskSource {
  std::string image;
  std::string path;  // file inside the image; default: the one under disk/
  std::string image_pull_policy;
  bool operator==(const ContainerDiskSource&) const = default;
};
struct PersistentVolumeClaimSource {
  std::string claim_name;
  bool read_only = false;
  bool hotpluggable = false;
  bool operator==(const PersistentVolumeClaimSource&) const = default;
};
struct DataVolumeSource {
  std::string name;
  bool hotpluggable = false;
  bool operator==(const DataVolumeSource&) const = default;
};
struct HostDiskSource {
  std::string path;
  std::string type = "Disk";  // Disk|DiskOrCreate
  std::optional<Quantity> capacity;
  bool shared = false;
  bool operator==(const HostDiskSource&) const = default;
};
struct EmptyDiskSource {
  Quantity capacity;
  bool operator==(const EmptyDiskSource&) const = default;
};
struct EphemeralSource {
  PersistentVolumeClaimSource persistent_volume_claim;
  bool operator==(const EphemeralSource&) const = default;
};
// cloudInitNoCloud and cloudInitConfigDrive share their fields.
struct CloudInitSource {
  enum class Flavor { kNoCloud, kConfigDrive };
  Flavor flavor = Flavor::kNoCloud;
  std::string user_data;  // decoded (userDataBase64 is decoded here)
  std::string network_data;
  std::string user_data_secret_ref;
  std::string network_data_secret_ref;
  bool operator==(const CloudInitSource&) const = default;
};
// configMap, secret, serviceAccount, downwardAPI: exposed as an ISO disk.
struct ConfigSource {
  enum class Kind { kConfigMap, kSecret, kServiceAccount, kDownwardApi };
  Kind kind = Kind::kConfigMap;
  std::string name;  // configMap name / secretName / serviceAccountName
  std::string volume_label;
  bool optional = false;
  bool operator==(const ConfigSource&) const = default;
};

using VolumeSource =
    std::variant<ContainerDiskSource, PersistentVolumeClaimSource,
                 DataVolumeSource, HostDiskSource, EmptyDiskSource,
                 EphemeralSource, CloudInitSource, ConfigSource>;

struct Volume {
  std::string name;
  VolumeSource source;
  bool operator==(const Volume&) const = default;
};

struct PodNetwork {
  std::string vm_network_cidr;
  std::string vm_ipv6_network_cidr;
  bool operator==(const PodNetwork&) const = default;
};
struct MultusNetwork {
  std::string network_name;
  bool is_default = false;
  bool operator==(const MultusNetwork&) const = default;
};

struct Network {
  std::string name;
  std::variant<PodNetwork, MultusNetwork> source;
  bool operator==(const Network&) const = default;
};

enum class EvictionStrategy { kNone, kLiveMigrate, kLiveMigrateIfPossible, kExternal };

// Vmi is one VirtualMachineInstance (or a VirtualMachine's spec.template).
struct Vmi {
  // "VirtualMachineInstance" or "VirtualMachine" (decoded from its template).
  std::string source_kind = "VirtualMachineInstance";
  // Field path of the VMI spec in the source document: "spec" for a VMI,
  // "spec.template.spec" for a VM. Validation errors start with it.
  std::string spec_path = "spec";
  ObjectMeta metadata;
  Domain domain;
  std::vector<Volume> volumes;
  std::vector<Network> networks;
  // Unset means the runtime's default (qdirect: 30 s, see README).
  std::optional<int64_t> termination_grace_period_seconds;
  std::optional<EvictionStrategy> eviction_strategy;
  std::string hostname;
  std::string subdomain;
  std::map<std::string, std::string> node_selector;
  std::string start_strategy;  // "" or "Paused"
  bool operator==(const Vmi&) const = default;
};

// ---------------------------------------------------------------------------
// Decoding

// Limits against abuse; every one is checked before the work it guards.
struct DecodeLimits {
  size_t max_document_bytes = 4 << 20;
  size_t max_documents = 64;
  size_t max_depth = 64;
  size_t max_string_bytes = 256 << 10;  // cloud-init user data is large
  size_t max_name_bytes = 253;
  size_t max_disks = 256;
  size_t max_interfaces = 32;
  size_t max_host_devices = 32;  // gpus + hostDevices
  size_t max_volumes = 256;
};

struct DecodeOptions {
  // Turns warnings (unknown fields, misplaced fields) into errors.
  bool strict = false;
  DecodeLimits limits;
};

// One decoded VM or VMI document, with its own findings.
struct DecodedVmi {
  size_t document_index = 0;  // 0-based position in the stream
  Vmi vmi;
  std::vector<FieldError> errors;    // decoding and validation errors
  std::vector<FieldError> warnings;  // unknown or misplaced fields
};

struct DecodeResult {
  std::vector<DecodedVmi> vmis;
  // Findings about the stream itself (syntax errors with line and column,
  // size limits, a document that is not an object).
  std::vector<FieldError> errors;
  std::vector<FieldError> warnings;
  // One line per skipped document: `document 2: skipped kind
  // PersistentVolumeClaim "database-pvc"`.
  std::vector<std::string> notices;
  // True when neither the stream nor any VMI has an error.
  bool ok() const;
};

// Decodes a YAML (multi-document) or JSON stream. VirtualMachine and
// VirtualMachineInstance documents become Vmis with KubeVirt's defaults
// applied, and are validated (Validate below); other kinds are skipped with
// a notice. Never fails as a whole: errors are gathered in the result.
DecodeResult Decode(std::string_view text, const DecodeOptions& options = {});

// Validates a decoded VMI: every rule, every error, with field paths under
// vmi.spec_path.
std::vector<FieldError> Validate(const Vmi& vmi, const DecodeLimits& limits = {});

// Convenience for callers that want exactly one VMI: decode, then fail with
// InvalidArgument listing every error (one per line) unless the stream holds
// exactly one valid VM/VMI.
absl::StatusOr<Vmi> LoadVmi(std::string_view text,
                            const DecodeOptions& options = {});

// Names of enums as KubeVirt spells them ("virtio", "writeback", ...).
std::string_view ToString(DiskBus bus);
std::string_view ToString(DiskCache cache);
std::string_view ToString(DiskIo io);
std::string_view ToString(Disk::Type type);
std::string_view ToString(Interface::Binding binding);
std::string_view ToString(EvictionStrategy strategy);

}  // namespace qdirect::spec
