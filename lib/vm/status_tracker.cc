#include "vm/status_tracker.h"

#include <string.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace qdirect::vm {
namespace {

constexpr char kNotRunningMessage[] = "guest is not running";
constexpr char kPausedMessage[] = "VMI is paused";

// "SIGKILL" for 9; pure (glibc's table, no locale).
std::string SignalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  if (abbrev == nullptr) return absl::StrCat("signal ", signal);
  return absl::StrCat("SIG", abbrev);
}

}  // namespace

StatusTracker::StatusTracker(absl::Time now, StatusTrackerOptions options)
    : options_(options), now_(now) {
  SetPhase(VmiPhase::kPending);
  RefreshReady();
}

bool StatusTracker::Apply(const TrackerInput& input, absl::Time now) {
  now_ = now;
  const VmiStatus before = status_;
  std::visit([this](const auto& in) { On(in); }, input);
  RefreshReady();
  return !(before == status_);
}

// ---------------------------------------------------------------------------
// QMP events

void StatusTracker::On(const QmpStopEvent&) {
  if (IsFinal(status_.phase)) return;
  // -no-shutdown stops the vCPUs after the soft reboot's power-off.
  if (reboot_requested_ && status_.qdirect.qemu_runstate == "shutdown") return;
  status_.qdirect.qemu_runstate = "paused";
  // QEMU stops the vCPUs to switch over; the migration says what follows.
  if (migrating_) return;
  // A STOP we did not ask for came from the monitor: someone paused it.
  MarkPaused(pending_pause_ != PauseCause::kNone ? pending_pause_
                                                 : PauseCause::kUser);
  pending_pause_ = PauseCause::kNone;
}

void StatusTracker::On(const QmpResumeEvent&) {
  if (IsFinal(status_.phase)) return;
  status_.qdirect.qemu_runstate = "running";
  reboot_requested_ = false;
  pending_pause_ = PauseCause::kNone;
  MarkUnpaused();
  SetPhase(VmiPhase::kRunning);
}

void StatusTracker::On(const QmpShutdownEvent& event) {
  status_.qdirect.qemu_runstate = "shutdown";
  shutdown_reason_ = event.reason;
  shutdown_by_guest_ = event.guest;
  if (!event.guest) return;  // host-side causes are judged at exit
  if (reboot_requested_ && !stop_requested_ && event.reason != "guest-panic") {
    return;  // the soft reboot's power-off: reset follows
  }
  if (event.reason == "guest-panic") {
    Finish(VmiPhase::kFailed, "GuestPanicked", "guest panicked");
  } else {
    // The guest turned itself off (or rebooted under -no-reboot): the VMI
    // stopped voluntarily, whether or not we had pressed the power button.
    Finish(VmiPhase::kSucceeded, "",
           absl::StrCat("guest shut down (", event.reason, ")"));
  }
}

void StatusTracker::On(const QmpGuestPanickedEvent& event) {
  // With action "run" the guest carries on (kdump); not an end.
  if (event.action == "run") return;
  status_.qdirect.qemu_runstate = "guest-panicked";
  Finish(VmiPhase::kFailed, "GuestPanicked",
         event.info.empty() ? std::string("guest panicked")
                            : absl::StrCat("guest panicked: ", event.info));
}

void StatusTracker::On(const QmpBlockIoErrorEvent& event) {
  if (event.action != "stop" || IsFinal(status_.phase)) return;
  const std::string& dev = event.device.empty() ? event.node_name : event.device;
  io_error_message_ =
      absl::StrCat("VMI was paused, I/O error on ", dev, " (", event.operation,
                   event.nospace ? ", no space" : "",
                   event.reason.empty() ? "" : ": ", event.reason, ")");
  // QEMU sends BLOCK_IO_ERROR just before the STOP it causes; accept either
  // order.
  if (paused_) {
    MarkPaused(PauseCause::kIoError);
  } else {
    pending_pause_ = PauseCause::kIoError;
  }
}

void StatusTracker::On(const QueryStatusResult& result) {
  if (IsFinal(status_.phase)) return;
  const std::string& s = result.status;
  status_.qdirect.qemu_runstate = s;
  if (result.running || s == "running") {
    pending_pause_ = PauseCause::kNone;
    MarkUnpaused();
    SetPhase(VmiPhase::kRunning);
  } else if (s == "paused") {
    if (!paused_) {
      MarkPaused(pending_pause_ != PauseCause::kNone ? pending_pause_
                                                     : PauseCause::kUser);
    }
    pending_pause_ = PauseCause::kNone;
  } else if (s == "io-error") {
    if (io_error_message_.empty()) {
      io_error_message_ = "VMI was paused, low-level I/O error detected";
    }
    MarkPaused(PauseCause::kIoError);
    pending_pause_ = PauseCause::kNone;
  } else if (s == "guest-panicked") {
    Finish(VmiPhase::kFailed, "GuestPanicked", "guest panicked");
  } else if (s == "internal-error") {
    Finish(VmiPhase::kFailed, "QemuInternalError",
           "QEMU stopped the guest on an internal error");
  }
  // prelaunch, inmigrate, postmigrate, finish-migrate, shutdown, suspended,
  // watchdog, debug, save-vm, restore-vm: the runstate alone says it (Ready
  // is False); migration states are the migration area's to interpret.
}

// ---------------------------------------------------------------------------
// Process

void StatusTracker::On(const ProcessStarted& started) {
  status_.qdirect.qemu_pid = started.pid;
  status_.qdirect.runtime_dir = started.runtime_dir;
  status_.qdirect.qemu_runstate = "prelaunch";
  SetPhase(VmiPhase::kScheduled);
}

void StatusTracker::On(const ProcessExited& exited) {
  status_.qdirect.qemu_pid = 0;
  if (exited.signaled) {
    status_.qdirect.exit_signal = exited.signal;
  } else {
    status_.qdirect.exit_code = exited.code;
  }
  if (IsFinal(status_.phase)) return;

  if (migrated_out_) {
    Finish(VmiPhase::kSucceeded, "",
           absl::StrCat("VMI migrated to ", migrated_to_));
    return;
  }
  const std::string how =
      exited.signaled ? absl::StrCat("QEMU killed by ", SignalName(exited.signal))
                      : absl::StrCat("QEMU exited with code ", exited.code);
  if (force_stop_) {
    // virt-handler's ReasonDestroyed: a forced stop fails a VM that could
    // have shut down through ACPI.
    Finish(options_.acpi ? VmiPhase::kFailed : VmiPhase::kSucceeded,
           options_.acpi ? "ForcedStop" : "",
           absl::StrCat("stopped by force after the grace period (", how,
                        ")"));
    return;
  }
  if (exited.signaled) {
    Finish(VmiPhase::kFailed, "QemuKilled", how);
    return;
  }
  if (exited.code != 0) {
    Finish(VmiPhase::kFailed, "QemuExited", how);
    return;
  }
  // Exit 0 without a guest SHUTDOWN: a host-side quit or signal. Ours (a
  // graceful stop) is success; someone else's is a failure.
  if (!shutdown_reason_.empty() && !stop_requested_) {
    Finish(VmiPhase::kFailed, "QemuStopped",
           absl::StrCat("QEMU stopped by the host (", shutdown_reason_, ")"));
    return;
  }
  Finish(VmiPhase::kSucceeded, "", how);
}

// ---------------------------------------------------------------------------
// Guest agent

void StatusTracker::On(const AgentConnected&) {
  if (IsFinal(status_.phase)) return;
  SetCondition(vmi_condition::kAgentConnected, ConditionStatus::kTrue, "", "");
}

void StatusTracker::On(const AgentDisconnected&) {
  // KubeVirt drops the condition rather than setting it False.
  RemoveCondition(vmi_condition::kAgentConnected);
}

void StatusTracker::On(const GuestOsInfoUpdate& update) {
  status_.guest_os_info = update.info;
}

void StatusTracker::On(const InterfacesUpdate& update) {
  status_.interfaces = update.interfaces;
}

void StatusTracker::On(const VolumeStatusUpdate& update) {
  status_.volume_status = update.volumes;
}

// ---------------------------------------------------------------------------
// Intents

void StatusTracker::On(const PauseRequested&) {
  pending_pause_ = PauseCause::kUser;
}

void StatusTracker::On(const UnpauseRequested&) {
  pending_pause_ = PauseCause::kNone;
}

void StatusTracker::On(const StartPausedRequested&) {
  if (IsFinal(status_.phase)) return;
  // KubeVirt shows a VMI started paused as Running + Paused.
  SetPhase(VmiPhase::kRunning);
  MarkPaused(PauseCause::kStartStrategy);
}

void StatusTracker::On(const StopRequested& stop) {
  stop_requested_ = true;
  reboot_requested_ = false;
  if (stop.grace <= absl::ZeroDuration()) force_stop_ = true;
}

void StatusTracker::On(const ForceStopStarted&) {
  stop_requested_ = true;
  force_stop_ = true;
}

// ---------------------------------------------------------------------------
// Live migration

void StatusTracker::On(const LiveMigratableUpdate& update) {
  const VmiCondition& c = update.condition;
  SetCondition(c.type, c.status, c.reason, c.message);
}

void StatusTracker::On(const MigrationStateUpdate& update) {
  status_.migration_state = update.state;
}

void StatusTracker::On(const MigrationRunning& running) {
  migrating_ = running.active;
}

void StatusTracker::On(const MigratedOut& out) {
  migrated_out_ = true;
  migrated_to_ = out.target;
}

// ---------------------------------------------------------------------------
// Helpers

void StatusTracker::SetPhase(VmiPhase phase) {
  if (status_.phase == phase || IsFinal(status_.phase)) return;
  status_.phase = phase;
  status_.phase_transition_timestamps.push_back({phase, now_});
}

void StatusTracker::Finish(VmiPhase phase, std::string reason,
                           std::string message) {
  if (IsFinal(status_.phase)) return;
  SetPhase(phase);
  status_.reason = std::move(reason);
  paused_ = false;
  RemoveCondition(vmi_condition::kPaused);
  RemoveCondition(vmi_condition::kAgentConnected);
  SetCondition(vmi_condition::kReady, ConditionStatus::kFalse,
               vmi_reason::kGuestNotRunning, message);
}

void StatusTracker::MarkPaused(PauseCause cause) {
  paused_ = true;
  switch (cause) {
    case PauseCause::kIoError:
      SetCondition(vmi_condition::kPaused, ConditionStatus::kTrue,
                   vmi_reason::kPausedIOError, io_error_message_);
      break;
    case PauseCause::kStartStrategy:
      SetCondition(vmi_condition::kPaused, ConditionStatus::kTrue,
                   vmi_reason::kPausedStartStrategy,
                   "VMI was paused by StartStrategy");
      break;
    case PauseCause::kUser:
    case PauseCause::kNone:
      SetCondition(vmi_condition::kPaused, ConditionStatus::kTrue,
                   vmi_reason::kPausedByUser, "VMI was paused by user");
      break;
  }
}

void StatusTracker::MarkUnpaused() {
  paused_ = false;
  io_error_message_.clear();
  // KubeVirt removes Paused on unpause rather than setting it False.
  RemoveCondition(vmi_condition::kPaused);
}

void StatusTracker::SetCondition(const std::string& type,
                                 ConditionStatus status,
                                 const std::string& reason,
                                 const std::string& message) {
  auto it = std::find_if(
      status_.conditions.begin(), status_.conditions.end(),
      [&](const VmiCondition& c) { return c.type == type; });
  if (it == status_.conditions.end()) {
    VmiCondition c;
    c.type = type;
    c.status = status;
    c.last_transition_time = now_;
    c.reason = reason;
    c.message = message;
    status_.conditions.push_back(std::move(c));
    return;
  }
  if (it->status != status) {
    it->status = status;
    it->last_transition_time = now_;
  }
  it->reason = reason;
  it->message = message;
}

void StatusTracker::RemoveCondition(const std::string& type) {
  std::erase_if(status_.conditions,
                [&](const VmiCondition& c) { return c.type == type; });
}

void StatusTracker::RefreshReady() {
  if (IsFinal(status_.phase)) return;  // Finish wrote the final message
  if (status_.phase == VmiPhase::kRunning && !paused_ &&
      status_.qdirect.qemu_runstate == "running") {
    SetCondition(vmi_condition::kReady, ConditionStatus::kTrue, "", "");
  } else {
    SetCondition(vmi_condition::kReady, ConditionStatus::kFalse,
                 vmi_reason::kGuestNotRunning,
                 paused_ ? kPausedMessage : kNotRunningMessage);
  }
}

}  // namespace qdirect::vm
