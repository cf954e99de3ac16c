#pragma once

// Machine::Impl, shared by the files that implement vm::Machine (machine.cc:
// start and lifecycle; and one file per operation family beside it). Private
// to lib/vm.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "launch/credentials.h"
#include "launch/log_tail.h"
#include "launch/process.h"
#include "launch/runtime_dir.h"
#include "launch/unix_socket.h"
#include "plan/files.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/hostdev.h"
#include "qdirect/machine.h"
#include "qdirect/plan.h"
#include "qdirect/qmp.h"
#include "vm/console_log.h"
#include "vm/console_stream.h"
#include "vm/guest_interfaces.h"
#include "vm/host_facts.h"
#include "vm/qmp_event_input.h"
#include "vm/shutdown_policy.h"
#include "vm/status_tracker.h"

namespace qdirect::vm {
// Constants of the Machine implementation files.
// QEMU's environment: nothing of ours leaks in (proxies, LD_*, secrets).
inline const std::vector<std::string> kQemuEnv = {"PATH=/usr/bin:/bin",
                                                  "LC_ALL=C"};
// How much of qemu.log an error quotes.
inline constexpr size_t kLogTailBytes = 2048;
// After QMP broke during start, how long QEMU may take to finish exiting
// before we stop waiting and kill it.
inline constexpr absl::Duration kExitSettle = absl::Seconds(3);
// Slack beyond the stop policy's own deadlines before Shutdown gives up.
inline constexpr absl::Duration kShutdownSlack = absl::Seconds(30);
// How often guestOSInfo and interfaces are read from a connected agent
// (virt-launcher polls interfaces every 10 s too).
inline constexpr absl::Duration kAgentRefreshInterval = absl::Seconds(10);

// The planner's memory balloon (autoattachMemBalloon).
inline constexpr char kBalloonId[] = "balloon0";
inline constexpr char kBalloonPath[] = "/machine/peripheral/balloon0";

// Debian's abseil has its own string_view; StrCat takes only that one.
inline absl::string_view AV(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// VFIO pins guest RAM: the RLIMIT_MEMLOCK QEMU needs (Plan::memlock_bytes)
// when ours is lower; nullopt when there is nothing to raise
// (lib/vm/machine_hostdev.cc).
std::optional<launch::ResourceLimit> VfioMemlockLimit(const Plan& plan);

struct Machine::Impl {
  // Declared first so it is destroyed last: everything below watches fds on
  // it.
  std::unique_ptr<EventLoop> own_loop;
  EventLoop* loop = nullptr;
  // "vm <namespace>/<name>", the prefix of every error.
  std::string label;
  std::string node_name;
  absl::Duration default_grace = absl::Seconds(30);
  bool acpi = true;

  std::optional<launch::VmRuntimeDir> dir;
  std::string dir_path;
  std::optional<Plan> plan;
  // The passt processes serving the plan's passt interfaces
  // (machine_passt.cc); killed with QEMU.
  std::vector<launch::Process> passt_processes;
  absl::StatusOr<UniqueFd> StartPasst(const std::string& interface,
                                      const StandaloneConfig& config,
                                      const std::optional<launch::Credentials>& credentials);
  // SoftReboot pressed the power button to reboot (FinishAcpiReboot).
  bool acpi_reboot_pending = false;
  // Hot-plugged devices, in order (Machine::HotpluggedDevices).
  std::vector<DeviceEntry> hotplugged;
  // The long operation under way ("migration", "hotplug of volume data"):
  // another one is refused while it runs (BeginOperation). Empty: none.
  std::string operation;
  // --- hotplug (machine_hotplug.cc) ---
  // The spec and host facts the plan was made from: hotplug plans with them.
  std::optional<spec::Vmi> vmi;
  std::optional<HostFacts> facts;
  // Devices whose device_del awaits the guest (kPending) -> what they serve.
  std::map<std::string, std::string> unplugging;
  // device_del of device_id (then blockdev-del/netdev_del of backends);
  // `finish` runs once the device is gone: now (kDone) or, while this
  // Machine lives, on its DEVICE_DELETED (kPending). other_functions: the
  // rest of a multifunction device's slot, gone with it (each awaited).
  absl::StatusOr<HotplugOutcome> SendUnplug(const std::string& device_id,
                                            const std::vector<DeviceEntry>& backends,
                                            absl::Duration guest_wait,
                                            std::function<void(const absl::Status&)> finish,
                                            const std::vector<std::string>& other_functions = {});
  // status.volumeStatus of the hot-plugged volumes.
  std::vector<VmiVolumeStatus> volume_status;
  // virtio-mem's requested-size (bytes beyond the boot memory).
  int64_t virtio_mem_requested = 0;
  // Publishes status.interfaces after a NIC came, went or changed link
  // (machine_hotplug.cc); re-reads the agent when connected.
  void RefreshDomainInterfaces();
  // --- end of hotplug ---
  bool plan_files_created = false;
  std::string log_path;
  std::optional<launch::Process> process;
  MachineStartTimes start_times;
  bool exited = false;
  WatchId pid_watch;
  std::unique_ptr<qmp::QmpClient> qmp;
  std::unique_ptr<ConsoleStream> console;
  std::unique_ptr<agent::AgentClient> agent;
  // The spec's NICs, the base of status.interfaces.
  std::vector<DomainInterface> domain_interfaces;
  // Bumped on every agent (dis)connection: answers of an earlier connection
  // are dropped.
  uint64_t agent_generation = 0;
  TimerId agent_refresh_timer;

  StatusTracker tracker;
  std::vector<std::function<void(const VmiStatus&)>> callbacks;

  bool shutting_down = false;
  ShutdownOptions shutdown_options;
  ShutdownState shutdown_state;
  bool last_action_failed = false;
  TimerId shutdown_timer;
  // EndFinishedQemu sent its quit.
  bool quit_sent = false;

  // --- VFIO host devices (lib/vm/machine_hostdev.cc) ---
  // The plan's vfio-pci host devices, readied for QEMU at Launch (group
  // viable, /dev/vfio/<group> owned by QEMU's uid); given back at Teardown.
  std::vector<hostdev::PreparedDevice> prepared_host_devices;
  absl::Status PrepareHostDevices(const std::optional<launch::Credentials>& qemu);
  void ReleaseHostDevices();
  // Live migration (machine_migration.cc).
  std::optional<MachineOptions::Incoming> incoming;
  // The user QEMU runs as (when we are root).
  std::optional<launch::Credentials> qemu_credentials;
  // QEMU binds a unix migration socket itself but may not write the runtime
  // dir: a unix: URI inside it must name a subdirectory, made here for QEMU.
  absl::Status PrepareIncomingSocketDir(std::string_view uri);
  // The last MIGRATION event's status ("" before any).
  std::string migration_event_status;
  bool migration_cancel_requested = false;
  std::optional<qmp::SubscriptionId> migration_events;
  // Target: a postcopy whose channel broke listens again (migrate-recover
  // on incoming->uri) from the MIGRATION event; a refused migrate-recover
  // is retried on this timer while QEMU stays postcopy-paused.
  void OnIncomingMigrationEvent();
  void RecoverIncoming(int attempt);
  TimerId recover_timer;
  // Why the last migrate-recover was refused (quoted by WaitIncoming).
  std::string recover_error;

  // Callbacks of QMP calls capture a weak reference: they may be delivered
  // while the Impl is being torn down.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  explicit Impl(absl::Time now, StatusTrackerOptions options)
      : tracker(now, options) {}

  ~Impl() { Teardown(); }

  VmiStatus Current() const {
    VmiStatus status = tracker.status();
    status.node_name = node_name;
    return status;
  }

  void Apply(const TrackerInput& input) {
    if (!tracker.Apply(input, absl::Now())) return;
    if (IsFinal(tracker.status().phase)) EndFinishedQemu();
    const VmiStatus status = Current();
    // A callback may add callbacks; walk by index over a stable count.
    const size_t n = callbacks.size();
    for (size_t i = 0; i < n; ++i) callbacks[i](status);
  }

  absl::Status Error(std::string_view what, const absl::Status& cause) const {
    return absl::Status(cause.code(),
                        absl::StrCat(label, ": ", AV(what), ": ", cause.message()));
  }

  void OnProcessExit() {
    if (exited || !process) return;
    absl::StatusOr<std::optional<launch::ExitInfo>> reaped = process->TryReap();
    if (!reaped.ok() || !reaped->has_value()) return;
    exited = true;
    if (pid_watch.valid()) loop->Unwatch(pid_watch);
    pid_watch = {};
    // No QEMU, no channel: the agent client must not keep reconnecting.
    CancelAgentRefresh();
    if (agent) agent->Close("QEMU has exited");
    const launch::ExitInfo& info = **reaped;
    Apply(ProcessExited{info.kind == launch::ExitInfo::Kind::kSignaled,
                        info.code, info.signal});
    if (shutting_down) StepShutdown();
  }

  void CancelAgentRefresh() {
    if (agent_refresh_timer.valid()) loop->CancelTimer(agent_refresh_timer);
    agent_refresh_timer = {};
  }

  void OnAgentStatus(bool connected) {
    ++agent_generation;
    CancelAgentRefresh();
    if (connected) {
      Apply(AgentConnected{});
      RefreshFromAgent();
    } else {
      Apply(AgentDisconnected{});
      Apply(InterfacesUpdate{InterfaceStatusFromDomain(domain_interfaces)});
    }
  }

  // Reads guest-get-osinfo and guest-network-get-interfaces into the status,
  // then again kAgentRefreshInterval after both answered. A failed read
  // (an old qemu-ga without the command) leaves that part as it was.
  void RefreshFromAgent() {
    std::weak_ptr<bool> weak = alive;
    const uint64_t generation = agent_generation;
    auto pending = std::make_shared<int>(2);
    auto answered = [this, weak, generation, pending] {
      if (weak.expired() || generation != agent_generation) return;
      if (--*pending > 0 || !agent->connected()) return;
      agent_refresh_timer = loop->AddTimer(kAgentRefreshInterval, [this] {
        agent_refresh_timer = {};
        RefreshFromAgent();
      });
    };
    agent->GetOsInfoAsync(
        [this, weak, generation, answered](absl::StatusOr<GuestOsInfo> info) {
          if (weak.expired() || generation != agent_generation) return;
          if (info.ok()) Apply(GuestOsInfoUpdate{*std::move(info)});
          answered();
        });
    agent->GetNetworkInterfacesAsync(
        [this, weak, generation,
         answered](absl::StatusOr<std::vector<agent::NetworkInterface>> nics) {
          if (weak.expired() || generation != agent_generation) return;
          if (nics.ok()) {
            Apply(InterfacesUpdate{MergeGuestInterfaces(
                InterfaceStatusFromDomain(domain_interfaces), *nics)});
          }
          answered();
        });
  }

  void OnEvent(const qmp::Event& event) {
    std::optional<TrackerInput> input = TrackerInputFromQmpEvent(event);
    if (input) Apply(*input);
    if (acpi_reboot_pending && event.name == "SHUTDOWN") FinishAcpiReboot(event);
  }

  // Asks the balloon (when the plan has one) to poll the guest's memory
  // figures, as KubeVirt's domain does (statsPeriod 10 s; 5 s here). Sent
  // without waiting: Stats() simply lacks them until they come.
  void EnableBalloonStats() {
    const auto balloon = std::find_if(
        plan->devices.begin(), plan->devices.end(),
        [](const DeviceEntry& e) { return e.id == kBalloonId; });
    if (balloon == plan->devices.end()) return;
    rapidjson::Document args(rapidjson::kObjectType);
    auto& a = args.GetAllocator();
    args.AddMember("path", rapidjson::Value(kBalloonPath, a), a);
    args.AddMember("property", "guest-stats-polling-interval", a);
    args.AddMember("value", 5, a);
    qmp->Execute("qom-set", &args, {}, [](absl::StatusOr<qmp::Reply>) {});
  }

  // The guest answered SoftReboot's power button by powering off; with
  // -no-shutdown QEMU merely stopped: reset and run it again, as libvirt's
  // fake reboot does. The tracker (RebootRequested) kept the VMI alive.
  void FinishAcpiReboot(const qmp::Event& event) {
    const auto guest = event.data.FindMember("guest");
    if (guest == event.data.MemberEnd() || !guest->value.IsBool() ||
        !guest->value.GetBool() || shutting_down) {
      return;
    }
    acpi_reboot_pending = false;
    std::weak_ptr<bool> weak = alive;
    qmp->Execute("system_reset", nullptr, {},
                 [this, weak](absl::StatusOr<qmp::Reply> reply) {
                   if (weak.expired() || !reply.ok() || exited) return;
                   qmp->Execute("cont", nullptr, {},
                                [](absl::StatusOr<qmp::Reply>) {});
                 });
  }

  // Reads QEMU's runstate into the tracker (after stop/cont, so the status
  // does not depend on whether the event or the reply came first).
  absl::Status RefreshRunstate() {
    ASSIGN_OR_RETURN(qmp::StatusInfo info, qmp->QueryStatus());
    Apply(QueryStatusResult{info.running, info.status});
    return absl::OkStatus();
  }

  // Claims `operation` for `what` (a migration, a hotplug), or refuses
  // with FailedPrecondition naming the one under way. EndOperation frees it.
  absl::Status BeginOperation(std::string_view what) {
    if (!operation.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(label, ": ", AV(what), ": refused while ", operation,
                       " is in progress; try again when it has ended"));
    }
    operation = std::string(what);
    return absl::OkStatus();
  }
  void EndOperation() { operation.clear(); }

  absl::Status RequireRunning(std::string_view what) const {
    if (exited || !qmp) {
      return absl::FailedPreconditionError(
          absl::StrCat(label, ": ", AV(what), ": QEMU is not running"));
    }
    return absl::OkStatus();
  }

  // One step of the stop policy (shutdown_policy.h): called when the stop
  // begins, when its deadline passes and when QEMU exits or a command fails.
  void StepShutdown() {
    ShutdownObservations seen;
    seen.process_exited = exited;
    seen.qmp_connected = qmp != nullptr && qmp->closed_status().ok();
    seen.last_action_failed = std::exchange(last_action_failed, false);
    const ShutdownStep step = NextShutdownStep(shutdown_state, shutdown_options,
                                               absl::Now(), seen);
    shutdown_state = step.state;
    switch (step.action) {
      case ShutdownAction::kNone:
        break;
      case ShutdownAction::kSystemPowerdown:
        SendStopCommand("system_powerdown");
        break;
      case ShutdownAction::kQuit:
        Apply(ForceStopStarted{});
        SendStopCommand("quit");
        break;
      case ShutdownAction::kSigkill:
        Apply(ForceStopStarted{});
        if (process && !exited) (void)process->Kill(SIGKILL);
        break;
    }
    if (shutdown_timer.valid()) loop->CancelTimer(shutdown_timer);
    shutdown_timer = {};
    if (step.deadline != absl::InfiniteFuture()) {
      shutdown_timer = loop->AddTimerAt(step.deadline, [this] {
        shutdown_timer = {};
        StepShutdown();
      });
    }
  }

  // The VMI is over (guest powered off, panicked...) but QEMU, started with
  // -no-shutdown, only stopped: end it, by force if quit is refused.
  void EndFinishedQemu() {
    if (quit_sent || exited || qmp == nullptr || !qmp->closed_status().ok()) {
      return;
    }
    quit_sent = true;
    std::weak_ptr<bool> weak = alive;
    qmp->Execute("quit", nullptr, {},
                 [this, weak](absl::StatusOr<qmp::Reply> reply) {
                   if (weak.expired() || reply.ok() || exited ||
                       reply.status().code() == absl::StatusCode::kUnavailable) {
                     return;
                   }
                   (void)process->Kill(SIGKILL);
                 });
  }

  void SendStopCommand(std::string_view command) {
    std::weak_ptr<bool> weak = alive;
    const bool is_quit = command == "quit";
    qmp->Execute(command, nullptr, {},
                 [this, weak, is_quit](absl::StatusOr<qmp::Reply> reply) {
                   if (weak.expired() || reply.ok() || exited) return;
                   // QEMU may drop the socket before answering quit.
                   if (is_quit &&
                       reply.status().code() == absl::StatusCode::kUnavailable) {
                     return;
                   }
                   last_action_failed = true;
                   StepShutdown();
                 });
  }

  // Runs the loop until QEMU has exited or `deadline`.
  absl::Status WaitExit(absl::Time deadline) {
    return loop->RunUntil([this] { return exited; }, deadline);
  }

  // Kills QEMU if alive, reaps it, removes what Start created.
  void Teardown() {
    alive.reset();
    if (shutdown_timer.valid()) loop->CancelTimer(shutdown_timer);
    shutdown_timer = {};
    if (recover_timer.valid()) loop->CancelTimer(recover_timer);
    recover_timer = {};
    CancelAgentRefresh();
    agent.reset();
    console.reset();
    qmp.reset();
    if (process && !exited) {
      (void)process->Kill(SIGKILL);
      (void)process->Wait(absl::Seconds(10));
      exited = true;
    }
    if (pid_watch.valid()) loop->Unwatch(pid_watch);
    pid_watch = {};
    process.reset();
    for (launch::Process& passt : passt_processes) {
      (void)passt.Kill(SIGKILL);
      (void)passt.Wait(absl::Seconds(5));
    }
    passt_processes.clear();
    ReleaseHostDevices();
    if (plan && plan_files_created) (void)RemovePlanFiles(*plan, dir_path);
    plan_files_created = false;
    if (dir) (void)dir->Remove();
    dir.reset();
  }

  // Start failed with `cause`: if QEMU died, its exit and the tail of its
  // log say why better than the symptom we saw; then nothing is left.
  absl::Status StartFailure(absl::Status cause) {
    if (process && !exited) {
      // Whatever failed (QMP refused or broke, the console...), QEMU dying
      // is the likely cause; give it a moment to finish.
      if (process->Wait(kExitSettle).ok()) exited = true;
    }
    const std::string tail = launch::ReadLogTail(log_path, kLogTailBytes);
    if (process && process->exit_info()) {
      cause = absl::FailedPreconditionError(
          absl::StrCat(label, ": start: qemu ", process->exit_info()->ToString(),
                       tail.empty() ? "" : ": ", tail));
    } else if (process && !tail.empty()) {
      cause = absl::Status(cause.code(),
                           absl::StrCat(cause.message(), "; qemu.log: ", tail));
    }
    Teardown();
    return cause;
  }

  absl::Status Launch(const spec::Vmi& vmi, const MachineOptions& options);

  // Live migration hooks of Launch (machine_migration.cc): the
  // LiveMigratable condition from the spec; the target's argv
  // (-incoming defer, no -S); the target's setup once QMP is up.
  void ApplyLiveMigratable(const spec::Vmi& vmi);
  void PrepareIncomingPlan();
  absl::Status StartIncoming();
  void WatchMigrationEvents();
  void UpdateMigrationState(const std::function<void(VmiMigrationState&)>& edit);
};

}  // namespace qdirect::vm
