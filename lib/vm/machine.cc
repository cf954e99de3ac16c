#include "qdirect/machine.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "launch/credentials.h"
#include "launch/log_tail.h"
#include "launch/process.h"
#include "launch/runtime_dir.h"
#include "launch/unix_socket.h"
#include "plan/files.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
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
namespace {

// QEMU's environment: nothing of ours leaks in (proxies, LD_*, secrets).
const std::vector<std::string> kQemuEnv = {"PATH=/usr/bin:/bin", "LC_ALL=C"};
// How much of qemu.log an error quotes.
constexpr size_t kLogTailBytes = 2048;
// After QMP broke during start, how long QEMU may take to finish exiting
// before we stop waiting and kill it.
constexpr absl::Duration kExitSettle = absl::Seconds(3);
// Slack beyond the stop policy's own deadlines before Shutdown gives up.
constexpr absl::Duration kShutdownSlack = absl::Seconds(30);
// How often guestOSInfo and interfaces are read from a connected agent
// (virt-launcher polls interfaces every 10 s too).
constexpr absl::Duration kAgentRefreshInterval = absl::Seconds(10);

// Debian's abseil has its own string_view; StrCat takes only that one.
absl::string_view AV(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

}  // namespace

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
  }

  // Reads QEMU's runstate into the tracker (after stop/cont, so the status
  // does not depend on whether the event or the reply came first).
  absl::Status RefreshRunstate() {
    ASSIGN_OR_RETURN(qmp::StatusInfo info, qmp->QueryStatus());
    Apply(QueryStatusResult{info.running, info.status});
    return absl::OkStatus();
  }

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
};

absl::Status Machine::Impl::Launch(const spec::Vmi& vmi,
                                   const MachineOptions& options) {
  const absl::Time deadline = absl::Now() + options.start_timeout;
  const std::string& ns = vmi.metadata.namespace_;
  const std::string& name = vmi.metadata.name;
  RETURN_IF_ERROR(launch::ValidateNamespace(ns));
  RETURN_IF_ERROR(launch::ValidateVmName(name));
  const std::string root = options.runtime_root.empty()
                               ? launch::RuntimeRootFromEnvironment()
                               : options.runtime_root;
  ASSIGN_OR_RETURN(launch::VmRuntimeDir acquired,
                   launch::VmRuntimeDir::Acquire(root, ns, name));
  dir = std::move(acquired);
  dir_path = dir->path();

  ASSIGN_OR_RETURN(
      HostFacts facts,
      GatherHostFacts(vmi, StandaloneConfigFromEnvironment(), dir_path));
  absl::StatusOr<Plan> planned = MakePlan(vmi, facts);
  if (!planned.ok()) return Error("plan", planned.status());
  plan = std::move(*planned);

  // As root QEMU runs as an unprivileged user, set in the child before exec
  // (FACTS.md: -runas under the sandbox dies of SIGSYS); it must own the
  // runtime dir (it binds the console socket there) and the plan's files.
  std::optional<launch::Credentials> credentials;
  PlanFilesOwner owner;
  if (geteuid() == 0) {
    absl::StatusOr<launch::Credentials> resolved =
        launch::ResolveQemuCredentials(options.qemu_user);
    if (!resolved.ok()) return Error("qemu user", resolved.status());
    credentials = *resolved;
    owner = {static_cast<int>(credentials->uid),
             static_cast<int>(credentials->gid)};
    RETURN_IF_ERROR(dir->HandOverTo(*credentials));
  }
  plan_files_created = true;  // a partial creation is cleaned up too
  if (absl::Status st = CreatePlanFiles(*plan, owner); !st.ok()) {
    return Error("create files", st);
  }

  for (const std::string* socket :
       {&plan->qmp_socket, &plan->console_socket, &plan->agent_socket}) {
    if (!socket->empty()) RETURN_IF_ERROR(launch::CheckSocketPath(*socket));
  }
  absl::StatusOr<UniqueFd> listener =
      launch::BindListeningUnixSocket(plan->qmp_socket);
  if (!listener.ok()) return Error("qmp socket", listener.status());

  if (!plan->passt_sockets.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        label, ": interface ", plan->passt_sockets.begin()->first,
        ": passt binding is not started by the Machine yet"));
  }
  launch::SpawnOptions spawn;
  spawn.argv = plan->argv;
  spawn.env = kQemuEnv;
  spawn.env.insert(spawn.env.end(), plan->env.begin(), plan->env.end());
  for (const FdToPass& fd : plan->fds) {
    if (fd.kind != FdToPass::Kind::kQmpListener) {
      return absl::UnimplementedError(absl::StrCat(
          label, ": passing ", fd.name,
          " (tap or VFIO fd) is not supported by the standalone Machine yet"));
    }
    spawn.fds.push_back({listener->get(), fd.child_fd});
  }
  log_path = absl::StrCat(dir_path, "/qemu.log");
  spawn.log_path = log_path;
  spawn.working_dir = dir_path;
  spawn.credentials = credentials;
  if (credentials) spawn.capabilities = std::vector<int>{};
  absl::StatusOr<launch::Process> spawned = launch::Spawn(spawn);
  if (!spawned.ok()) return Error("spawn qemu", spawned.status());
  process = std::move(*spawned);
  // QEMU holds the listener now. Ours must go, or a QEMU that dies before
  // accepting would leave our connection pending for ever.
  listener->reset();
  start_times.exec = absl::Now();
  Apply(ProcessStarted{process->pid(), dir_path});

  ASSIGN_OR_RETURN(pid_watch, loop->WatchPidfd(process->pidfd(),
                                               [this] { OnProcessExit(); }));

  // The listener is bound, so connect succeeds at once; QEMU accepts it
  // when its main loop runs.
  absl::StatusOr<UniqueFd> qmp_fd = launch::ConnectUnixSocket(plan->qmp_socket);
  if (!qmp_fd.ok()) return Error("qmp connect", qmp_fd.status());
  qmp::ClientOptions client_options;
  client_options.greeting_timeout =
      std::max(deadline - absl::Now(), absl::Milliseconds(1));
  ASSIGN_OR_RETURN(qmp, qmp::QmpClient::Create(loop, std::move(*qmp_fd),
                                               client_options));
  for (std::string_view event : StatusEventNames()) {
    qmp->Subscribe(qmp::EventMatcher{std::string(event), nullptr},
                   [this](const qmp::Event& e) { OnEvent(e); });
  }
  if (absl::Status st = qmp->WaitReady(deadline); !st.ok()) {
    return Error("qmp", st);
  }
  start_times.qmp_ready = absl::Now();

  // QEMU bound the console socket before its main loop (and so before the
  // greeting). Connect before `cont`: QEMU drops output nobody reads.
  if (!plan->console_socket.empty()) {
    absl::StatusOr<UniqueFd> console_fd =
        launch::ConnectUnixSocket(plan->console_socket);
    if (!console_fd.ok()) return Error("console connect", console_fd.status());
    std::optional<ConsoleLog> console_log;
    if (options.console_log_bytes > 0) {
      ASSIGN_OR_RETURN(console_log,
                       ConsoleLog::Open(absl::StrCat(dir_path, "/console.log"),
                                        options.console_log_bytes));
    }
    ASSIGN_OR_RETURN(console, ConsoleStream::Start(loop, std::move(*console_fd),
                                                   std::move(console_log)));
  }

  // The agent channel's socket exists too (QEMU serves it, wait=off); the
  // client retries on its own timer until qemu-ga in the guest answers.
  domain_interfaces = DomainInterfacesFromPlan(vmi, *plan);
  Apply(InterfacesUpdate{InterfaceStatusFromDomain(domain_interfaces)});
  if (!plan->agent_socket.empty()) {
    absl::StatusOr<std::unique_ptr<agent::AgentClient>> client =
        agent::AgentClient::Create(
            loop, agent::UnixSocketConnector(plan->agent_socket));
    if (!client.ok()) return Error("guest agent", client.status());
    agent = std::move(*client);
    agent->SetStatusCallback(
        [this](bool connected) { OnAgentStatus(connected); });
  }

  if (vmi.start_strategy == "Paused") {
    Apply(StartPausedRequested{});
  } else if (absl::Status st = qmp->Cont(); !st.ok()) {
    return Error("cont", st);
  }
  start_times.running = absl::Now();
  if (absl::Status st = RefreshRunstate(); !st.ok()) {
    return Error("query-status", st);
  }
  if (tracker.status().phase != VmiPhase::kRunning) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, ": start: phase is ", AV(VmiPhaseName(tracker.status().phase)),
        " after cont (runstate ", tracker.status().qdirect.qemu_runstate,
        ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Machine>> Machine::Start(
    const spec::Vmi& vmi, const MachineOptions& options) {
  StatusTrackerOptions tracker_options;
  tracker_options.acpi = vmi.domain.features.acpi.enabled;
  auto impl = std::make_unique<Impl>(absl::Now(), tracker_options);
  impl->label =
      absl::StrCat("vm ", vmi.metadata.namespace_, "/", vmi.metadata.name);
  impl->node_name = options.node_name;
  impl->acpi = tracker_options.acpi;
  if (vmi.termination_grace_period_seconds) {
    impl->default_grace =
        absl::Seconds(std::max<int64_t>(*vmi.termination_grace_period_seconds, 0));
  }
  if (options.loop != nullptr) {
    impl->loop = options.loop;
  } else {
    ASSIGN_OR_RETURN(impl->own_loop, EventLoop::Create());
    impl->loop = impl->own_loop.get();
  }
  if (absl::Status st = impl->Launch(vmi, options); !st.ok()) {
    return impl->StartFailure(std::move(st));
  }
  return std::unique_ptr<Machine>(new Machine(std::move(impl)));
}

Machine::Machine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Machine::~Machine() = default;

absl::Status Machine::Pause() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("pause"));
  m.Apply(PauseRequested{});
  if (absl::Status st = m.qmp->Stop(); !st.ok()) return m.Error("pause", st);
  if (absl::Status st = m.RefreshRunstate(); !st.ok()) {
    return m.Error("pause", st);
  }
  return absl::OkStatus();
}

absl::Status Machine::Unpause() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("unpause"));
  m.Apply(UnpauseRequested{});
  if (absl::Status st = m.qmp->Cont(); !st.ok()) return m.Error("unpause", st);
  if (absl::Status st = m.RefreshRunstate(); !st.ok()) {
    return m.Error("unpause", st);
  }
  return absl::OkStatus();
}

absl::Status Machine::Reset() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("reset"));
  if (absl::Status st = m.qmp->SystemReset(); !st.ok()) {
    return m.Error("reset", st);
  }
  return absl::OkStatus();
}

absl::Status Machine::Shutdown(std::optional<absl::Duration> grace) {
  Impl& m = *impl_;
  if (m.exited) return absl::OkStatus();
  if (!m.shutting_down) {
    m.shutting_down = true;
    m.shutdown_options.grace = std::max(grace.value_or(m.default_grace),
                                        absl::ZeroDuration());
    m.shutdown_options.acpi = m.acpi;
    m.Apply(StopRequested{m.shutdown_options.grace});
    m.StepShutdown();
  }
  const absl::Time deadline = absl::Now() + m.shutdown_options.grace +
                              m.shutdown_options.quit_timeout + kShutdownSlack;
  if (absl::Status st = m.WaitExit(deadline); !st.ok()) {
    return m.Error(absl::StrCat("shutdown (",
                                AV(ShutdownStageName(m.shutdown_state.stage)), ")"),
                   st);
  }
  return absl::OkStatus();
}

absl::Status Machine::Kill() {
  Impl& m = *impl_;
  if (m.exited) return absl::OkStatus();
  m.Apply(ForceStopStarted{});
  if (absl::Status st = m.process->Kill(SIGKILL); !st.ok()) {
    return m.Error("kill", st);
  }
  if (absl::Status st = m.WaitExit(absl::Now() + kShutdownSlack); !st.ok()) {
    return m.Error("kill", st);
  }
  return absl::OkStatus();
}

VmiStatus Machine::Status() const { return impl_->Current(); }

absl::Status Machine::WaitFor(VmiPhase phase, absl::Time deadline) {
  Impl& m = *impl_;
  auto reached = [&] {
    VmiPhase now = m.tracker.status().phase;
    return now == phase || IsFinal(now);
  };
  absl::Status st = m.loop->RunUntil(reached, deadline);
  const VmiStatus& status = m.tracker.status();
  if (status.phase == phase) return absl::OkStatus();
  if (IsFinal(status.phase)) {
    const VmiCondition* ready = status.FindCondition(vmi_condition::kReady);
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": waiting for phase ", AV(VmiPhaseName(phase)), ": phase is ",
        AV(VmiPhaseName(status.phase)),
        status.reason.empty() ? "" : absl::StrCat(" (", status.reason, ")"),
        ready != nullptr && !ready->message.empty()
            ? absl::StrCat(": ", ready->message)
            : ""));
  }
  return m.Error(absl::StrCat("waiting for phase ", AV(VmiPhaseName(phase))), st);
}

void Machine::OnStatusChange(std::function<void(const VmiStatus&)> callback) {
  impl_->callbacks.push_back(std::move(callback));
}

absl::StatusOr<std::unique_ptr<ConsoleSession>> Machine::AttachConsole(
    std::function<void(std::string_view)> on_output, bool replay) {
  Impl& m = *impl_;
  if (!m.console) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label,
        ": console: the VMI has no serial console "
        "(spec.domain.devices.autoattachSerialConsole is false)"));
  }
  absl::StatusOr<std::unique_ptr<ConsoleSession>> session =
      m.console->Attach(std::move(on_output), replay);
  if (!session.ok()) return m.Error("console", session.status());
  return session;
}

absl::Status Machine::WaitForCondition(std::string_view type,
                                       ConditionStatus status,
                                       absl::Time deadline) {
  Impl& m = *impl_;
  auto matches = [&] {
    const VmiCondition* c = m.tracker.status().FindCondition(type);
    return (c != nullptr ? c->status : ConditionStatus::kFalse) == status;
  };
  absl::Status st = m.loop->RunUntil(
      [&] { return matches() || IsFinal(m.tracker.status().phase); }, deadline);
  if (matches()) return absl::OkStatus();
  const std::string what =
      absl::StrCat("waiting for condition ", AV(type), "=",
                   AV(ConditionStatusName(status)));
  if (IsFinal(m.tracker.status().phase)) {
    return absl::FailedPreconditionError(
        absl::StrCat(m.label, ": ", what, ": phase is ",
                     AV(VmiPhaseName(m.tracker.status().phase))));
  }
  return m.Error(what, st);
}

absl::StatusOr<agent::AgentClient*> Machine::Agent() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("guest agent"));
  if (m.agent == nullptr || !m.agent->connected()) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": guest agent: not connected (qemu-ga is not answering on ",
        m.plan ? m.plan->agent_socket : "", ")"));
  }
  return m.agent.get();
}

absl::StatusOr<qmp::QmpClient*> Machine::Qmp() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("qmp"));
  if (m.qmp == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(m.label, ": qmp: not connected"));
  }
  return m.qmp.get();
}

const MachineStartTimes& Machine::start_times() const {
  return impl_->start_times;
}

EventLoop* Machine::loop() const { return impl_->loop; }

const std::string& Machine::runtime_dir() const { return impl_->dir_path; }

}  // namespace qdirect::vm
