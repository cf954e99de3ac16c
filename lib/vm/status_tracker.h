#pragma once

// StatusTracker: the pure state machine behind vm::Machine's VmiStatus. It
// is fed typed inputs (QMP events, query-status replies, process exit, guest
// agent changes, user intents) with the time they happened, and keeps the
// KubeVirt status they imply. No I/O and no clock: the Machine passes
// `now`, tests pass fixed times.
//
// Phase rules follow virt-handler's mapping of libvirt domain states:
//   launched (QEMU started with -S)      -> Scheduled
//   vCPUs running (RESUME / "running")    -> Running; stays Running while
//                                            paused (the Paused condition
//                                            says so, as in KubeVirt)
//   guest shut itself down                -> Succeeded
//   guest panicked, QEMU crashed, killed
//   by a signal we did not send           -> Failed
//   stopped by us: ACPI acknowledged by
//   the guest -> Succeeded; forced (quit
//   or SIGKILL after the grace period)    -> Failed when the VM has ACPI,
//                                            Succeeded without (as
//                                            virt-handler's ReasonDestroyed)
// A final phase never changes again.

#include <string>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "qdirect/vmi_status.h"

namespace qdirect::vm {

// ---------------------------------------------------------------------------
// QMP events (QEMU 7.2 names and fields).

struct QmpStopEvent {};
struct QmpResumeEvent {};
// SHUTDOWN: guest is true when the guest asked (ACPI off, triple fault with
// -no-reboot...); reason is QEMU's ShutdownCause: "guest-shutdown",
// "guest-reset", "guest-panic", "host-qmp-quit", "host-signal", ...
struct QmpShutdownEvent {
  bool guest = false;
  std::string reason;
};
struct QmpPowerdownEvent {};
struct QmpResetEvent {
  bool guest = false;
  std::string reason;
};
// GUEST_PANICKED: action is "pause", "poweroff" or "run".
struct QmpGuestPanickedEvent {
  std::string action;
  std::string info;  // panic info rendered as text, if QEMU sent any
};
// BLOCK_IO_ERROR: action is "ignore", "report" or "stop".
struct QmpBlockIoErrorEvent {
  std::string device;  // qdev id or block backend name; may be empty
  std::string node_name;
  std::string operation;  // "read" | "write"
  std::string action;
  bool nospace = false;
  std::string reason;  // strerror text
};

// query-status reply.
struct QueryStatusResult {
  bool running = false;
  std::string status;  // RunState: "prelaunch", "running", "paused", ...
};

// ---------------------------------------------------------------------------
// Process, agent and intents.

// QEMU was spawned (paused with -S); pid for the qdirect extras.
struct ProcessStarted {
  int pid = 0;
  std::string runtime_dir;
};

// QEMU's pidfd became readable.
struct ProcessExited {
  bool signaled = false;
  int code = 0;    // exit status when !signaled
  int signal = 0;  // terminating signal when signaled
};

struct AgentConnected {};
struct AgentDisconnected {};
struct GuestOsInfoUpdate {
  GuestOsInfo info;
};
// status.interfaces as a whole (guest_interfaces.h computes it from the
// domain's NICs and the guest agent's report).
struct InterfacesUpdate {
  std::vector<VmiInterface> interfaces;
};
// status.volumeStatus as a whole (hotplug keeps it, machine_hotplug.cc).
struct VolumeStatusUpdate {
  std::vector<VmiVolumeStatus> volumes;
};

// The user (or the launcher) asked for something. Recorded so that the QMP
// event that follows is attributed: a STOP after PauseRequested is
// PausedByUser; a SHUTDOWN or exit after StopRequested is ours.
struct PauseRequested {};
struct UnpauseRequested {};
// The VM starts paused (spec.startStrategy: Paused).
struct StartPausedRequested {};
// Graceful stop (ACPI first). grace 0 means forced at once.
struct StopRequested {
  absl::Duration grace = absl::Seconds(30);
};
// We escalated to `quit` or SIGKILL: whatever ends QEMU now is forced.
struct ForceStopStarted {};
// A soft reboot over ACPI is under way: the guest's power-off that follows
// the power button is turned into a reset (system_reset + cont), so it
// ends nothing and pauses nothing. Cleared when the vCPUs resume, or by
// pending=false when the power button could not be pressed.
struct RebootRequested {
  bool pending = true;
};

// ---------------------------------------------------------------------------
// Live migration (the migration area decides; the tracker records).

// The LiveMigratable condition computed from the spec (ops/live_migratable.h).
struct LiveMigratableUpdate {
  VmiCondition condition;
};
// status.migrationState as a whole.
struct MigrationStateUpdate {
  VmiMigrationState state;
};
// A migration runs (active) or ended: QEMU's STOP at switchover is not a
// pause by the user.
struct MigrationRunning {
  bool active = false;
};
// The VM now runs on the target: the source QEMU's end is a success.
struct MigratedOut {
  std::string target;
};

using TrackerInput =
    std::variant<QmpStopEvent, QmpResumeEvent, QmpShutdownEvent,
                 QmpPowerdownEvent, QmpResetEvent, QmpGuestPanickedEvent,
                 QmpBlockIoErrorEvent, QueryStatusResult, ProcessStarted,
                 ProcessExited, AgentConnected, AgentDisconnected,
                 GuestOsInfoUpdate, InterfacesUpdate, PauseRequested,
                 UnpauseRequested, StartPausedRequested, StopRequested,
                 ForceStopStarted, RebootRequested, VolumeStatusUpdate,
                 LiveMigratableUpdate, MigrationStateUpdate, MigrationRunning,
                 MigratedOut>;

struct StatusTrackerOptions {
  // The guest has ACPI (spec.domain.features.acpi, on by default): a stop
  // that had to be forced is then a failure, as in KubeVirt.
  bool acpi = true;
};

class StatusTracker {
 public:
  // Starts in phase Pending at `now`.
  explicit StatusTracker(absl::Time now, StatusTrackerOptions options = {});

  // Applies one input that happened at `now`. Returns true when the status
  // changed (callers publish only then).
  bool Apply(const TrackerInput& input, absl::Time now);

  const VmiStatus& status() const { return status_; }

 private:
  enum class PauseCause { kNone, kUser, kIoError, kStartStrategy };

  void On(const QmpStopEvent&);
  void On(const QmpResumeEvent&);
  void On(const QmpShutdownEvent&);
  void On(const QmpPowerdownEvent&) {}
  void On(const QmpResetEvent&) {}
  void On(const QmpGuestPanickedEvent&);
  void On(const QmpBlockIoErrorEvent&);
  void On(const QueryStatusResult&);
  void On(const ProcessStarted&);
  void On(const ProcessExited&);
  void On(const AgentConnected&);
  void On(const AgentDisconnected&);
  void On(const GuestOsInfoUpdate&);
  void On(const InterfacesUpdate&);
  void On(const VolumeStatusUpdate&);
  void On(const PauseRequested&);
  void On(const UnpauseRequested&);
  void On(const StartPausedRequested&);
  void On(const StopRequested&);
  void On(const ForceStopStarted&);
  void On(const RebootRequested& r) { reboot_requested_ = r.pending; }
  void On(const LiveMigratableUpdate&);
  void On(const MigrationStateUpdate&);
  void On(const MigrationRunning&);
  void On(const MigratedOut&);

  // Sets the phase (appending a phaseTransitionTimestamp); final phases
  // stick.
  void SetPhase(VmiPhase phase);
  void Finish(VmiPhase phase, std::string reason, std::string message);
  void EnterRunstate(const std::string& runstate);
  void MarkPaused(PauseCause cause);
  void MarkUnpaused();
  // Upserts a condition; lastTransitionTime moves only when status does.
  void SetCondition(const std::string& type, ConditionStatus status,
                    const std::string& reason, const std::string& message);
  void RemoveCondition(const std::string& type);
  void RefreshReady();

  StatusTrackerOptions options_;
  VmiStatus status_;
  absl::Time now_;
  // Attribution of the next STOP event.
  PauseCause pending_pause_ = PauseCause::kNone;
  bool paused_ = false;
  bool stop_requested_ = false;
  bool force_stop_ = false;
  bool reboot_requested_ = false;
  // QEMU's SHUTDOWN cause, kept until the process exits.
  std::string shutdown_reason_;
  bool shutdown_by_guest_ = false;
  std::string io_error_message_;
  // Live migration.
  bool migrating_ = false;
  bool migrated_out_ = false;
  std::string migrated_to_;
};

}  // namespace qdirect::vm
