#include "vm/shutdown_policy.h"

namespace qdirect::vm {
namespace {

ShutdownStep Go(ShutdownStage stage, ShutdownAction action,
                absl::Time deadline) {
  return ShutdownStep{{stage, deadline}, action, deadline};
}

ShutdownStep Kill() {
  // After SIGKILL only the pidfd can tell us more.
  return Go(ShutdownStage::kKilled, ShutdownAction::kSigkill,
            absl::InfiniteFuture());
}

// `quit` when QMP can carry it, else straight to SIGKILL.
ShutdownStep QuitOrKill(const ShutdownOptions& options, absl::Time now,
                        const ShutdownObservations& seen) {
  if (!seen.qmp_connected) return Kill();
  return Go(ShutdownStage::kQuitting, ShutdownAction::kQuit,
            now + options.quit_timeout);
}

}  // namespace

std::string_view ShutdownStageName(ShutdownStage stage) {
  switch (stage) {
    case ShutdownStage::kIdle:
      return "idle";
    case ShutdownStage::kPoweringDown:
      return "powering-down";
    case ShutdownStage::kQuitting:
      return "quitting";
    case ShutdownStage::kKilled:
      return "killed";
    case ShutdownStage::kDone:
      break;
  }
  return "done";
}

std::string_view ShutdownActionName(ShutdownAction action) {
  switch (action) {
    case ShutdownAction::kNone:
      return "none";
    case ShutdownAction::kSystemPowerdown:
      return "system_powerdown";
    case ShutdownAction::kQuit:
      return "quit";
    case ShutdownAction::kSigkill:
      break;
  }
  return "SIGKILL";
}

ShutdownStep NextShutdownStep(const ShutdownState& state,
                              const ShutdownOptions& options, absl::Time now,
                              const ShutdownObservations& seen) {
  if (seen.process_exited || state.stage == ShutdownStage::kDone) {
    return Go(ShutdownStage::kDone, ShutdownAction::kNone,
              absl::InfiniteFuture());
  }
  const ShutdownStep wait{state, ShutdownAction::kNone, state.deadline};
  switch (state.stage) {
    case ShutdownStage::kIdle:
      if (options.grace <= absl::ZeroDuration() || !options.acpi) {
        return QuitOrKill(options, now, seen);
      }
      if (!seen.qmp_connected) return Kill();
      return Go(ShutdownStage::kPoweringDown,
                ShutdownAction::kSystemPowerdown, now + options.grace);

    case ShutdownStage::kPoweringDown:
      // The power button could not be pressed or the guest had its time.
      if (seen.last_action_failed || !seen.qmp_connected ||
          now >= state.deadline) {
        return QuitOrKill(options, now, seen);
      }
      return wait;

    case ShutdownStage::kQuitting:
      // QMP closing is expected once quit is accepted; only the deadline or
      // a refused quit escalates.
      if (seen.last_action_failed || now >= state.deadline) return Kill();
      return wait;

    case ShutdownStage::kKilled:
    case ShutdownStage::kDone:
      break;
  }
  return wait;
}

}  // namespace qdirect::vm
