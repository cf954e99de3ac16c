// vm::Machine against real QEMU (TCG) and the test guest (tests/guest): boot
// to the console marker, pause/unpause, ACPI shutdown, a QEMU killed under
// us, QEMU failing during start, a name already in use, two VMs at once, a
// guest that cannot answer the power button, the guest agent (condition,
// guestOSInfo, interfaces, exec). Needs the test guest in the
// image store (tests/guest/build.sh DIR; QDIRECT_IMAGE_DIR, default
// /var/lib/qdirect/images); skipped without it.

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/machine.h"
#include "qdirect/spec.h"
#include "qdirect/vmi_status.h"
#include "test_guest.h"
#include "vm/console_log.h"

#ifndef QDIRECT_SOURCE_ROOT
#error "QDIRECT_SOURCE_ROOT must name the source tree"
#endif

namespace qdirect::vm {
namespace {

using ::qdirect::testing::HasTestGuest;
using ::qdirect::testing::ImageDir;
using ::qdirect::testing::LoadTestVmi;
using ::qdirect::testing::TestRoot;
using ::qdirect::testing::VmNameForCurrentTest;

using ::testing::HasSubstr;

constexpr char kMarker[] = "QDIRECT-GUEST-UP";
// Generous: TCG on 2 shared cores boots in ~2 s, but CI machines are busy.
constexpr absl::Duration kBootTimeout = absl::Seconds(90);


// The console text since start and every status the VMI went through, for
// tests that follow a guest across a reboot.
struct RebootWatch {
  std::string console;
  bool left_running = false;  // a final phase, or Paused, was ever seen
  std::unique_ptr<ConsoleSession> session;

  // The boot ids of every QDIRECT-GUEST-UP line so far.
  std::vector<std::string> BootIds() const {
    std::vector<std::string> ids;
    const std::string key = "QDIRECT-GUEST-UP boot_id=";
    for (size_t at = console.find(key); at != std::string::npos;
         at = console.find(key, at + 1)) {
      if (at + key.size() + 36 <= console.size()) {
        ids.push_back(console.substr(at + key.size(), 36));
      }
    }
    return ids;
  }
};

::testing::AssertionResult Watch(Machine& m, RebootWatch& watch) {
  auto session = m.AttachConsole(
      [&watch](std::string_view bytes) { watch.console.append(bytes); },
      /*replay=*/true);
  if (!session.ok()) return ::testing::AssertionFailure() << session.status();
  watch.session = std::move(*session);
  m.OnStatusChange([&watch](const VmiStatus& status) {
    const VmiCondition* paused = status.FindCondition(vmi_condition::kPaused);
    if (IsFinal(status.phase) ||
        (paused != nullptr && paused->status == ConditionStatus::kTrue)) {
      watch.left_running = true;
    }
  });
  return ::testing::AssertionSuccess();
}

class MachineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { root_ = new TestRoot("qdirect-machine-test"); }

  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }

  void SetUp() override {
    if (!HasTestGuest()) {
      GTEST_SKIP() << "no test guest in " << ImageDir()
                   << " (tests/guest/build.sh " << ImageDir() << ")";
    }
    absl::StatusOr<spec::Vmi> vmi = LoadTestVmi();
    ASSERT_TRUE(vmi.ok()) << vmi.status();
    vmi_ = *vmi;
    vmi_.metadata.name = VmNameForCurrentTest("", 50);
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }

  spec::Vmi Named(const std::string& name) const {
    spec::Vmi vmi = vmi_;
    vmi.metadata.name = name;
    return vmi;
  }

  absl::StatusOr<std::unique_ptr<Machine>> Start(const spec::Vmi& vmi) {
    MachineOptions options;
    options.loop = loop_.get();
    return Machine::Start(vmi, options);
  }

  // Runs the loop until `pattern` shows on the console (replayed from the
  // log first, so output before the attach counts).
  ::testing::AssertionResult WaitForConsole(Machine& machine,
                                            ConsolePattern pattern,
                                            bool replay = true) {
    auto session = machine.AttachConsole(
        [&pattern](std::string_view bytes) { pattern.Feed(bytes); }, replay);
    if (!session.ok()) {
      return ::testing::AssertionFailure() << session.status();
    }
    absl::Status st = loop_->RunUntil(
        [&] { return pattern.matched() || IsFinal(machine.Status().phase); },
        absl::Now() + kBootTimeout);
    if (pattern.matched()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "console pattern not seen: " << st << "; phase "
           << VmiPhaseName(machine.Status().phase);
  }

  ::testing::AssertionResult WaitForMarker(Machine& machine) {
    return WaitForConsole(machine, ConsolePattern::Substring(kMarker));
  }

  // The guest's power-button watcher starts in the background just before
  // the marker and misses a press that comes before it opened the input
  // device; the second heartbeat comes a second after the marker.
  ::testing::AssertionResult WaitForPowerButtonWatcher(Machine& machine) {
    return WaitForConsole(machine, ConsolePattern::Substring("heartbeat 2\n"));
  }

  // Starts vmi_, follows its console and status in `watch` and waits for
  // qemu-ga (tests that follow a guest across a reboot).
  absl::StatusOr<std::unique_ptr<Machine>> StartWatchedWithAgent(RebootWatch& watch,
                                                                 absl::Time deadline) {
    absl::StatusOr<std::unique_ptr<Machine>> machine = Start(vmi_);
    if (!machine.ok()) return machine;
    if (::testing::AssertionResult watching = Watch(**machine, watch); !watching) {
      return absl::InternalError(watching.message());
    }
    RETURN_IF_ERROR((*machine)->WaitForCondition(vmi_condition::kAgentConnected,
                                                 ConditionStatus::kTrue, deadline));
    return machine;
  }

  static TestRoot* root_;
  spec::Vmi vmi_;
  std::unique_ptr<EventLoop> loop_;
};

TestRoot* MachineTest::root_ = nullptr;

const VmiCondition* Condition(const VmiStatus& status, const char* type) {
  return status.FindCondition(type);
}

TEST_F(MachineTest, BootsToConsoleMarkerAndIsReady) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();

  ASSERT_TRUE(WaitForMarker(**machine));
  VmiStatus status = (*machine)->Status();
  EXPECT_EQ(status.phase, VmiPhase::kRunning);
  const VmiCondition* ready = Condition(status, vmi_condition::kReady);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, ConditionStatus::kTrue);
  EXPECT_GT(status.qdirect.qemu_pid, 0);
  EXPECT_EQ(status.qdirect.qemu_runstate, "running");
}

TEST_F(MachineTest, QemuCannotWriteItsRuntimeDir) {
  if (geteuid() != 0) GTEST_SKIP() << "QEMU runs as another uid only when we are root";
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();

  // Every socket QEMU serves was passed to it; the dir stays ours, so a
  // compromised QEMU cannot replace control.sock or plant files there.
  struct stat dir;
  ASSERT_EQ(stat((*machine)->runtime_dir().c_str(), &dir), 0);
  struct stat qemu;
  const std::string proc =
      absl::StrCat("/proc/", (*machine)->Status().qdirect.qemu_pid);
  ASSERT_EQ(stat(proc.c_str(), &qemu), 0);
  EXPECT_NE(qemu.st_uid, 0u);
  EXPECT_EQ(dir.st_uid, 0u);
  EXPECT_EQ(dir.st_mode & 07777, 0710u);
  EXPECT_EQ(dir.st_gid, qemu.st_gid);
  for (const char* name : {"qmp.sock", "console.sock", "agent.sock"}) {
    struct stat socket;
    const std::string path = absl::StrCat((*machine)->runtime_dir(), "/", name);
    ASSERT_EQ(stat(path.c_str(), &socket), 0) << path;
    EXPECT_EQ(socket.st_uid, 0u) << path;
  }
}

TEST_F(MachineTest, PauseAndUnpauseShowInRunstateAndPausedCondition) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  ASSERT_TRUE(WaitForMarker(**machine));

  ASSERT_TRUE((*machine)->Pause().ok());
  VmiStatus paused = (*machine)->Status();
  EXPECT_EQ(paused.qdirect.qemu_runstate, "paused");  // from query-status
  EXPECT_EQ(paused.phase, VmiPhase::kRunning);
  const VmiCondition* condition = Condition(paused, vmi_condition::kPaused);
  ASSERT_NE(condition, nullptr);
  EXPECT_EQ(condition->status, ConditionStatus::kTrue);
  EXPECT_EQ(condition->reason, vmi_reason::kPausedByUser);
  EXPECT_EQ(Condition(paused, vmi_condition::kReady)->status,
            ConditionStatus::kFalse);

  ASSERT_TRUE((*machine)->Unpause().ok());
  VmiStatus resumed = (*machine)->Status();
  EXPECT_EQ(resumed.qdirect.qemu_runstate, "running");
  EXPECT_EQ(Condition(resumed, vmi_condition::kPaused), nullptr);
  EXPECT_EQ(Condition(resumed, vmi_condition::kReady)->status,
            ConditionStatus::kTrue);
  // The guest runs again: a heartbeat arrives after the unpause.
  EXPECT_TRUE(WaitForConsole(**machine, ConsolePattern::Substring("heartbeat"),
                             /*replay=*/false));
}

TEST_F(MachineTest, AcpiShutdownSucceedsAndRemovesRuntimeDir) {
  std::string runtime_dir;
  {
    auto machine = Start(vmi_);
    ASSERT_TRUE(machine.ok()) << machine.status();
    runtime_dir = (*machine)->runtime_dir();
    EXPECT_TRUE(std::filesystem::exists(runtime_dir + "/qemu.log"));
    ASSERT_TRUE(WaitForPowerButtonWatcher(**machine));
    std::string console;
    auto session = (*machine)->AttachConsole(
        [&](std::string_view bytes) { console.append(bytes); }, true);
    ASSERT_TRUE(session.ok());

    absl::Status st = (*machine)->Shutdown(absl::Seconds(60));
    ASSERT_TRUE(st.ok()) << st;
    VmiStatus status = (*machine)->Status();
    EXPECT_EQ(status.phase, VmiPhase::kSucceeded)
        << ToJson(status, {.include_qdirect = true, .pretty = true})
        << "\nconsole:\n" << console;
    EXPECT_EQ(status.qdirect.exit_code, 0);
    EXPECT_EQ(status.qdirect.qemu_pid, 0);
  }
  EXPECT_FALSE(std::filesystem::exists(runtime_dir));
}

// Keystrokes reach the guest's shell; a guest that powers itself off
// Succeeds and its QEMU (started with -no-shutdown) is ended, not left idle.
TEST_F(MachineTest, GuestPoweroffFromConsoleSucceedsAndEndsQemu) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  ASSERT_TRUE(WaitForMarker(**machine));
  auto session = (*machine)->AttachConsole([](std::string_view) {}, false);
  ASSERT_TRUE(session.ok()) << session.status();

  ASSERT_TRUE((*session)->Write("\npoweroff -f\n").ok());
  absl::Status st = (*machine)->WaitFor(VmiPhase::kSucceeded,
                                        absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(st.ok()) << st;
  st = loop_->RunUntil(
      [&] { return (*machine)->Status().qdirect.qemu_pid == 0; },
      absl::Now() + absl::Seconds(20));
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ((*machine)->Status().qdirect.exit_code, 0);
}

TEST_F(MachineTest, QemuKilledUnderUsFailsWithReason) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  std::vector<VmiPhase> published;
  (*machine)->OnStatusChange(
      [&](const VmiStatus& status) { published.push_back(status.phase); });

  ASSERT_EQ(::kill((*machine)->Status().qdirect.qemu_pid, SIGKILL), 0);
  absl::Status st =
      (*machine)->WaitFor(VmiPhase::kFailed, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(st.ok()) << st;
  VmiStatus status = (*machine)->Status();
  EXPECT_EQ(status.reason, "QemuKilled");
  EXPECT_EQ(status.qdirect.exit_signal, SIGKILL);
  EXPECT_THAT(Condition(status, vmi_condition::kReady)->message,
              HasSubstr("SIGKILL"));
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(published.back(), VmiPhase::kFailed);
}

TEST_F(MachineTest, KillIsAForcedStop) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();

  absl::Status st = (*machine)->Kill();
  ASSERT_TRUE(st.ok()) << st;
  VmiStatus status = (*machine)->Status();
  EXPECT_EQ(status.phase, VmiPhase::kFailed);
  EXPECT_EQ(status.reason, "ForcedStop");
  EXPECT_EQ(status.qdirect.exit_signal, SIGKILL);
  EXPECT_EQ((*machine)->Pause().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(MachineTest, QemuFailingDuringStartIsQuotedAndLeavesNothing) {
  // Real QEMU for the capability probe (-machine none), an error for the VM.
  const std::string script = root_->path() + "/failing-qemu";
  {
    std::ofstream out(script);
    out << "#!/bin/sh\n"
           "case \" $* \" in *\" -machine none \"*) "
           "exec /usr/bin/qemu-system-x86_64 \"$@\";; esac\n"
           "echo 'qemu-system-x86_64: -device virtio-net-pci: injected failure' >&2\n"
           "exit 1\n";
  }
  ASSERT_EQ(chmod(script.c_str(), 0755), 0);
  setenv("QDIRECT_QEMU", script.c_str(), 1);
  auto machine = Start(vmi_);
  unsetenv("QDIRECT_QEMU");

  ASSERT_FALSE(machine.ok());
  EXPECT_THAT(std::string(machine.status().message()),
              HasSubstr("qemu exited with code 1: qemu-system-x86_64: "
                        "-device virtio-net-pci: injected failure"));
  EXPECT_FALSE(std::filesystem::exists(
      absl::StrCat(root_->path(), "/run/default_", vmi_.metadata.name)));
}

TEST_F(MachineTest, SecondVmWithTheSameNameIsRefused) {
  auto first = Start(vmi_);
  ASSERT_TRUE(first.ok()) << first.status();

  auto second = Start(vmi_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("vm default/", vmi_.metadata.name)));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
  // The refusal touched nothing of the first.
  EXPECT_TRUE(std::filesystem::exists((*first)->runtime_dir() + "/qmp.sock"));
  EXPECT_TRUE(WaitForMarker(**first));
}

// What a crashed launcher left behind (no lock held) is cleaned and reused.
TEST_F(MachineTest, StaleRuntimeDirIsRecovered) {
  const std::string stale =
      absl::StrCat(root_->path(), "/run/default_", vmi_.metadata.name);
  std::filesystem::create_directories(stale);
  std::ofstream(stale + "/qmp.sock") << "left by a crashed launcher";
  std::ofstream(stale + "/junk") << "x";

  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  EXPECT_EQ((*machine)->runtime_dir(), stale);
  EXPECT_FALSE(std::filesystem::exists(stale + "/junk"));
  EXPECT_EQ((*machine)->Status().phase, VmiPhase::kRunning);
}

TEST_F(MachineTest, TwoVmsRunAtOnce) {
  auto a = Start(Named("two-a"));
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = Start(Named("two-b"));
  ASSERT_TRUE(b.ok()) << b.status();

  EXPECT_TRUE(WaitForMarker(**a));
  EXPECT_TRUE(WaitForMarker(**b));
  ASSERT_TRUE(WaitForPowerButtonWatcher(**a));
  EXPECT_NE((*a)->Status().qdirect.qemu_pid, (*b)->Status().qdirect.qemu_pid);
  ASSERT_TRUE((*a)->Shutdown(absl::Seconds(60)).ok());
  EXPECT_EQ((*a)->Status().phase, VmiPhase::kSucceeded);
  EXPECT_EQ((*b)->Status().phase, VmiPhase::kRunning);  // untouched
}

TEST_F(MachineTest, StartedPausedThenUnpausedBoots) {
  spec::Vmi vmi = vmi_;
  vmi.start_strategy = "Paused";
  auto machine = Start(vmi);
  ASSERT_TRUE(machine.ok()) << machine.status();
  EXPECT_EQ((*machine)->Status().qdirect.qemu_runstate, "prelaunch");

  ASSERT_TRUE((*machine)->Unpause().ok());
  EXPECT_EQ(Condition((*machine)->Status(), vmi_condition::kPaused), nullptr);
  EXPECT_TRUE(WaitForMarker(**machine));
}

TEST_F(MachineTest, InvalidNameIsRefusedBeforeAnythingIsCreated) {
  auto machine = Start(Named("Not_A_Label"));
  ASSERT_FALSE(machine.ok());
  EXPECT_EQ(machine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(machine.status().message()), HasSubstr("Not_A_Label"));
  EXPECT_FALSE(std::filesystem::exists(root_->path() + "/run/default_Not_A_Label"));
}

// A guest started paused cannot answer the power button: the stop policy
// must give up after the grace period and force QEMU down.
TEST_F(MachineTest, GuestIgnoringPowerButtonIsForcedAfterGrace) {
  spec::Vmi vmi = vmi_;
  vmi.start_strategy = "Paused";
  auto machine = Start(vmi);
  ASSERT_TRUE(machine.ok()) << machine.status();
  VmiStatus started = (*machine)->Status();
  ASSERT_NE(Condition(started, vmi_condition::kPaused), nullptr);
  EXPECT_EQ(Condition(started, vmi_condition::kPaused)->reason,
            vmi_reason::kPausedStartStrategy);

  absl::Status st = (*machine)->Shutdown(absl::Milliseconds(500));
  ASSERT_TRUE(st.ok()) << st;
  VmiStatus status = (*machine)->Status();
  EXPECT_EQ(status.phase, VmiPhase::kFailed);
  EXPECT_EQ(status.reason, "ForcedStop");
}

TEST_F(MachineTest, AgentConnectsAndFillsGuestOsInfoAndInterfaces) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  Machine& m = **machine;
  // When the console marker and AgentConnected were first seen.
  absl::Time marker_at = absl::InfinitePast();
  absl::Time agent_at = absl::InfinitePast();
  ConsolePattern marker = ConsolePattern::Substring(kMarker);
  auto session = m.AttachConsole(
      [&](std::string_view bytes) {
        marker.Feed(bytes);
        if (marker.matched() && marker_at == absl::InfinitePast()) {
          marker_at = absl::Now();
        }
      },
      /*replay=*/true);
  ASSERT_TRUE(session.ok()) << session.status();
  m.OnStatusChange([&](const VmiStatus& status) {
    const VmiCondition* c = status.FindCondition(vmi_condition::kAgentConnected);
    if (c != nullptr && c->status == ConditionStatus::kTrue &&
        agent_at == absl::InfinitePast()) {
      agent_at = absl::Now();
    }
  });

  const absl::Time deadline = absl::Now() + kBootTimeout;
  ASSERT_TRUE(m.WaitForCondition(vmi_condition::kAgentConnected,
                                 ConditionStatus::kTrue, deadline)
                  .ok());
  ASSERT_TRUE(loop_->RunUntil([&] { return marker.matched(); }, deadline).ok());
  std::printf("console marker -> AgentConnected: %.1f ms\n",
              absl::ToDoubleMilliseconds(agent_at - marker_at));

  // guestOSInfo and interfaces are read right after the connection.
  ASSERT_TRUE(loop_->RunUntil(
                       [&] { return !m.Status().guest_os_info.name.empty(); },
                       deadline)
                  .ok());
  VmiStatus status = m.Status();
  EXPECT_FALSE(status.guest_os_info.kernel_release.empty());
  EXPECT_EQ(status.phase, VmiPhase::kRunning);

  absl::StatusOr<agent::AgentClient*> client = m.Agent();
  ASSERT_TRUE(client.ok()) << client.status();
  // The guest has no NIC, only loopback, which KubeVirt leaves out of
  // status.interfaces.
  absl::StatusOr<std::vector<agent::NetworkInterface>> guest_nics =
      (*client)->GetNetworkInterfaces();
  ASSERT_TRUE(guest_nics.ok()) << guest_nics.status();
  ASSERT_TRUE(std::any_of(guest_nics->begin(), guest_nics->end(),
                          [](const agent::NetworkInterface& nic) {
                            return nic.name == "lo";
                          }));
  EXPECT_TRUE(status.interfaces.empty());
  EXPECT_EQ(status.interfaces.size(), guest_nics->size() - 1);

  agent::ExecRequest echo;
  echo.path = "/bin/echo";
  echo.args = {"hi"};
  absl::StatusOr<agent::ExecStatus> exec = (*client)->Exec(echo);
  ASSERT_TRUE(exec.ok()) << exec.status();
  EXPECT_TRUE(exec->exited);
  EXPECT_EQ(exec->exit_code, 0);
  EXPECT_EQ(exec->out, "hi\n");

  // Once QEMU is gone the agent is refused and the condition is gone.
  ASSERT_TRUE(m.Kill().ok());
  absl::StatusOr<agent::AgentClient*> after = m.Agent();
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Condition(m.Status(), vmi_condition::kAgentConnected), nullptr);
}

TEST_F(MachineTest, AgentOfAPausedGuestIsNotConnected) {
  spec::Vmi vmi = vmi_;
  vmi.start_strategy = "Paused";
  auto machine = Start(vmi);
  ASSERT_TRUE(machine.ok()) << machine.status();

  absl::StatusOr<agent::AgentClient*> client = (*machine)->Agent();
  EXPECT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(client.status().message(), HasSubstr("not connected"));
  // The vCPUs never ran, so no qemu-ga can answer: the wait times out.
  absl::Status st = (*machine)->WaitForCondition(
      vmi_condition::kAgentConnected, ConditionStatus::kTrue,
      absl::Now() + absl::Seconds(2));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_TRUE((*machine)->Status().guest_os_info.name.empty());
}

// Not a pass/fail check: prints exec -> QMP ready, exec -> running (cont
// answered) and exec -> console marker, medians of 5 boots, for the README.
TEST_F(MachineTest, StartupTimings) {
  std::vector<double> qmp_ms, running_ms, marker_ms;
  for (int i = 0; i < 5; ++i) {
    auto machine = Start(Named(absl::StrCat("timing-", i)));
    ASSERT_TRUE(machine.ok()) << machine.status();
    ASSERT_TRUE(WaitForMarker(**machine));
    const absl::Time marker = absl::Now();
    const MachineStartTimes& t = (*machine)->start_times();
    qmp_ms.push_back(absl::ToDoubleMilliseconds(t.qmp_ready - t.exec));
    running_ms.push_back(absl::ToDoubleMilliseconds(t.running - t.exec));
    marker_ms.push_back(absl::ToDoubleMilliseconds(marker - t.exec));
  }
  for (auto* v : {&qmp_ms, &running_ms, &marker_ms}) std::sort(v->begin(), v->end());
  std::printf("exec -> QMP ready: median %.1f ms\n", qmp_ms[2]);
  std::printf("exec -> running (cont answered): median %.1f ms\n", running_ms[2]);
  std::printf("exec -> console marker: median %.1f ms\n", marker_ms[2]);
  EXPECT_GT(qmp_ms[2], 0);
  EXPECT_GE(running_ms[2], qmp_ms[2]);
  EXPECT_GT(marker_ms[2], running_ms[2]);
}

TEST_F(MachineTest, SoftRebootThroughTheAgentBootsAgainWhileRunning) {
  const absl::Time deadline = absl::Now() + 2 * kBootTimeout;
  RebootWatch watch;
  auto machine = StartWatchedWithAgent(watch, deadline);
  ASSERT_TRUE(machine.ok()) << machine.status();
  Machine& m = **machine;
  ASSERT_TRUE(loop_->RunUntil([&] { return watch.BootIds().size() == 1; }, deadline).ok());

  ASSERT_TRUE(m.SoftReboot().ok());

  ASSERT_TRUE(loop_->RunUntil([&] { return watch.BootIds().size() == 2; }, deadline).ok())
      << watch.console;
  // qemu-ga ran the guest's shutdown -r (tests/guest/rootfs/bin/shutdown).
  EXPECT_NE(watch.console.find("QDIRECT-GUEST-REBOOT"), std::string::npos);
  const std::vector<std::string> ids = watch.BootIds();
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_FALSE(watch.left_running);
  EXPECT_EQ(m.Status().phase, VmiPhase::kRunning);
}

TEST_F(MachineTest, SoftRebootWithoutAgentUsesAcpiAndBootsAgain) {
  const absl::Time deadline = absl::Now() + 2 * kBootTimeout;
  RebootWatch watch;
  auto machine = StartWatchedWithAgent(watch, deadline);
  ASSERT_TRUE(machine.ok()) << machine.status();
  Machine& m = **machine;
  ASSERT_TRUE(WaitForPowerButtonWatcher(m));
  // Take qemu-ga away (and the loop that restarts it) from the console
  // shell; busybox has no pkill -f.
  ASSERT_TRUE(watch.session
                  ->Write("ps | grep [q]direct-agent | while read p rest; do "
                          "kill $p; done; killall qemu-ga\n")
                  .ok());
  ASSERT_TRUE(m.WaitForCondition(vmi_condition::kAgentConnected,
                                 ConditionStatus::kFalse, deadline)
                  .ok())
      << watch.console;

  ASSERT_TRUE(m.SoftReboot().ok());

  ASSERT_TRUE(loop_->RunUntil([&] { return watch.BootIds().size() == 2; }, deadline).ok())
      << watch.console;
  const std::vector<std::string> ids = watch.BootIds();
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_EQ(watch.console.find("QDIRECT-GUEST-REBOOT"), std::string::npos);
  EXPECT_FALSE(watch.left_running);
  EXPECT_EQ(m.Status().phase, VmiPhase::kRunning);
  EXPECT_EQ(m.Status().qdirect.qemu_runstate, "running");
}

TEST_F(MachineTest, SoftRebootOfAPausedVmIsRefused) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  ASSERT_TRUE((*machine)->Pause().ok());

  absl::Status st = (*machine)->SoftReboot();

  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("paused"));
  EXPECT_EQ((*machine)->Status().qdirect.qemu_runstate, "paused");
}

TEST_F(MachineTest, StatsShowVcpuMemoryAndBalloon) {
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();
  Machine& m = **machine;
  ASSERT_TRUE(WaitForMarker(m));

  absl::StatusOr<VmStats> stats = m.Stats();

  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->vcpus.size(), 1u);
  EXPECT_GT(stats->vcpus[0].thread_id, 0);
  EXPECT_GT(stats->vcpus[0].cpu_seconds, 0);  // it booted a kernel under TCG
  EXPECT_GT(stats->memory.qemu_rss_bytes, 0);
  EXPECT_EQ(stats->memory.balloon_actual_bytes, int64_t{128} << 20);
  EXPECT_TRUE(stats->block.empty());  // the test VMI has no disk

  // The guest's balloon driver reports every 5 s once asked at start.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!stats->memory.available_bytes && absl::Now() < deadline) {
    ASSERT_TRUE(WaitForConsole(m, ConsolePattern::Substring("heartbeat"), false));
    stats = m.Stats();
    ASSERT_TRUE(stats.ok()) << stats.status();
  }
  ASSERT_TRUE(stats->memory.available_bytes.has_value());
  EXPECT_GT(*stats->memory.available_bytes, 0);
  EXPECT_LE(*stats->memory.available_bytes, int64_t{128} << 20);
  ASSERT_TRUE(stats->memory.unused_bytes.has_value());
  EXPECT_LT(*stats->memory.unused_bytes, *stats->memory.available_bytes);
}

TEST_F(MachineTest, PasstInterfaceGivesTheGuestADhcpLease) {
  spec::Interface nic;
  nic.name = "default";
  nic.binding = spec::Interface::Binding::kPasst;
  vmi_.domain.devices.interfaces = {nic};
  vmi_.networks = {spec::Network{"default", spec::PodNetwork{}}};
  auto machine = Start(vmi_);
  ASSERT_TRUE(machine.ok()) << machine.status();

  // passt answers the guest's DHCP on the other end of QEMU's socketpair.
  ASSERT_TRUE(WaitForConsole(**machine, ConsolePattern::Substring("QDIRECT-NET eth0 ")));
  EXPECT_TRUE(std::filesystem::exists((*machine)->runtime_dir() + "/passt-default.log"));
  EXPECT_FALSE(std::filesystem::exists((*machine)->runtime_dir() + "/passt-default.sock"));
  ASSERT_TRUE((*machine)->Kill().ok());
}

}  // namespace
}  // namespace qdirect::vm
