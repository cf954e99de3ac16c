#pragma once

// vm::Machine is one running VMI: it owns the QEMU process (pidfd), the QMP
// client, the serial console and the guest agent client, and keeps one
// VmiStatus (qdirect/vmi_status.h) that every operation and every QEMU event
// updates.
// It is a handle: not copyable, destroyed = QEMU killed and its runtime dir
// removed. All of it runs on one EventLoop; the blocking calls below run that
// loop until their answer or deadline (DESIGN.md, "One event loop per
// process"), so they must not be called from inside a loop callback.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qdirect/hotplug.h"
#include "qdirect/migration.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"
#include "qdirect/vm_stats.h"
#include "qdirect/vmi_status.h"

namespace qdirect {

class EventLoop;

namespace qmp {
class QmpClient;
}  // namespace qmp
namespace agent {
class AgentClient;  // qdirect/agent.h (ops area)
}  // namespace agent

namespace vm {

struct MachineOptions {
  // Under which the VM's private dir <root>/<namespace>_<name> is made.
  // Empty: $QDIRECT_RUNTIME_DIR, else /run/qdirect (root), else
  // $XDG_RUNTIME_DIR/qdirect.
  std::string runtime_root;
  // The loop that owns every fd of this Machine (it must outlive the
  // Machine); nullptr: a private loop.
  EventLoop* loop = nullptr;
  // Console output kept on disk (<runtime dir>/console.log, see ConsoleLog);
  // 0 disables the log (and with it AttachConsole's replay).
  int64_t console_log_bytes = 4 << 20;
  // Node name reported in status.nodeName.
  std::string node_name;
  // How long Start may take until the guest's vCPUs run.
  absl::Duration start_timeout = absl::Seconds(30);
  // The user QEMU runs as when we are root (set in the child before exec).
  // Empty: the first of libvirt-qemu, qemu, nobody. Ignored when not root.
  std::string qemu_user;
  // Devices hot-plugged into the VM this one continues (a migration source,
  // an earlier launcher), cold-plugged at start (AddHotpluggedDevices).
  std::vector<DeviceEntry> hotplugged_devices;
  // Live migration target: QEMU starts with `-incoming defer` (and without
  // -S: it runs after the migration exactly when the source ran), the
  // capabilities of incoming->options are set, and, when incoming->uri is
  // set, migrate-incoming listens there. Start then returns with QEMU
  // waiting for the stream (phase Scheduled); WaitIncoming follows it.
  struct Incoming {
    MigrationOptions options;
    std::string uri;  // "unix:/path", "tcp:host:port", "fd:name"; or empty
  };
  std::optional<Incoming> incoming;
};

// A console attachment: bytes from the guest arrive in on_output (replayed
// from the log first when asked); Write sends keystrokes. Detach by
// destroying it; the console keeps being logged. It may outlive the Machine
// (Write then fails with FailedPrecondition).
class ConsoleSession {
 public:
  virtual ~ConsoleSession() = default;
  virtual absl::Status Write(std::string_view bytes) = 0;
};

// When Start reached its milestones, for benchmarks and start-up figures.
struct MachineStartTimes {
  absl::Time exec;       // QEMU has exec'd (Spawn returned)
  absl::Time qmp_ready;  // greeting and qmp_capabilities done
  absl::Time running;    // `cont` answered (or the VM left paused)
};

class Machine {
 public:
  // Plans, launches QEMU paused (-S), connects QMP and the console, then
  // `cont` (unless spec.startStrategy is Paused). Returns once the phase is
  // Running, or the error that prevented it; QEMU is then gone, its exit
  // and the tail of its log are quoted, and the runtime dir is removed.
  static absl::StatusOr<std::unique_ptr<Machine>> Start(
      const spec::Vmi& vmi, const MachineOptions& options = {});

  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;
  // Kills QEMU if it still runs (SIGKILL), removes the files the plan
  // created and the runtime dir.
  ~Machine();

  // vCPUs stop / resume (QMP stop / cont). Paused condition: PausedByUser.
  absl::Status Pause();
  absl::Status Unpause();
  // Hard reset (system_reset).
  absl::Status Reset();
  // Soft reboot, as `virtctl soft-reboot`: through the guest agent
  // (guest-shutdown mode=reboot) when qemu-ga answers, else the ACPI power
  // button, whose power-off is turned into a reset (libvirt's fake reboot).
  // Returns once the guest was asked; the VMI stays Running throughout.
  // FailedPrecondition for a paused VM, or one with neither agent nor ACPI.
  absl::Status SoftReboot();
  // The stop policy: ACPI power button, wait up to grace (the spec's
  // terminationGracePeriodSeconds when unset, else 30 s), quit, SIGKILL.
  // Returns once QEMU has exited; the phase tells how (Succeeded or Failed).
  absl::Status Shutdown(std::optional<absl::Duration> grace = std::nullopt);
  // SIGKILL now; returns once QEMU has exited (phase Failed, ForcedStop).
  absl::Status Kill();

  // The current status (a copy: the loop may change it right after).
  VmiStatus Status() const;
  // One sample of the VM's counters (qdirect/vm_stats.h): vCPU thread
  // times, memory (QEMU's RSS, the balloon and what the guest reports to
  // it), per-disk I/O, and per-NIC counters when the guest agent answers.
  // FailedPrecondition when QEMU is not running.
  absl::StatusOr<VmStats> Stats();
  // Runs the loop until status.phase == phase or a final phase (returned as
  // FailedPrecondition when it is not `phase`), or DeadlineExceeded.
  absl::Status WaitFor(VmiPhase phase, absl::Time deadline);
  // Runs the loop until status.conditions has `type` with `status` (an
  // absent condition counts as False: KubeVirt removes AgentConnected and
  // Paused rather than setting them False) or the phase is final
  // (FailedPrecondition), or DeadlineExceeded.
  absl::Status WaitForCondition(std::string_view type, ConditionStatus status,
                                absl::Time deadline);
  // Called on the loop after every status change.
  void OnStatusChange(std::function<void(const VmiStatus&)> callback);

  // Attaches to the serial console; with replay, on_output first receives
  // (before this returns) what the console log retains.
  absl::StatusOr<std::unique_ptr<ConsoleSession>> AttachConsole(
      std::function<void(std::string_view)> on_output, bool replay);
  // The guest agent client, connected since Start to the VM's agent channel
  // (<runtime dir>/agent.sock). While it is in sync, status has the
  // AgentConnected condition, and guestOSInfo and interfaces (merged with
  // the spec's NICs, see lib/vm/guest_interfaces.h) are refreshed every
  // 10 s. FailedPrecondition when QEMU is not running or qemu-ga is not
  // answering (yet): wait with WaitForCondition(kAgentConnected, kTrue).
  // The pointer stays valid until the Machine is destroyed; the client
  // reconnects by itself after a guest reboot.
  absl::StatusOr<agent::AgentClient*> Agent();
  // The QMP session, for raw commands (vmctl qmp, the Python harness).
  // FailedPrecondition when QEMU is not running. Valid until the Machine is
  // destroyed; use it from the Machine's loop thread only.
  absl::StatusOr<qmp::QmpClient*> Qmp();

  // The devices hot-plugged since start (and those of
  // MachineOptions::hotplugged_devices), in order: what a migration target
  // or a new launcher needs to rebuild this layout.
  const std::vector<DeviceEntry>& HotpluggedDevices() const;

  // --- Hotplug (lib/vm/machine_hotplug.cc) --------------------------------
  // Each is refused (FailedPrecondition) while another long operation, such
  // as a migration, is under way, and leaves the VM as it was when it fails.
  // What was added is kept in HotpluggedDevices().
  //
  // Adds a volume (PVC, DataVolume or hostDisk, resolved as at start) on
  // the next free root port (virtio) or the SCSI controller: blockdev-add +
  // device_add, rolled back if a step fails. status.volumeStatus lists it
  // (phase Ready, hotplugVolume set).
  absl::StatusOr<HotplugResult> AddVolume(const VolumeHotplug& request);
  // Removes a hot-plugged volume: device_del, DEVICE_DELETED awaited, then
  // blockdev-del. kPending when the guest has not released it within
  // options.guest_wait (volumeStatus phase Detaching); it completes on the
  // event, and asking again meanwhile is FailedPrecondition "already being
  // unplugged". Cold-plugged volumes are refused, as in KubeVirt.
  absl::StatusOr<HotplugResult> RemoveVolume(const std::string& name,
                                             const HotplugOptions& options = {});
  // Adds a NIC (netdev_add + device_add) with the spec's MAC, or the
  // stable one derived from the VM and interface names.
  absl::StatusOr<HotplugResult> AddInterface(const InterfaceHotplug& request);
  // Removes a hot-plugged NIC, completed as RemoveVolume.
  absl::StatusOr<HotplugResult> RemoveInterface(
      const std::string& name, const HotplugOptions& options = {});
  // The NIC's link up or down (set_link), for any interface.
  absl::Status SetInterfaceLink(const std::string& name, bool up);
  // Plugs CPUs up to `sockets` sockets (query-hotpluggable-cpus +
  // device_add), within spec.domain.cpu.maxSockets. Fewer sockets than
  // plugged is refused (no vCPU unplug).
  absl::StatusOr<HotplugResult> SetVcpus(const VcpuHotplug& request);
  // Sets the guest memory between the boot size and
  // spec.domain.memory.maxGuest (virtio-mem requested-size). kPending when
  // the guest has not plugged it within options.guest_wait.
  absl::StatusOr<HotplugResult> SetGuestMemory(
      const MemoryHotplug& request, const HotplugOptions& options = {});
  // Puts `volume` (resolved as for AddVolume) into the cdrom disk
  // `disk_name`, or ejects its medium (nullopt): the tray is opened (forced),
  // the medium swapped, the tray closed; on failure the old medium is put
  // back. Not kept across a restart of the launcher (the spec's medium is).
  absl::Status ChangeMedia(const std::string& disk_name,
                           const std::optional<spec::Volume>& volume);
  // Hot-plugs a host PCI device as vfio-pci on the next free root port:
  // its IOMMU group must be viable (every member on vfio-pci or no driver),
  // /dev/vfio/<group> goes to QEMU's uid and QEMU's RLIMIT_MEMLOCK is
  // raised to guest RAM + 1 GiB; then device_add. QEMU's refusal comes back
  // quoted and undoes the rest. LiveMigratable turns False
  // (HostDeviceNotLiveMigratable).
  absl::StatusOr<HotplugResult> AddHostDevice(const HostDeviceHotplug& request);
  // Unplugs a hot-plugged host device (completed as RemoveVolume) and gives
  // its group device back.
  absl::StatusOr<HotplugResult> RemoveHostDevice(const std::string& name,
                                                 const HotplugOptions& options = {});
  // --- end of hotplug ------------------------------------------------------
  // ---- Live migration (lib/vm/machine_migration.cc) ----
  // Source: migrates to `uri` (a target started with
  // MachineOptions::incoming listening there), under the policy of
  // `options` (ops/migration_policy.h), calling on_progress with every
  // query-migrate sample (every 100 ms) on the caller's thread. on_progress
  // is called by Migrate itself, not from a loop callback: it may make
  // blocking calls. status.migrationState follows it (mode PreCopy,
  // PostCopy, Paused). On success QEMU quits and the phase is Succeeded;
  // the final sample (total time, downtime) is returned. On failure or
  // cancel before postcopy the guest keeps running here (cont-inued if the
  // migration paused it), the failure is in status.migrationState, and the
  // error says why: kCancelled (CancelMigration), kDeadlineExceeded (the
  // policy gave up), kAborted (QEMU failed it: target gone, unreachable).
  // In postcopy the guest runs on the target: when the channel breaks
  // (postcopy-paused, mode Paused) the target listens again by itself and
  // Migrate resumes (`migrate resume=true` to `uri`, with a short backoff)
  // for up to options.progress_timeout (ops/postcopy_recovery.h); past it,
  // kDeadlineExceeded says the guest is split between the hosts, and this
  // side is never resumed.
  // FailedPrecondition when LiveMigratable is False or another long
  // operation (a migration, a hotplug) runs.
  absl::StatusOr<MigrationProgress> Migrate(
      std::string_view uri, const MigrationOptions& options,
      std::function<void(const MigrationProgress&)> on_progress = nullptr);
  // Asks the running migration to stop (migrate_cancel, abortRequested);
  // returns at once, Migrate returns kCancelled. Safe from loop callbacks.
  // FailedPrecondition when no migration runs, or once it is in postcopy
  // (the guest runs on the target: a cancel would lose it).
  absl::Status CancelMigration();
  // Source, postcopy paused (the channel broke): migrate resume=true to
  // `uri` now. Migrate does this by itself on its own URI; this is for a
  // target that listens elsewhere (RecoverPostcopy). Safe from loop
  // callbacks.
  absl::Status ResumePostcopy(std::string_view uri);
  // Target: migrate-incoming on uri (when Start was not given one).
  absl::Status ListenIncoming(std::string_view uri);
  // Target: runs the loop until the incoming migration completed (then the
  // phase is Running; the Paused condition tells a paused source) or
  // failed (QEMU exits; the error quotes its log).
  absl::Status WaitIncoming(absl::Time deadline);
  // Target, postcopy paused: listen again on uri (migrate-recover). A
  // target does this by itself on its incoming URI when it sees the
  // channel break (from whatever runs its loop: WaitIncoming, a
  // launcher); this is for another URI, used for later breaks too.
  absl::Status RecoverPostcopy(std::string_view uri);

  const MachineStartTimes& start_times() const;
  // The loop this Machine runs on (the private one when none was given).
  EventLoop* loop() const;
  // <runtime root>/<namespace>_<name>.
  const std::string& runtime_dir() const;

 private:
  struct Impl;
  explicit Machine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vm
}  // namespace qdirect
