#pragma once

// VmiStatus: KubeVirt's VirtualMachineInstanceStatus (kubevirt.io/v1,
// pkg/apis/core/v1 types.go) as a plain C++ value type, and its JSON form.
//
// Design note.
// - One status struct per VM. vm::Machine owns it; every QMP event, process
//   exit, agent change and user intent goes through a pure StatusTracker
//   (lib/vm/status_tracker.h) that updates it. The tracker is I/O-free and
//   takes time as an argument, so every transition is a table-driven unit
//   test.
// - Field names are KubeVirt's, so the JSON that ToJson() writes is what
//   `kubectl get vmi -o json` shows under `.status`: camelCase keys, Go's
//   `omitempty` rules (empty strings, zero numbers, empty lists and nil
//   pointers are left out; non-pointer structs such as guestOSInfo are always
//   written, as encoding/json does), metav1.Time as RFC 3339 in UTC with
//   second precision, a zero condition time as `null`.
// - Only what a single-node runtime can know is modelled. Fields that belong
//   to the cluster (activePods, evacuationNodeName, selinuxContext, topology
//   hints, memory/CPU hotplug status, kernel boot checksums) are absent.
// - qdirect's own facts (QEMU pid, runtime dir, QEMU runstate, how the
//   process ended) live in `VmiStatus::qdirect`, never mixed into KubeVirt's
//   fields. ToJson writes them only when asked (JsonOptions), under a
//   top-level "qdirect" key, which a Kubernetes API server would prune.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace qdirect {

// VirtualMachineInstancePhase.
enum class VmiPhase {
  kUnset,  // "" (VmPhaseUnset)
  kPending,
  kScheduling,
  kScheduled,
  kRunning,
  kSucceeded,
  kFailed,
  kWaitingForSync,
  kUnknown,
};

// "Pending", "Running", ...; "" for kUnset.
std::string_view VmiPhaseName(VmiPhase phase);
// Inverse of VmiPhaseName; InvalidArgument for an unknown name.
absl::StatusOr<VmiPhase> ParseVmiPhase(std::string_view name);
// Succeeded or Failed: nothing will change the phase any more.
bool IsFinal(VmiPhase phase);

// Condition types and reasons, spelled as KubeVirt spells them.
namespace vmi_condition {
inline constexpr char kReady[] = "Ready";
inline constexpr char kPaused[] = "Paused";
inline constexpr char kAgentConnected[] = "AgentConnected";
inline constexpr char kLiveMigratable[] = "LiveMigratable";
inline constexpr char kStorageLiveMigratable[] = "StorageLiveMigratable";
inline constexpr char kSynchronized[] = "Synchronized";
inline constexpr char kProvisioning[] = "Provisioning";
inline constexpr char kDataVolumesReady[] = "DataVolumesReady";
}  // namespace vmi_condition

namespace vmi_reason {
inline constexpr char kPausedByUser[] = "PausedByUser";
inline constexpr char kPausedIOError[] = "PausedIOError";
inline constexpr char kPausedStartStrategy[] = "PausedStartStrategy";
inline constexpr char kGuestNotRunning[] = "GuestNotRunning";
inline constexpr char kNotMigratable[] = "NotMigratable";
}  // namespace vmi_reason

// k8s ConditionStatus.
enum class ConditionStatus { kTrue, kFalse, kUnknown };
std::string_view ConditionStatusName(ConditionStatus status);

// VirtualMachineInstanceCondition. An absent time renders as JSON null, as a
// zero metav1.Time does (KubeVirt never sets lastProbeTime).
struct VmiCondition {
  std::string type;
  ConditionStatus status = ConditionStatus::kUnknown;
  std::optional<absl::Time> last_probe_time;
  std::optional<absl::Time> last_transition_time;
  std::string reason;
  std::string message;
  bool operator==(const VmiCondition&) const = default;
};

// VirtualMachineInstancePhaseTransitionTimestamp.
struct VmiPhaseTransition {
  VmiPhase phase = VmiPhase::kUnset;
  absl::Time timestamp;
  bool operator==(const VmiPhaseTransition&) const = default;
};

// VirtualMachineInstanceNetworkInterface.
struct VmiInterface {
  std::string ip_address;                 // ipAddress (= ip_addresses[0])
  std::string mac;                        // mac
  std::string name;                       // name (the spec network name)
  std::vector<std::string> ip_addresses;  // ipAddresses
  std::string pod_interface_name;         // podInterfaceName
  std::string interface_name;             // interfaceName (inside the guest)
  std::string info_source;  // infoSource: "domain", "guest-agent", ...
  int32_t queue_count = 0;  // queueCount
  std::string link_state;   // linkState: "up" | "down"
  bool operator==(const VmiInterface&) const = default;
};

// VirtualMachineInstanceGuestOSInfo (from the guest agent).
struct GuestOsInfo {
  std::string name;
  std::string kernel_release;
  std::string version;
  std::string pretty_name;
  std::string version_id;
  std::string kernel_version;
  std::string machine;
  std::string id;
  bool operator==(const GuestOsInfo&) const = default;
};

// VirtualMachineInstanceMigrationState: the fields a node-to-node migration
// between two qdirect launchers can fill; the migration area owns them.
struct VmiMigrationState {
  std::optional<absl::Time> start_timestamp;
  std::optional<absl::Time> end_timestamp;
  std::optional<absl::Time> target_node_domain_ready_timestamp;
  bool target_node_domain_detected = false;
  std::string target_node_address;
  std::map<std::string, int> target_direct_migration_node_ports;
  std::string target_node;
  std::string target_pod;
  std::string source_node;
  std::string source_pod;
  bool completed = false;
  bool failed = false;
  bool abort_requested = false;
  std::string abort_status;    // "Succeeded" | "Failed" | "Aborting"
  std::string failure_reason;
  std::string migration_uid;   // JSON "migrationUid"
  std::string mode;            // "PreCopy" | "PostCopy" | "Paused"
  bool operator==(const VmiMigrationState&) const = default;
};

// HotplugVolumeStatus.
struct HotplugVolumeStatus {
  std::string attach_pod_name;
  std::string attach_pod_uid;
  bool operator==(const HotplugVolumeStatus&) const = default;
};

// VolumeStatus. name and target are written even when empty (no omitempty).
struct VmiVolumeStatus {
  std::string name;
  std::string target;   // guest device name, e.g. "vda"
  std::string phase;    // VolumePhase: "Pending", "Bound", "Ready", ...
  std::string reason;
  std::string message;
  std::optional<HotplugVolumeStatus> hotplug_volume;
  int64_t size = 0;
  bool operator==(const VmiVolumeStatus&) const = default;
};

// qdirect's own facts, outside KubeVirt's schema.
struct QdirectStatus {
  int qemu_pid = 0;          // 0: no QEMU process (yet or any more)
  std::string runtime_dir;   // per-VM directory holding the sockets
  std::string qemu_runstate; // query-status "status": "running", "paused"...
  // How QEMU ended, once it has: exit code, or the signal that killed it.
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  bool operator==(const QdirectStatus&) const = default;
};

// VirtualMachineInstanceStatus.
struct VmiStatus {
  std::string node_name;  // nodeName
  std::string reason;     // reason: brief CamelCase, e.g. "GuestPanicked"
  std::vector<VmiCondition> conditions;
  VmiPhase phase = VmiPhase::kUnset;
  std::vector<VmiPhaseTransition> phase_transition_timestamps;
  std::vector<VmiInterface> interfaces;
  GuestOsInfo guest_os_info;  // guestOSInfo (always written, as in Go)
  std::optional<VmiMigrationState> migration_state;
  std::string migration_method;     // "BlockMigration" | "LiveMigration"
  std::string migration_transport;  // "Unix"
  std::string qos_class;            // "Guaranteed" | "Burstable" | ...
  std::string launcher_container_image_version;
  std::vector<VmiVolumeStatus> volume_status;  // volumeStatus
  std::string fs_freeze_status;                // fsFreezeStatus: "frozen"
  uint64_t runtime_user = 0;  // runtimeUser (no omitempty: always written)

  QdirectStatus qdirect;
  bool operator==(const VmiStatus&) const = default;

  // The condition of `type`, or nullptr.
  const VmiCondition* FindCondition(std::string_view type) const;
};

struct VmiStatusJsonOptions {
  // Adds a top-level "qdirect" object with VmiStatus::qdirect.
  bool include_qdirect = false;
  // Indents the output (for humans).
  bool pretty = false;
};

// Renders `status` as the JSON of KubeVirt's `.status` object.
std::string ToJson(const VmiStatus& status,
                   const VmiStatusJsonOptions& options = {});

// Parses what ToJson writes (and what KubeVirt writes; unknown keys are
// ignored). Malformed JSON, a wrong type or an unknown phase is
// InvalidArgument naming the field, e.g. `status.conditions[1].status`.
absl::StatusOr<VmiStatus> VmiStatusFromJson(std::string_view json);

// status.guestOSInfo alone, as KubeVirt names it (`vmctl guestosinfo`, the
// launcher's control protocol), and back; errors name `path`'s fields.
std::string GuestOsInfoToJson(const GuestOsInfo& info, bool pretty = false);
absl::StatusOr<GuestOsInfo> GuestOsInfoFromJson(std::string_view json,
                                                std::string_view path = "guestOSInfo");

// RFC 3339 as metav1.Time writes it: "2026-11-25T13:55:52Z" (UTC, seconds).
std::string FormatKubeTime(absl::Time time);
// Accepts any RFC 3339 time (fractional seconds, offsets).
absl::StatusOr<absl::Time> ParseKubeTime(std::string_view text);

}  // namespace qdirect
