#pragma once

// How vm::Machine stops QEMU, as a pure step function: press the ACPI power
// button (`system_powerdown`), wait up to terminationGracePeriodSeconds for
// the guest, then `quit`, then SIGKILL if QEMU still lives after a short
// quit timeout. The Machine calls NextShutdownStep when the stop begins, when
// something it watches changes (QEMU exited, QMP dropped, a command failed)
// and when the returned deadline passes; it performs the returned action.
// No clock and no I/O here, so every path is a unit test.

#include <string_view>

#include "absl/time/time.h"

namespace qdirect::vm {

struct ShutdownOptions {
  // spec.terminationGracePeriodSeconds; KubeVirt's default is 30 s. Zero
  // skips the guest and goes straight to `quit`.
  absl::Duration grace = absl::Seconds(30);
  // How long `quit` may take before SIGKILL.
  absl::Duration quit_timeout = absl::Seconds(5);
  // The guest has ACPI; without it the power button does nothing, so the
  // stop starts at `quit`.
  bool acpi = true;
};

enum class ShutdownStage {
  kIdle,         // no stop in progress
  kPoweringDown, // system_powerdown sent; waiting for the guest
  kQuitting,     // quit sent; waiting for QEMU to exit
  kKilled,       // SIGKILL sent; waiting for the pidfd
  kDone,         // QEMU has exited
};

enum class ShutdownAction {
  kNone,             // wait until the deadline or a new observation
  kSystemPowerdown,  // QMP system_powerdown
  kQuit,             // QMP quit
  kSigkill,          // kill QEMU (pidfd_send_signal SIGKILL)
};

std::string_view ShutdownStageName(ShutdownStage stage);
std::string_view ShutdownActionName(ShutdownAction action);

struct ShutdownState {
  ShutdownStage stage = ShutdownStage::kIdle;
  // When the current stage gives up and escalates.
  absl::Time deadline = absl::InfiniteFuture();
};

// What the Machine has seen since the last step.
struct ShutdownObservations {
  bool process_exited = false;
  // The QMP connection is up (commands can be sent).
  bool qmp_connected = true;
  // The action last returned failed (QMP error or send failure).
  bool last_action_failed = false;
};

struct ShutdownStep {
  ShutdownState state;    // the state to keep for the next call
  ShutdownAction action;  // what to do now
  // When to call again if nothing is observed before (InfiniteFuture when
  // only an observation can move the stop on).
  absl::Time deadline;
};

// The next step of a stop. From kIdle this begins the stop.
ShutdownStep NextShutdownStep(const ShutdownState& state,
                              const ShutdownOptions& options, absl::Time now,
                              const ShutdownObservations& seen);

}  // namespace qdirect::vm
