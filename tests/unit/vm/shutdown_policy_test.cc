#include "vm/shutdown_policy.h"

#include "gtest/gtest.h"
#include "vm/status_tracker.h"

namespace qdirect::vm {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1795614952);

// Drives the policy as the Machine does, keeping the state between steps.
class Driver {
 public:
  explicit Driver(ShutdownOptions options) : options_(options) {}
  ShutdownStep Step(absl::Time now, ShutdownObservations seen = {}) {
    ShutdownStep step = NextShutdownStep(state_, options_, now, seen);
    state_ = step.state;
    return step;
  }
  ShutdownStage stage() const { return state_.stage; }

 private:
  ShutdownOptions options_;
  ShutdownState state_;
};

TEST(ShutdownPolicy, GuestCooperates) {
  Driver d({});
  ShutdownStep s = d.Step(kT0);
  EXPECT_EQ(s.action, ShutdownAction::kSystemPowerdown);
  EXPECT_EQ(s.deadline, kT0 + absl::Seconds(30));  // KubeVirt's default grace
  EXPECT_EQ(d.stage(), ShutdownStage::kPoweringDown);

  // Woken early (QMP events) with nothing decisive: keep waiting.
  s = d.Step(kT0 + absl::Seconds(3));
  EXPECT_EQ(s.action, ShutdownAction::kNone);
  EXPECT_EQ(s.deadline, kT0 + absl::Seconds(30));

  s = d.Step(kT0 + absl::Seconds(4), {.process_exited = true});
  EXPECT_EQ(s.action, ShutdownAction::kNone);
  EXPECT_EQ(d.stage(), ShutdownStage::kDone);
  EXPECT_EQ(s.deadline, absl::InfiniteFuture());
}

TEST(ShutdownPolicy, GuestIgnoresPowerButtonThenQuitWorks) {
  Driver d({.grace = absl::Seconds(10), .quit_timeout = absl::Seconds(5)});
  d.Step(kT0);
  ShutdownStep s = d.Step(kT0 + absl::Seconds(10));
  EXPECT_EQ(s.action, ShutdownAction::kQuit);
  EXPECT_EQ(s.deadline, kT0 + absl::Seconds(15));
  EXPECT_EQ(d.stage(), ShutdownStage::kQuitting);

  // QMP drops as QEMU handles quit: that alone is not a reason to kill.
  s = d.Step(kT0 + absl::Seconds(11), {.qmp_connected = false});
  EXPECT_EQ(s.action, ShutdownAction::kNone);
  s = d.Step(kT0 + absl::Seconds(11), {.process_exited = true});
  EXPECT_EQ(d.stage(), ShutdownStage::kDone);
}

TEST(ShutdownPolicy, GuestAndQuitIgnoredEndsInSigkill) {
  Driver d({.grace = absl::Seconds(10), .quit_timeout = absl::Seconds(5)});
  d.Step(kT0);
  d.Step(kT0 + absl::Seconds(10));
  ShutdownStep s = d.Step(kT0 + absl::Seconds(14));
  EXPECT_EQ(s.action, ShutdownAction::kNone);
  s = d.Step(kT0 + absl::Seconds(15));
  EXPECT_EQ(s.action, ShutdownAction::kSigkill);
  EXPECT_EQ(d.stage(), ShutdownStage::kKilled);
  EXPECT_EQ(s.deadline, absl::InfiniteFuture());
  // Nothing more to send until the pidfd fires.
  EXPECT_EQ(d.Step(kT0 + absl::Seconds(100)).action, ShutdownAction::kNone);
  d.Step(kT0 + absl::Seconds(101), {.process_exited = true});
  EXPECT_EQ(d.stage(), ShutdownStage::kDone);
}

TEST(ShutdownPolicy, QmpDeadAtStartKillsAtOnce) {
  Driver d({});
  ShutdownStep s = d.Step(kT0, {.qmp_connected = false});
  EXPECT_EQ(s.action, ShutdownAction::kSigkill);
  EXPECT_EQ(d.stage(), ShutdownStage::kKilled);
}

TEST(ShutdownPolicy, QmpDiesWhileWaitingForGuestKills) {
  Driver d({});
  d.Step(kT0);
  ShutdownStep s = d.Step(kT0 + absl::Seconds(2), {.qmp_connected = false});
  EXPECT_EQ(s.action, ShutdownAction::kSigkill);
}

TEST(ShutdownPolicy, PowerdownRefusedEscalatesToQuit) {
  Driver d({});
  d.Step(kT0);
  ShutdownStep s = d.Step(kT0 + absl::Milliseconds(1),
                          {.last_action_failed = true});
  EXPECT_EQ(s.action, ShutdownAction::kQuit);
  EXPECT_EQ(s.deadline, kT0 + absl::Milliseconds(1) + absl::Seconds(5));
}

TEST(ShutdownPolicy, QuitRefusedKills) {
  Driver d({.grace = absl::ZeroDuration()});
  d.Step(kT0);
  ShutdownStep s = d.Step(kT0, {.last_action_failed = true});
  EXPECT_EQ(s.action, ShutdownAction::kSigkill);
}

TEST(ShutdownPolicy, GraceZeroSkipsTheGuest) {
  Driver d({.grace = absl::ZeroDuration()});
  ShutdownStep s = d.Step(kT0);
  EXPECT_EQ(s.action, ShutdownAction::kQuit);
  EXPECT_EQ(s.deadline, kT0 + absl::Seconds(5));
}

TEST(ShutdownPolicy, NoAcpiSkipsThePowerButton) {
  Driver d({.acpi = false});
  EXPECT_EQ(d.Step(kT0).action, ShutdownAction::kQuit);
}

TEST(ShutdownPolicy, AlreadyExitedIsDone) {
  Driver d({});
  ShutdownStep s = d.Step(kT0, {.process_exited = true});
  EXPECT_EQ(s.action, ShutdownAction::kNone);
  EXPECT_EQ(d.stage(), ShutdownStage::kDone);
}

TEST(ShutdownPolicy, NamesAreQmpCommands) {
  EXPECT_EQ(ShutdownActionName(ShutdownAction::kSystemPowerdown),
            "system_powerdown");
  EXPECT_EQ(ShutdownActionName(ShutdownAction::kQuit), "quit");
  EXPECT_EQ(ShutdownStageName(ShutdownStage::kPoweringDown), "powering-down");
}

// The policy and the tracker together, as the Machine wires them: the stop
// escalates, the tracker is told, and the phase says how the VM ended.
VmiPhase RunStop(bool guest_cooperates, ShutdownOptions options) {
  StatusTracker tracker(kT0, {.acpi = options.acpi});
  tracker.Apply(ProcessStarted{1, ""}, kT0);
  tracker.Apply(QmpResumeEvent{}, kT0);
  tracker.Apply(StopRequested{options.grace}, kT0);
  Driver d(options);
  absl::Time now = kT0;
  ShutdownStep s = d.Step(now);
  for (int i = 0; i < 10 && d.stage() != ShutdownStage::kDone; ++i) {
    ShutdownObservations seen;
    switch (s.action) {
      case ShutdownAction::kSystemPowerdown:
        if (guest_cooperates) {
          tracker.Apply(QmpShutdownEvent{true, "guest-shutdown"}, now);
          tracker.Apply(ProcessExited{false, 0, 0}, now);
          seen.process_exited = true;
        }
        break;
      case ShutdownAction::kQuit:
        tracker.Apply(ForceStopStarted{}, now);
        // This QEMU ignores quit (wedged main loop).
        break;
      case ShutdownAction::kSigkill:
        tracker.Apply(ForceStopStarted{}, now);
        tracker.Apply(ProcessExited{true, 0, 9}, now);
        seen.process_exited = true;
        break;
      case ShutdownAction::kNone:
        break;
    }
    if (!seen.process_exited) now = s.deadline;
    s = d.Step(now, seen);
  }
  EXPECT_EQ(d.stage(), ShutdownStage::kDone);
  return tracker.status().phase;
}

TEST(StopFlow, CooperativeGuestSucceeds) {
  EXPECT_EQ(RunStop(true, {}), VmiPhase::kSucceeded);
}

TEST(StopFlow, IgnoredPowerButtonAndQuitFails) {
  EXPECT_EQ(RunStop(false, {}), VmiPhase::kFailed);
}

TEST(StopFlow, ForcedStopWithoutAcpiSucceeds) {
  EXPECT_EQ(RunStop(false, {.acpi = false}), VmiPhase::kSucceeded);
}

}  // namespace
}  // namespace qdirect::vm
