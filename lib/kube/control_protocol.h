#pragma once

// The launcher's control protocol: what `vmctl` (or the handler) asks a
// qdirect-launcher over <vm runtime dir>/control.sock, and what it answers.
// One JSON object per line each way, one request per connection at a time:
//   {"request":"stop","grace_seconds":30}
//   {"status":{...VMI status...}}  or  {"error":{"code":"NOT_FOUND","message":"..."}}
// Call sites use the typed structs below; only this file spells the JSON.
// After the reply to console_attach the connection carries raw console bytes
// both ways.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qdirect/agent.h"
#include "qdirect/hotplug.h"
#include "qdirect/migration.h"
#include "qdirect/vmi_status.h"

namespace qdirect::kube {

// The socket's file name inside the VM's runtime dir.
inline constexpr std::string_view kControlSocketName = "control.sock";
// A request line longer than this is refused unread (requests are small; a
// QMP passthrough's arguments are the largest).
inline constexpr size_t kMaxRequestBytes = 64 * 1024;
// A response line may carry the console log (4 MiB by default, escaped).
inline constexpr size_t kMaxResponseBytes = 32 << 20;

struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};
struct PauseRequest {
  bool operator==(const PauseRequest&) const = default;
};
struct UnpauseRequest {
  bool operator==(const UnpauseRequest&) const = default;
};
// system_reset.
struct ResetRequest {
  bool operator==(const ResetRequest&) const = default;
};
// Guest agent reboot, else ACPI (vm::Machine::SoftReboot).
struct SoftRebootRequest {
  bool operator==(const SoftRebootRequest&) const = default;
};
// The stop policy (ACPI, grace, quit, SIGKILL); the reply comes once the
// phase is final.
struct StopRequest {
  // The spec's terminationGracePeriodSeconds when unset.
  std::optional<int64_t> grace_seconds;
  bool operator==(const StopRequest&) const = default;
};
struct KillRequest {
  bool operator==(const KillRequest&) const = default;
};
// A raw QMP command, passed through.
struct QmpRequest {
  std::string command;
  // A JSON object's text; empty: no arguments.
  std::string arguments;
  bool operator==(const QmpRequest&) const = default;
};
// One sample of the VM's counters (vm::Machine::Stats).
struct StatsRequest {
  bool operator==(const StatsRequest&) const = default;
};
// What the console log retains.
struct ConsoleLogRequest {
  bool operator==(const ConsoleLogRequest&) const = default;
};
struct GuestOsInfoRequest {
  bool operator==(const GuestOsInfoRequest&) const = default;
};
struct FsListRequest {
  bool operator==(const FsListRequest&) const = default;
};
struct UserListRequest {
  bool operator==(const UserListRequest&) const = default;
};
// After an OK reply the connection is the serial console.
struct ConsoleAttachRequest {
  bool operator==(const ConsoleAttachRequest&) const = default;
};

// --- hotplug (vm::Machine::AddVolume ...; vmctl hotplug_command.cc) ---
// The reply carries the VMI status and a HotplugResult.
// {"request":"add_volume","name":"data","disk_path":"/srv/d.img","bus":"virtio",...}
struct AddVolumeRequest {
  std::string name;        // the volume's and the disk's name
  std::string disk_path;   // hostDisk: an existing image or block device
  std::string claim_name;  // or persistentVolumeClaim.claimName
  std::string bus = "virtio";  // "virtio" | "scsi"
  std::string serial;
  bool read_only = false;
  std::string cache;  // "" | "none" | "writethrough" | "writeback"
  bool operator==(const AddVolumeRequest&) const = default;
};
struct RemoveVolumeRequest {
  std::string name;
  bool operator==(const RemoveVolumeRequest&) const = default;
};
struct AddInterfaceRequest {
  std::string name;
  std::string mac;                  // "" : stable, derived from the names
  std::string model = "virtio";
  std::string binding = "masquerade";  // masquerade | bridge | slirp
  bool operator==(const AddInterfaceRequest&) const = default;
};
struct RemoveInterfaceRequest {
  std::string name;
  bool operator==(const RemoveInterfaceRequest&) const = default;
};
struct SetLinkRequest {
  std::string name;
  bool up = true;
  bool operator==(const SetLinkRequest&) const = default;
};
// vCPU sockets and/or the guest memory in bytes (at least one).
struct ScaleRequest {
  std::optional<uint32_t> sockets;
  std::optional<int64_t> memory_bytes;
  bool operator==(const ScaleRequest&) const = default;
};
// A cdrom's new medium (disk_path or claim_name), or eject.
struct ChangeMediaRequest {
  std::string name;  // the cdrom disk
  std::string disk_path;
  std::string claim_name;
  bool eject = false;
  bool operator==(const ChangeMediaRequest&) const = default;
};
// A host PCI device passed through (vm::Machine::AddHostDevice):
// {"request":"add_host_device","name":"gpu1","pci_address":"0000:65:00.0",
//  "with_companions":true}. with_companions: the other functions of its slot
// and IOMMU group come along as one multifunction device (KubeVirt's way).
struct AddHostDeviceRequest {
  std::string name;
  std::string pci_address;
  bool with_companions = true;
  bool operator==(const AddHostDeviceRequest&) const = default;
};
struct RemoveHostDeviceRequest {
  std::string name;
  bool operator==(const RemoveHostDeviceRequest&) const = default;
};
// --- end of hotplug ---
// ---- Live migration (issue 4) ----
// Migrate the VM to a target listening on uri; the reply comes when the
// migration has ended (the status then tells where the VM runs). The
// options travel under KubeVirt's MigrationConfiguration names.
struct MigrateRequest {
  std::string uri;
  MigrationOptions options;
  bool operator==(const MigrateRequest&) const = default;
};
// Cancel the running migration; answered at once.
struct MigrateCancelRequest {
  bool operator==(const MigrateCancelRequest&) const = default;
};
// The last query-migrate sample of the running (or last) migration;
// answered at once, also while a migration runs.
struct MigrationProgressRequest {
  bool operator==(const MigrationProgressRequest&) const = default;
};

using ControlRequest =
    std::variant<StatusRequest, PauseRequest, UnpauseRequest, ResetRequest,
                 SoftRebootRequest, StopRequest, KillRequest, QmpRequest,
                 StatsRequest, ConsoleLogRequest,
                 GuestOsInfoRequest, FsListRequest, UserListRequest,
                 ConsoleAttachRequest, AddVolumeRequest, RemoveVolumeRequest,
                 AddInterfaceRequest, RemoveInterfaceRequest, SetLinkRequest,
                 ScaleRequest, ChangeMediaRequest, AddHostDeviceRequest,
                 RemoveHostDeviceRequest, MigrateRequest,
                 MigrateCancelRequest, MigrationProgressRequest>;

// "status", "pause", ... as on the wire.
std::string_view RequestName(const ControlRequest& request);

// One line, '\n'-terminated. InvalidArgument when a QmpRequest's arguments
// are not a JSON object.
absl::StatusOr<std::string> EncodeRequest(const ControlRequest& request);
// One line (the '\n' optional). Malformed JSON, an unknown request or a
// field of the wrong type is InvalidArgument naming it.
absl::StatusOr<ControlRequest> DecodeRequest(std::string_view line);

// `vmctl qmp NAME '{"execute":"query-status","arguments":{...}}'`: a QMP
// command object as QEMU takes it, into a QmpRequest.
absl::StatusOr<QmpRequest> QmpRequestFromCommandJson(std::string_view json);

// The answer to any request: an error, or the payload the request asks for.
struct ControlResponse {
  absl::Status error;  // OK: success
  // status and the lifecycle requests: the VMI status afterwards.
  std::optional<VmiStatus> status;
  // qmp: QEMU's "return" value as JSON text.
  std::optional<std::string> qmp_return;
  // stats: the sample as JSON text (qdirect::VmStatsToJson).
  std::optional<std::string> stats;
  // console_log.
  std::optional<std::string> console_log;
  std::optional<GuestOsInfo> guest_os_info;
  std::optional<std::vector<agent::Filesystem>> filesystems;
  std::optional<std::vector<agent::GuestUser>> users;
  // The hotplug requests: {"hotplug":{"outcome":"Done"|"Pending",
  // "device":"ua-data","message":"..."}}.
  std::optional<HotplugResult> hotplug;
  // migration_progress ("migrationProgress"), and migrate's final sample.
  std::optional<MigrationProgress> migration_progress;
};

// The typed hotplug requests of an add_volume / add_interface request;
// InvalidArgument naming the field for a value they do not take.
absl::StatusOr<VolumeHotplug> ToVolumeHotplug(const AddVolumeRequest& request);
absl::StatusOr<InterfaceHotplug> ToInterfaceHotplug(
    const AddInterfaceRequest& request);
// The typed request of an add_host_device request; InvalidArgument naming
// the field for a PCI address that is not domain:bus:slot.function.
absl::StatusOr<HostDeviceHotplug> ToHostDeviceHotplug(
    const AddHostDeviceRequest& request);
// The medium of a change_media request (nullopt: eject).
absl::StatusOr<std::optional<spec::Volume>> ToMediaVolume(
    const ChangeMediaRequest& request);

// MigrationOptions as a JSON object under KubeVirt's MigrationConfiguration
// names (what a migrate request carries; qdirect-launcher's
// --migration-options).
std::string MigrationOptionsToJson(const MigrationOptions& options);
absl::StatusOr<MigrationOptions> MigrationOptionsFromJson(std::string_view json);

std::string EncodeResponse(const ControlResponse& response);
absl::StatusOr<ControlResponse> DecodeResponse(std::string_view line);

// KubeVirt's JSON for what the guest agent reports
// (VirtualMachineInstanceGuestAgentInfo's fsInfo.disks and userList; its
// guestOSInfo is qdirect::GuestOsInfoToJson), as `vmctl fslist|userlist`
// prints it.
std::string FilesystemsToJson(const std::vector<agent::Filesystem>& filesystems,
                              bool pretty);
std::string UsersToJson(const std::vector<agent::GuestUser>& users, bool pretty);

}  // namespace qdirect::kube
