#include "qdirect/machine.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {

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

  const StandaloneConfig config = StandaloneConfigFromEnvironment();
  ASSIGN_OR_RETURN(HostFacts facts, GatherHostFacts(vmi, config, dir_path));
  absl::StatusOr<Plan> planned = MakePlan(vmi, facts);
  if (!planned.ok()) return Error("plan", planned.status());
  plan = std::move(*planned);
  if (absl::Status st = AddHotpluggedDevices(options.hotplugged_devices, *plan);
      !st.ok()) {
    return Error("plan", st);
  }
  hotplugged = options.hotplugged_devices;
  this->vmi = vmi;  // hotplug plans against these (machine_hotplug.cc)
  this->facts = facts;
  ApplyLiveMigratable(vmi);
  incoming = options.incoming;
  if (incoming) PrepareIncomingPlan();

  // As root QEMU runs as an unprivileged user, set in the child before exec
  // (FACTS.md: -runas under the sandbox dies of SIGSYS); it owns the plan's
  // files and may traverse (not write) the runtime dir.
  std::optional<launch::Credentials> credentials;
  PlanFilesOwner owner;
  if (geteuid() == 0) {
    absl::StatusOr<launch::Credentials> resolved =
        launch::ResolveQemuCredentials(options.qemu_user);
    if (!resolved.ok()) return Error("qemu user", resolved.status());
    credentials = *resolved;
    qemu_credentials = credentials;
    owner = {static_cast<int>(credentials->uid),
             static_cast<int>(credentials->gid)};
    RETURN_IF_ERROR(dir->LetQemuIn(*credentials));
  }
  if (absl::Status st = PrepareHostDevices(credentials); !st.ok()) {
    return Error("host device", st);
  }
  plan_files_created = true;  // a partial creation is cleaned up too
  if (absl::Status st = CreatePlanFiles(*plan, owner); !st.ok()) {
    return Error("create files", st);
  }

  for (const std::string* socket :
       {&plan->qmp_socket, &plan->console_socket, &plan->agent_socket}) {
    if (!socket->empty()) RETURN_IF_ERROR(launch::CheckSocketPath(*socket));
  }
  // Every socket QEMU serves is bound here and passed (FdToPass).
  std::vector<UniqueFd> listeners;
  launch::SpawnOptions spawn;
  spawn.argv = plan->Argv();
  spawn.env = kQemuEnv;
  spawn.env.insert(spawn.env.end(), plan->env.begin(), plan->env.end());
  for (const FdToPass& fd : plan->fds) {
    const std::string* socket = nullptr;
    if (fd.kind == FdToPass::Kind::kPasst) {
      absl::StatusOr<UniqueFd> qemu_end = StartPasst(fd.name, config, credentials);
      if (!qemu_end.ok()) return Error(absl::StrCat("passt for interface ", fd.name), qemu_end.status());
      spawn.fds.push_back({qemu_end->get(), fd.child_fd});
      listeners.push_back(std::move(*qemu_end));
      continue;
    }
    switch (fd.kind) {
      case FdToPass::Kind::kQmpListener:
        socket = &plan->qmp_socket;
        break;
      case FdToPass::Kind::kConsoleListener:
        socket = &plan->console_socket;
        break;
      case FdToPass::Kind::kAgentListener:
        socket = &plan->agent_socket;
        break;
      case FdToPass::Kind::kPasst:  // above
      case FdToPass::Kind::kTap:
      case FdToPass::Kind::kVfioGroup:
        return absl::UnimplementedError(absl::StrCat(
            label, ": passing ", fd.name,
            " (tap or VFIO fd) is not supported by the standalone Machine yet"));
    }
    absl::StatusOr<UniqueFd> listener = launch::BindListeningUnixSocket(*socket);
    if (!listener.ok()) return Error(fd.name + " socket", listener.status());
    spawn.fds.push_back({listener->get(), fd.child_fd});
    listeners.push_back(std::move(*listener));
  }
  log_path = absl::StrCat(dir_path, "/qemu.log");
  spawn.log_path = log_path;
  spawn.working_dir = dir_path;
  spawn.credentials = credentials;
  if (credentials) spawn.capabilities = std::vector<int>{};
  if (auto limit = VfioMemlockLimit(*plan)) spawn.rlimits.push_back(*limit);
  absl::StatusOr<launch::Process> spawned = launch::Spawn(spawn);
  if (!spawned.ok()) return Error("spawn qemu", spawned.status());
  process = std::move(*spawned);
  // QEMU holds the listeners now. Ours must go, or a QEMU that dies before
  // accepting would leave our connections pending for ever.
  listeners.clear();
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

  // Connect the console before `cont`: QEMU drops output nobody reads.
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

  if (incoming) {
    EnableBalloonStats();
    return StartIncoming();
  }
  const bool start_paused = vmi.start_strategy == "Paused";
  if (start_paused) {
    // QEMU was started with -S and nothing resumed it: still prelaunch.
    Apply(StartPausedRequested{});
  } else if (absl::Status st = qmp->Cont(); !st.ok()) {
    return Error("cont", st);
  }
  start_times.running = absl::Now();
  // QEMU sends RESUME before cont's reply; only when the tracker has not seen
  // it (or any later event moved it on) is the runstate asked for.
  if (!start_paused && tracker.status().qdirect.qemu_runstate != "running") {
    if (absl::Status st = RefreshRunstate(); !st.ok()) {
      return Error("query-status", st);
    }
  }
  // Queued behind cont, so it never delays the guest's start.
  EnableBalloonStats();
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

const std::vector<DeviceEntry>& Machine::HotpluggedDevices() const {
  return impl_->hotplugged;
}

const MachineStartTimes& Machine::start_times() const {
  return impl_->start_times;
}

EventLoop* Machine::loop() const { return impl_->loop; }

const std::string& Machine::runtime_dir() const { return impl_->dir_path; }

}  // namespace qdirect::vm
