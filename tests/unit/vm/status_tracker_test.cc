#include "vm/status_tracker.h"

#include <signal.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::vm {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795614952);

// Inputs that bring a VM to Running, as the Machine sends them.
std::vector<TrackerInput> Booted() {
  return {ProcessStarted{4242, "/run/qdirect/vm1"}, QmpResumeEvent{}};
}

std::vector<TrackerInput> Then(std::vector<TrackerInput> first,
                               std::vector<TrackerInput> more) {
  first.insert(first.end(), more.begin(), more.end());
  return first;
}

struct Expect {
  VmiPhase phase;
  std::string reason = "";  // status.reason
  ConditionStatus ready = ConditionStatus::kFalse;
  std::string ready_message = "";  // substring of Ready's message
  std::optional<std::string> paused_reason = std::nullopt;  // nullopt: none
  std::string runstate = "";  // "" means don't care
};

struct Case {
  std::string name;
  std::vector<TrackerInput> inputs;
  StatusTrackerOptions options;
  Expect want;
};

// gtest prints the case's name instead of its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class TrackerTransition : public ::testing::TestWithParam<Case> {};

TEST_P(TrackerTransition, EndsInExpectedStatus) {
  const Case& c = GetParam();
  StatusTracker tracker(kT0, c.options);
  absl::Time now = kT0;
  for (const TrackerInput& in : c.inputs) {
    now += absl::Seconds(1);
    tracker.Apply(in, now);
  }
  const VmiStatus& s = tracker.status();
  EXPECT_EQ(VmiPhaseName(s.phase), VmiPhaseName(c.want.phase));
  EXPECT_EQ(s.reason, c.want.reason);
  const VmiCondition* ready = s.FindCondition(vmi_condition::kReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ConditionStatusName(ready->status),
            ConditionStatusName(c.want.ready));
  if (c.want.ready == ConditionStatus::kFalse) {
    EXPECT_EQ(ready->reason, vmi_reason::kGuestNotRunning);
  }
  EXPECT_THAT(ready->message, HasSubstr(c.want.ready_message));
  const VmiCondition* paused = s.FindCondition(vmi_condition::kPaused);
  if (c.want.paused_reason.has_value()) {
    ASSERT_NE(paused, nullptr);
    EXPECT_EQ(paused->status, ConditionStatus::kTrue);
    EXPECT_EQ(paused->reason, *c.want.paused_reason);
  } else {
    EXPECT_EQ(paused, nullptr) << paused->reason;
  }
  if (!c.want.runstate.empty()) {
    EXPECT_EQ(s.qdirect.qemu_runstate, c.want.runstate);
  }
}

const QmpBlockIoErrorEvent kIoStop{"virtio-disk0", "", "write", "stop", true,
                                   "No space left on device"};

INSTANTIATE_TEST_SUITE_P(
    AllTransitions, TrackerTransition,
    ::testing::Values(
        Case{"Created", {}, {}, {VmiPhase::kPending, "", ConditionStatus::kFalse,
                                 "not running"}},
        Case{"LaunchedIsScheduled",
             {ProcessStarted{4242, "/run/qdirect/vm1"}},
             {},
             {VmiPhase::kScheduled, "", ConditionStatus::kFalse, "not running",
              std::nullopt, "prelaunch"}},
        Case{"ResumeIsRunningAndReady", Booted(), {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue, "", std::nullopt,
              "running"}},
        Case{"QueryStatusRunningIsRunning",
             {ProcessStarted{1, ""}, QueryStatusResult{true, "running"}},
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"QueryStatusPrelaunchStaysScheduled",
             {ProcessStarted{1, ""}, QueryStatusResult{false, "prelaunch"}},
             {},
             {VmiPhase::kScheduled, "", ConditionStatus::kFalse, "not running",
              std::nullopt, "prelaunch"}},
        Case{"UserPause", Then(Booted(), {PauseRequested{}, QmpStopEvent{}}), {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedByUser", "paused"}},
        Case{"SoftRebootPoweroffIsNotTheEnd",
             Then(Booted(), {RebootRequested{}, QmpPowerdownEvent{},
                             QmpShutdownEvent{true, "guest-shutdown"},
                             QmpStopEvent{}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "", std::nullopt,
              "shutdown"}},
        Case{"SoftRebootResetAndContIsRunningAgain",
             Then(Booted(), {RebootRequested{}, QmpShutdownEvent{true, "guest-shutdown"},
                             QmpStopEvent{}, QmpResetEvent{false, "host-qmp-system-reset"},
                             QmpResumeEvent{}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue, "", std::nullopt,
              "running"}},
        Case{"PoweroffAfterASoftRebootEndsTheVmi",
             Then(Booted(), {RebootRequested{}, QmpShutdownEvent{true, "guest-shutdown"},
                             QmpStopEvent{}, QmpResumeEvent{},
                             QmpShutdownEvent{true, "guest-shutdown"}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse}},
        Case{"UnattributedStopIsPausedByUser",
             Then(Booted(), {QmpStopEvent{}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedByUser"}},
        Case{"UnpauseRemovesPausedCondition",
             Then(Booted(), {PauseRequested{}, QmpStopEvent{},
                             UnpauseRequested{}, QmpResumeEvent{}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"QueryStatusPausedIsPaused",
             Then(Booted(), {QueryStatusResult{false, "paused"}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedByUser", "paused"}},
        Case{"BlockIoErrorStopIsPausedIOError",
             Then(Booted(), {kIoStop, QmpStopEvent{}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedIOError"}},
        Case{"BlockIoErrorAfterStopIsPausedIOError",
             Then(Booted(), {QmpStopEvent{}, kIoStop}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedIOError"}},
        Case{"BlockIoErrorReportDoesNotPause",
             Then(Booted(), {QmpBlockIoErrorEvent{"virtio-disk0", "", "read",
                                                  "report", false, "EIO"}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"QueryStatusIoErrorIsPausedIOError",
             Then(Booted(), {QueryStatusResult{false, "io-error"}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedIOError", "io-error"}},
        Case{"IoErrorClearedByResume",
             Then(Booted(), {kIoStop, QmpStopEvent{}, QmpResumeEvent{}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"StartPaused",
             {ProcessStarted{1, ""}, StartPausedRequested{}},
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "paused",
              "PausedStartStrategy"}},
        Case{"StartPausedThenUnpaused",
             {ProcessStarted{1, ""}, StartPausedRequested{}, UnpauseRequested{},
              QmpResumeEvent{}},
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"GuestShutdownSucceeds",
             Then(Booted(), {QmpShutdownEvent{true, "guest-shutdown"},
                             ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse,
              "guest shut down (guest-shutdown)", std::nullopt, "shutdown"}},
        Case{"GuestShutdownSucceedsBeforeExit",
             Then(Booted(), {QmpShutdownEvent{true, "guest-shutdown"}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse, "guest shut down"}},
        Case{"AcpiStopAcknowledgedSucceeds",
             Then(Booted(), {StopRequested{absl::Seconds(30)}, QmpPowerdownEvent{},
                             QmpShutdownEvent{true, "guest-shutdown"},
                             ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse, "guest shut down"}},
        Case{"PausedGuestShutdownDropsPaused",
             Then(Booted(), {QmpStopEvent{}, QmpShutdownEvent{true, "guest-shutdown"}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse, "guest shut down"}},
        Case{"UnrequestedSigkillFails",
             Then(Booted(), {ProcessExited{true, 0, SIGKILL}}),
             {},
             {VmiPhase::kFailed, "QemuKilled", ConditionStatus::kFalse,
              "QEMU killed by SIGKILL"}},
        Case{"SigsegvFails",
             Then(Booted(), {ProcessExited{true, 0, SIGSEGV}}),
             {},
             {VmiPhase::kFailed, "QemuKilled", ConditionStatus::kFalse,
              "QEMU killed by SIGSEGV"}},
        Case{"NonZeroExitFails",
             Then(Booted(), {ProcessExited{false, 1, 0}}),
             {},
             {VmiPhase::kFailed, "QemuExited", ConditionStatus::kFalse,
              "QEMU exited with code 1"}},
        Case{"ExitBeforeRunningFails",
             {ProcessStarted{1, ""}, ProcessExited{false, 1, 0}},
             {},
             {VmiPhase::kFailed, "QemuExited", ConditionStatus::kFalse,
              "exited with code 1"}},
        Case{"ForeignQuitFails",
             Then(Booted(), {QmpShutdownEvent{false, "host-qmp-quit"},
                             ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kFailed, "QemuStopped", ConditionStatus::kFalse,
              "host-qmp-quit"}},
        Case{"ForeignSigtermFails",
             Then(Booted(), {QmpShutdownEvent{false, "host-signal"},
                             ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kFailed, "QemuStopped", ConditionStatus::kFalse,
              "host-signal"}},
        Case{"CleanExitWithoutEventSucceeds",
             Then(Booted(), {ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse,
              "QEMU exited with code 0"}},
        Case{"GracefulStopWithoutForceSucceeds",
             Then(Booted(), {StopRequested{absl::Seconds(30)},
                             QmpShutdownEvent{false, "host-qmp-quit"},
                             ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse}},
        Case{"ForcedStopAfterGraceFailsWithAcpi",
             Then(Booted(), {StopRequested{absl::Seconds(30)}, ForceStopStarted{},
                             ProcessExited{true, 0, SIGKILL}}),
             {},
             {VmiPhase::kFailed, "ForcedStop", ConditionStatus::kFalse,
              "QEMU killed by SIGKILL"}},
        Case{"ForcedStopSucceedsWithoutAcpi",
             Then(Booted(), {StopRequested{absl::Seconds(30)}, ForceStopStarted{},
                             QmpShutdownEvent{false, "host-qmp-quit"},
                             ProcessExited{false, 0, 0}}),
             {.acpi = false},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse, "by force"}},
        Case{"GraceZeroIsForced",
             Then(Booted(), {StopRequested{absl::ZeroDuration()},
                             QmpShutdownEvent{false, "host-qmp-quit"},
                             ProcessExited{false, 0, 0}}),
             {},
             {VmiPhase::kFailed, "ForcedStop", ConditionStatus::kFalse}},
        Case{"GuestPanicFails",
             Then(Booted(), {QmpGuestPanickedEvent{"pause", "hyper-v"}}),
             {},
             {VmiPhase::kFailed, "GuestPanicked", ConditionStatus::kFalse,
              "guest panicked: hyper-v", std::nullopt, "guest-panicked"}},
        Case{"GuestPanicThenKillStaysPanicked",
             Then(Booted(), {QmpGuestPanickedEvent{"pause", ""},
                             ProcessExited{true, 0, SIGKILL}}),
             {},
             {VmiPhase::kFailed, "GuestPanicked", ConditionStatus::kFalse,
              "guest panicked"}},
        Case{"GuestPanicWithRunActionKeepsRunning",
             Then(Booted(), {QmpGuestPanickedEvent{"run", ""}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"PanicShutdownFails",
             Then(Booted(), {QmpShutdownEvent{true, "guest-panic"}}),
             {},
             {VmiPhase::kFailed, "GuestPanicked", ConditionStatus::kFalse}},
        Case{"QueryStatusGuestPanickedFails",
             Then(Booted(), {QueryStatusResult{false, "guest-panicked"}}),
             {},
             {VmiPhase::kFailed, "GuestPanicked", ConditionStatus::kFalse}},
        Case{"QueryStatusInternalErrorFails",
             Then(Booted(), {QueryStatusResult{false, "internal-error"}}),
             {},
             {VmiPhase::kFailed, "QemuInternalError", ConditionStatus::kFalse}},
        Case{"SucceededIsFinal",
             Then(Booted(), {QmpShutdownEvent{true, "guest-shutdown"},
                             ProcessExited{true, 0, SIGKILL}, QmpResumeEvent{}}),
             {},
             {VmiPhase::kSucceeded, "", ConditionStatus::kFalse, "guest shut down"}},
        Case{"ResetKeepsRunning",
             Then(Booted(), {QmpResetEvent{true, "guest-reset"}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kTrue}},
        Case{"SuspendedIsNotReady",
             Then(Booted(), {QueryStatusResult{false, "suspended"}}),
             {},
             {VmiPhase::kRunning, "", ConditionStatus::kFalse, "not running",
              std::nullopt, "suspended"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(StatusTracker, ApplyReportsWhetherAnythingChanged) {
  StatusTracker tracker(kT0);
  EXPECT_TRUE(tracker.Apply(ProcessStarted{7, "/run/x"}, kT0));
  EXPECT_TRUE(tracker.Apply(QmpResumeEvent{}, kT0 + absl::Seconds(1)));
  EXPECT_FALSE(tracker.Apply(QmpResumeEvent{}, kT0 + absl::Seconds(2)));
  EXPECT_FALSE(
      tracker.Apply(QueryStatusResult{true, "running"}, kT0 + absl::Seconds(3)));
  EXPECT_FALSE(tracker.Apply(PauseRequested{}, kT0 + absl::Seconds(4)));
}

TEST(StatusTracker, TransitionTimeMovesOnlyWhenStatusFlips) {
  StatusTracker tracker(kT0);
  tracker.Apply(ProcessStarted{7, ""}, kT0 + absl::Seconds(1));
  tracker.Apply(QmpResumeEvent{}, kT0 + absl::Seconds(2));
  tracker.Apply(QueryStatusResult{true, "running"}, kT0 + absl::Seconds(3));
  const VmiCondition* ready = tracker.status().FindCondition("Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->last_transition_time, kT0 + absl::Seconds(2));
  EXPECT_EQ(ready->last_probe_time, std::nullopt);

  tracker.Apply(QmpStopEvent{}, kT0 + absl::Seconds(10));
  ready = tracker.status().FindCondition("Ready");
  EXPECT_EQ(ready->status, ConditionStatus::kFalse);
  EXPECT_EQ(ready->last_transition_time, kT0 + absl::Seconds(10));
  const VmiCondition* paused = tracker.status().FindCondition("Paused");
  ASSERT_NE(paused, nullptr);
  EXPECT_EQ(paused->last_transition_time, kT0 + absl::Seconds(10));
}

TEST(StatusTracker, RecordsPhaseTransitionTimestamps) {
  StatusTracker tracker(kT0);
  tracker.Apply(ProcessStarted{7, ""}, kT0 + absl::Seconds(1));
  tracker.Apply(QmpResumeEvent{}, kT0 + absl::Seconds(2));
  tracker.Apply(QmpStopEvent{}, kT0 + absl::Seconds(3));  // no phase change
  tracker.Apply(QmpShutdownEvent{true, "guest-shutdown"}, kT0 + absl::Seconds(4));
  const std::vector<VmiPhaseTransition> want = {
      {VmiPhase::kPending, kT0},
      {VmiPhase::kScheduled, kT0 + absl::Seconds(1)},
      {VmiPhase::kRunning, kT0 + absl::Seconds(2)},
      {VmiPhase::kSucceeded, kT0 + absl::Seconds(4)},
  };
  EXPECT_EQ(tracker.status().phase_transition_timestamps, want);
}

TEST(StatusTracker, AgentConnectionTogglesCondition) {
  StatusTracker tracker(kT0);
  for (const TrackerInput& in : Booted()) tracker.Apply(in, kT0);
  tracker.Apply(AgentConnected{}, kT0 + absl::Seconds(1));
  const VmiCondition* agent = tracker.status().FindCondition("AgentConnected");
  ASSERT_NE(agent, nullptr);
  EXPECT_EQ(agent->status, ConditionStatus::kTrue);
  EXPECT_EQ(agent->last_transition_time, kT0 + absl::Seconds(1));

  EXPECT_TRUE(tracker.Apply(AgentDisconnected{}, kT0 + absl::Seconds(2)));
  EXPECT_EQ(tracker.status().FindCondition("AgentConnected"), nullptr);
}

TEST(StatusTracker, GuestOsInfoIsCopied) {
  StatusTracker tracker(kT0);
  GuestOsInfo info;
  info.name = "Debian GNU/Linux";
  info.kernel_release = "6.1.0-13-cloud-amd64";
  EXPECT_TRUE(tracker.Apply(GuestOsInfoUpdate{info}, kT0));
  EXPECT_EQ(tracker.status().guest_os_info, info);
}

TEST(StatusTracker, InterfacesUpdateReplacesInterfaces) {
  StatusTracker tracker(kT0);
  VmiInterface nic;
  nic.name = "default";
  nic.mac = "02:00:00:00:00:01";
  EXPECT_TRUE(tracker.Apply(InterfacesUpdate{{nic}}, kT0));
  EXPECT_EQ(tracker.status().interfaces, std::vector<VmiInterface>{nic});
  EXPECT_FALSE(tracker.Apply(InterfacesUpdate{{nic}}, kT0));
  EXPECT_TRUE(tracker.Apply(InterfacesUpdate{{}}, kT0));
  EXPECT_TRUE(tracker.status().interfaces.empty());
}

TEST(StatusTracker, IoErrorMessageNamesDevice) {
  StatusTracker tracker(kT0);
  for (const TrackerInput& in : Booted()) tracker.Apply(in, kT0);
  tracker.Apply(kIoStop, kT0);
  tracker.Apply(QmpStopEvent{}, kT0);
  const VmiCondition* paused = tracker.status().FindCondition("Paused");
  ASSERT_NE(paused, nullptr);
  EXPECT_THAT(paused->message, HasSubstr("virtio-disk0"));
  EXPECT_THAT(paused->message, HasSubstr("No space left on device"));
}

TEST(StatusTracker, ExitRecordsQdirectFacts) {
  StatusTracker tracker(kT0);
  for (const TrackerInput& in : Booted()) tracker.Apply(in, kT0);
  EXPECT_EQ(tracker.status().qdirect.qemu_pid, 4242);
  EXPECT_EQ(tracker.status().qdirect.runtime_dir, "/run/qdirect/vm1");
  tracker.Apply(ProcessExited{true, 0, SIGKILL}, kT0);
  EXPECT_EQ(tracker.status().qdirect.qemu_pid, 0);
  EXPECT_EQ(tracker.status().qdirect.exit_signal, SIGKILL);
  EXPECT_EQ(tracker.status().qdirect.exit_code, std::nullopt);
}

// ---------------------------------------------------------------------------
// Live migration

TEST(TrackerMigration, SwitchoverStopIsNotAPauseAndMigratedSourceSucceeds) {
  StatusTracker tracker(kT0);
  absl::Time now = kT0;
  for (const TrackerInput& in : Booted()) tracker.Apply(in, now += absl::Seconds(1));
  tracker.Apply(MigrationRunning{true}, now);
  tracker.Apply(QmpStopEvent{}, now);
  EXPECT_EQ(tracker.status().FindCondition(vmi_condition::kPaused), nullptr);
  tracker.Apply(MigratedOut{"unix:/run/x.sock"}, now);
  tracker.Apply(QmpShutdownEvent{false, "host-qmp-quit"}, now);
  tracker.Apply(ProcessExited{false, 0, 0}, now);
  EXPECT_EQ(tracker.status().phase, VmiPhase::kSucceeded);
  EXPECT_THAT(tracker.status().FindCondition(vmi_condition::kReady)->message,
              HasSubstr("migrated to unix:/run/x.sock"));
}

TEST(TrackerMigration, FailedMigrationKeepsRunningWithState) {
  StatusTracker tracker(kT0);
  absl::Time now = kT0;
  for (const TrackerInput& in : Booted()) tracker.Apply(in, now += absl::Seconds(1));
  tracker.Apply(MigrationRunning{true}, now);
  VmiMigrationState state;
  state.failed = true;
  state.failure_reason = "Unable to write to socket";
  tracker.Apply(MigrationRunning{false}, now);
  EXPECT_TRUE(tracker.Apply(MigrationStateUpdate{state}, now));
  EXPECT_EQ(tracker.status().phase, VmiPhase::kRunning);
  ASSERT_TRUE(tracker.status().migration_state.has_value());
  EXPECT_TRUE(tracker.status().migration_state->failed);
  // After the migration a STOP is the user's again.
  tracker.Apply(QmpStopEvent{}, now);
  ASSERT_NE(tracker.status().FindCondition(vmi_condition::kPaused), nullptr);
}

TEST(TrackerMigration, LiveMigratableConditionIsRecorded) {
  StatusTracker tracker(kT0);
  VmiCondition c;
  c.type = vmi_condition::kLiveMigratable;
  c.status = ConditionStatus::kFalse;
  c.reason = "HostDeviceNotLiveMigratable";
  tracker.Apply(LiveMigratableUpdate{c}, kT0);
  const VmiCondition* got =
      tracker.status().FindCondition(vmi_condition::kLiveMigratable);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->status, ConditionStatus::kFalse);
  EXPECT_EQ(got->reason, "HostDeviceNotLiveMigratable");
}

}  // namespace
}  // namespace qdirect::vm
