// vm::Machine's live migration: the source's loop (configure, migrate,
// follow query-migrate under the policy, finish or roll back) and the
// target's incoming side. The QMP commands are in ops/migration_qmp.h, the
// decisions in ops/migration_policy.h and ops/live_migratable.h.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ops/live_migratable.h"
#include "ops/migration_params.h"
#include "ops/migration_policy.h"
#include "ops/migration_qmp.h"
#include "ops/postcopy_recovery.h"
#include "qdirect/machine.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {

namespace {

// How often the source samples query-migrate.
constexpr absl::Duration kProgressInterval = absl::Milliseconds(100);
// QEMU may report completed before total-time is filled in (FACTS.md).
constexpr int kFinalQueryTries = 50;
constexpr absl::Duration kFinalQueryInterval = absl::Milliseconds(20);
// How long the source's QEMU may take to quit after a completed migration.
constexpr absl::Duration kQuitTimeout = absl::Seconds(30);
// Target: the waits between migrate-recover attempts QEMU refused (it could
// not listen yet); the source keeps resuming meanwhile.
constexpr ops::RecoveryBackoff kRecoverBackoff{absl::Milliseconds(200),
                                               absl::Seconds(2)};

}  // namespace

void Machine::Impl::ApplyLiveMigratable(const spec::Vmi& vmi) {
  Apply(LiveMigratableUpdate{
      ops::LiveMigratableCondition(ops::ComputeLiveMigratability(vmi))});
}

void Machine::Impl::PrepareIncomingPlan() {
  // Without -S QEMU's autostart resumes the guest after the stream exactly
  // when the source was running (the stream carries its runstate).
  // -S comes before the devices' options: their place moves with it.
  auto s = std::find(plan->args.begin(), plan->args.end(), "-S");
  if (s != plan->args.end()) {
    if (static_cast<size_t>(s - plan->args.begin()) < plan->device_args_at) {
      --plan->device_args_at;
    }
    plan->args.erase(s);
  }
  plan->args.push_back("-incoming");
  plan->args.push_back("defer");
}

void Machine::Impl::WatchMigrationEvents() {
  if (migration_events) return;
  migration_event_status.clear();
  migration_events = qmp->Subscribe(
      qmp::EventMatcher{"MIGRATION", nullptr}, [this](const qmp::Event& e) {
        migration_event_status = ops::MigrationEventStatus(e);
        if (incoming) OnIncomingMigrationEvent();
      });
}

void Machine::Impl::OnIncomingMigrationEvent() {
  if (migration_event_status == "postcopy-active") {
    UpdateMigrationState([](VmiMigrationState& s) { s.mode = "PostCopy"; });
  } else if (migration_event_status == "postcopy-paused") {
    // The channel broke in postcopy: the guest runs here but the memory not
    // yet received is only on the source. Listen again, so that the
    // source's `migrate resume=true` finds us.
    UpdateMigrationState([](VmiMigrationState& s) { s.mode = "Paused"; });
    RecoverIncoming(1);
  }
}

void Machine::Impl::RecoverIncoming(int attempt) {
  if (recover_timer.valid()) loop->CancelTimer(recover_timer);
  recover_timer = {};
  // Without a URI of ours (fd:, or none yet) whoever made the channel must
  // make a new one: RecoverPostcopy.
  if (!incoming || incoming->uri.empty() || exited || !qmp) return;
  const std::string uri = incoming->uri;
  std::weak_ptr<bool> weak = alive;
  auto retry = [this, weak, attempt](const absl::Status& refused) {
    if (weak.expired() || exited) return;
    recover_error = std::string(refused.message());
    if (migration_event_status != "postcopy-paused") return;
    recover_timer = loop->AddTimer(kRecoverBackoff.After(attempt), [this, attempt] {
      recover_timer = {};
      if (migration_event_status == "postcopy-paused") RecoverIncoming(attempt + 1);
    });
  };
  // The same URI again. QEMU 7.2 keeps the first listener open until
  // migrate-recover replaces it, and unlinks a unix path before it binds
  // (util/qemu-sockets.c): the socket file left behind is no obstacle as
  // long as QEMU may write its directory, (re)made for it here.
  if (absl::Status st = PrepareIncomingSocketDir(uri); !st.ok()) {
    retry(st);
    return;
  }
  ops::MigrateRecoverAsync(*qmp, uri, [this, weak, retry](absl::Status st) {
    if (!st.ok()) {
      retry(st);
    } else if (!weak.expired()) {
      recover_error.clear();
    }
  });
}

void Machine::Impl::UpdateMigrationState(
    const std::function<void(VmiMigrationState&)>& edit) {
  VmiMigrationState state =
      tracker.status().migration_state.value_or(VmiMigrationState{});
  edit(state);
  Apply(MigrationStateUpdate{std::move(state)});
}

absl::Status Machine::Impl::PrepareIncomingSocketDir(std::string_view uri) {
  if (!absl::StartsWith(AV(uri), "unix:")) return absl::OkStatus();
  const std::string path(uri.substr(5));
  const size_t slash = path.rfind('/');
  const std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
  if (parent == dir_path) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": migrate-incoming ", AV(uri),
        ": QEMU may not write the runtime dir itself; put the socket in a "
        "subdirectory of it (e.g. ", dir_path, "/migration/migration.sock)"));
  }
  if (!absl::StartsWith(parent, absl::StrCat(dir_path, "/")) ||
      parent.find('/', dir_path.size() + 1) != std::string::npos) {
    return absl::OkStatus();  // elsewhere: the caller's to provide
  }
  if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", parent));
  }
  if (qemu_credentials &&
      ::chown(parent.c_str(), qemu_credentials->uid, qemu_credentials->gid) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chown ", parent));
  }
  return absl::OkStatus();
}

absl::Status Machine::Impl::StartIncoming() {
  WatchMigrationEvents();
  Apply(MigrationRunning{true});
  UpdateMigrationState([&](VmiMigrationState& s) {
    s.start_timestamp = absl::Now();
    s.target_node = node_name;
    s.target_node_address = incoming->uri;
    s.mode = "PreCopy";
  });
  const ops::MigrationSetup setup =
      ops::MigrationSetupFor(incoming->options, ops::MigrationSide::kTarget);
  if (absl::Status st = ops::ApplyMigrationSetup(*qmp, setup); !st.ok()) {
    return Error("incoming migration setup", st);
  }
  if (!incoming->uri.empty()) {
    RETURN_IF_ERROR(PrepareIncomingSocketDir(incoming->uri));
    if (absl::Status st = ops::StartMigrateIncoming(*qmp, incoming->uri);
        !st.ok()) {
      return Error(absl::StrCat("migrate-incoming ", incoming->uri), st);
    }
  }
  return RefreshRunstate();
}

absl::Status Machine::ListenIncoming(std::string_view uri) {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("migrate-incoming"));
  if (!m.incoming) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": migrate-incoming: not started as a migration target"));
  }
  RETURN_IF_ERROR(m.PrepareIncomingSocketDir(uri));
  if (absl::Status st = ops::StartMigrateIncoming(*m.qmp, uri); !st.ok()) {
    return m.Error(absl::StrCat("migrate-incoming ", AV(uri)), st);
  }
  m.incoming->uri = std::string(uri);
  m.UpdateMigrationState(
      [&](VmiMigrationState& s) { s.target_node_address = std::string(uri); });
  return absl::OkStatus();
}

absl::Status Machine::WaitIncoming(absl::Time deadline) {
  Impl& m = *impl_;
  if (!m.incoming) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": waiting for incoming migration: not a migration target"));
  }
  absl::Status st = m.loop->RunUntil(
      [&] {
        return m.exited || m.migration_event_status == "completed" ||
               m.migration_event_status == "failed";
      },
      deadline);
  if (m.exited || m.migration_event_status == "failed") {
    const std::string tail = launch::ReadLogTail(m.log_path, kLogTailBytes);
    m.Apply(MigrationRunning{false});
    return absl::AbortedError(absl::StrCat(
        m.label, ": incoming migration failed",
        m.exited && m.process && m.process->exit_info()
            ? absl::StrCat(" (qemu ", m.process->exit_info()->ToString(), ")")
            : "",
        tail.empty() ? "" : ": ", tail));
  }
  if (!st.ok()) {
    if (m.migration_event_status == "postcopy-paused" && !m.recover_error.empty()) {
      st = absl::Status(st.code(), absl::StrCat(st.message(), " (postcopy paused; ",
                                                m.recover_error, ")"));
    }
    return m.Error("waiting for incoming migration", st);
  }
  // From now on this is an ordinary running VM (it may migrate on).
  m.incoming.reset();
  if (m.recover_timer.valid()) m.loop->CancelTimer(m.recover_timer);
  m.recover_timer = {};
  if (m.migration_events) m.qmp->Unsubscribe(*m.migration_events);
  m.migration_events.reset();
  m.Apply(MigrationRunning{false});
  m.UpdateMigrationState([](VmiMigrationState& s) {
    s.completed = true;
    s.end_timestamp = absl::Now();
    s.target_node_domain_detected = true;
    s.target_node_domain_ready_timestamp = s.end_timestamp;
  });
  // After the stream QEMU resumes by itself when the source ran; a paused
  // source leaves it paused. Both land in the tracker via the runstate.
  if (absl::Status refreshed = m.RefreshRunstate(); !refreshed.ok()) {
    return m.Error("after incoming migration", refreshed);
  }
  if (m.tracker.status().phase != VmiPhase::kRunning) {
    // The paused case: KubeVirt shows Running + Paused.
    m.Apply(StartPausedRequested{});
  }
  return absl::OkStatus();
}

absl::Status Machine::RecoverPostcopy(std::string_view uri) {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("migrate-recover"));
  RETURN_IF_ERROR(m.PrepareIncomingSocketDir(uri));
  if (absl::Status st = ops::MigrateRecover(*m.qmp, uri); !st.ok()) {
    return m.Error(absl::StrCat("migrate-recover ", AV(uri)), st);
  }
  // A later break is recovered on this URI.
  if (m.incoming) m.incoming->uri = std::string(uri);
  return absl::OkStatus();
}

absl::Status Machine::CancelMigration() {
  Impl& m = *impl_;
  if (m.operation != "migration" || m.incoming) {
    return absl::FailedPreconditionError(
        absl::StrCat(m.label, ": migrate-cancel: no migration in progress"));
  }
  RETURN_IF_ERROR(m.RequireRunning("migrate-cancel"));
  if (ops::IsPostcopyStatus(m.migration_event_status)) {
    // QEMU would end the migration, and the guest with it.
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": migrate-cancel: refused in postcopy: the guest runs on "
        "the target and part of its memory is only here"));
  }
  if (m.migration_cancel_requested) return absl::OkStatus();
  m.migration_cancel_requested = true;
  m.UpdateMigrationState([](VmiMigrationState& s) {
    s.abort_requested = true;
    s.abort_status = "Aborting";
  });
  // Asynchronous: this may run inside a loop callback (the launcher's
  // control socket); Migrate's loop sees the outcome.
  m.qmp->Execute("migrate_cancel", nullptr, {},
                 [](absl::StatusOr<qmp::Reply>) {});
  return absl::OkStatus();
}

absl::Status Machine::ResumePostcopy(std::string_view uri) {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("migrate resume"));
  if (m.operation != "migration" || m.incoming) {
    return absl::FailedPreconditionError(
        absl::StrCat(m.label, ": migrate resume: no migration in progress"));
  }
  // Asynchronous: Migrate's loop sees the outcome (postcopy-recover).
  ops::StartMigrateAsync(*m.qmp, uri, /*resume=*/true, nullptr);
  return absl::OkStatus();
}

absl::StatusOr<MigrationProgress> Machine::Migrate(
    std::string_view uri, const MigrationOptions& options,
    std::function<void(const MigrationProgress&)> on_progress) {
  Impl& m = *impl_;
  const std::string where = absl::StrCat("migrate to ", AV(uri));
  RETURN_IF_ERROR(m.RequireRunning(where));
  if (m.incoming) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label, ": ", where, ": this machine is a migration target"));
  }
  if (const VmiCondition* c =
          m.tracker.status().FindCondition(vmi_condition::kLiveMigratable);
      c != nullptr && c->status == ConditionStatus::kFalse) {
    return absl::FailedPreconditionError(
        absl::StrCat(m.label, ": ", where, ": VMI is not live migratable: ",
                     c->reason, ": ", c->message));
  }
  RETURN_IF_ERROR(m.BeginOperation("migration"));
  // The long-operation slot is freed however the migration ends.
  absl::Cleanup end_operation = [&m] { m.EndOperation(); };
  m.migration_cancel_requested = false;

  ASSIGN_OR_RETURN(qmp::StatusInfo before, m.qmp->QueryStatus());
  const bool was_running = before.running;
  const absl::Time start = absl::Now();
  m.Apply(MigrationRunning{true});
  m.UpdateMigrationState([&](VmiMigrationState& s) {
    s = VmiMigrationState{};
    s.start_timestamp = start;
    s.mode = "PreCopy";
    s.source_node = m.node_name;
    s.target_node_address = std::string(uri);
  });
  m.WatchMigrationEvents();

  std::string failure;         // why we gave up (policy), if we did
  absl::StatusCode failure_code = absl::StatusCode::kAborted;
  MigrationProgress last;
  const ops::MigrationSetup setup =
      ops::MigrationSetupFor(options, ops::MigrationSide::kSource);
  absl::Status st = ops::ApplyMigrationSetup(*m.qmp, setup);
  // A cancel that came while the setup ran (the loop serves the control
  // socket during each QMP call) found no migration in QEMU to cancel: it
  // must not start one, or the migration it asked to stop would run on.
  const bool cancelled_early = st.ok() && m.migration_cancel_requested;
  if (st.ok() && !cancelled_early) st = ops::StartMigrate(*m.qmp, uri);
  ops::MigrationPolicy policy(options, start);
  ops::PostcopyRecovery recovery(ops::PostcopyRecovery::WindowFor(options));
  // Once in postcopy the guest has run on the target: never `cont` here.
  bool postcopy = false;
  // QEMU's answer to the last resume it refused.
  std::string resume_error;
  while (st.ok() && !cancelled_early) {
    (void)m.loop->RunUntil(
        [&] {
          return m.exited ||
                 IsFinalMigrationStatus(m.migration_event_status);
        },
        absl::Now() + kProgressInterval);
    if (m.exited) {
      st = absl::UnavailableError("QEMU exited during the migration");
      break;
    }
    absl::StatusOr<MigrationProgress> progress = ops::QueryMigrate(*m.qmp);
    if (!progress.ok()) {
      st = progress.status();
      break;
    }
    last = *progress;
    // QEMU fills in total-time and downtime in its cleanup, on its main
    // loop, a moment after it reports completed.
    for (int i = 0; i < kFinalQueryTries && last.status == "completed" &&
                    last.total_time_ms == 0;
         ++i) {
      (void)m.loop->RunUntil([] { return false; },
                             absl::Now() + kFinalQueryInterval);
      absl::StatusOr<MigrationProgress> again = ops::QueryMigrate(*m.qmp);
      if (!again.ok()) break;
      last = *again;
    }
    if (on_progress) on_progress(last);
    if (IsFinalMigrationStatus(last.status)) break;
    if (ops::IsPostcopyStatus(last.status)) {
      postcopy = true;
      const ops::RecoveryDecision r = recovery.Observe(absl::Now(), last.status);
      m.UpdateMigrationState([&](VmiMigrationState& s) {
        s.mode = recovery.broken() ? "Paused" : "PostCopy";
      });
      if (r.action == ops::RecoveryAction::kResume) {
        // The target listens again once it has seen the break
        // (migrate-recover); until then QEMU's connect fails, it stays
        // postcopy-paused and the next attempt follows the backoff. QEMU
        // answers at once: the connection is made in the background.
        if (absl::Status resumed = ops::StartMigrate(*m.qmp, uri, /*resume=*/true);
            !resumed.ok()) {
          resume_error = std::string(resumed.message());
        }
      } else if (r.action == ops::RecoveryAction::kGiveUp) {
        failure = r.reason;
        const std::string& why = !last.error_desc.empty() ? last.error_desc : resume_error;
        if (!why.empty()) absl::StrAppend(&failure, " (last error: ", why, ")");
        failure_code = absl::StatusCode::kDeadlineExceeded;
        break;
      }
      continue;  // the policy has nothing to decide in postcopy
    }
    const ops::MigrationDecision decision = policy.Observe(absl::Now(), last);
    if (decision.action == ops::MigrationAction::kCancel) {
      failure = decision.reason;
      failure_code = absl::StatusCode::kDeadlineExceeded;
      st = m.qmp->CallSync("migrate_cancel").status();
    } else if (decision.action == ops::MigrationAction::kStartPostcopy) {
      st = m.qmp->CallSync("migrate-start-postcopy").status();
      if (st.ok()) {
        postcopy = true;
        m.UpdateMigrationState([](VmiMigrationState& s) { s.mode = "PostCopy"; });
      }
    }
  }
  if (m.migration_events) m.qmp->Unsubscribe(*m.migration_events);
  m.migration_events.reset();
  m.Apply(MigrationRunning{false});

  if (st.ok() && last.status == "completed") {
    m.UpdateMigrationState([&](VmiMigrationState& s) {
      s.completed = true;
      s.end_timestamp = absl::Now();
      s.target_node_domain_detected = true;
    });
    // The guest runs on the target now: this QEMU has nothing left to do.
    m.Apply(MigratedOut{std::string(uri)});
    (void)m.qmp->Quit();
    if (absl::Status exit = m.WaitExit(absl::Now() + kQuitTimeout); !exit.ok()) {
      (void)m.process->Kill(SIGKILL);
      (void)m.WaitExit(absl::Now() + kShutdownSlack);
    }
    return last;
  }

  // Failed, cancelled or never started: the guest stays here.
  const bool cancelled = m.migration_cancel_requested;
  std::string reason = !failure.empty()       ? failure
                       : !st.ok()             ? std::string(st.message())
                       : !last.error_desc.empty() ? last.error_desc
                       : cancelled            ? "Migration cancelled"
                                              : absl::StrCat("migration ended ", last.status);
  if (postcopy && failure.empty()) {
    absl::StrAppend(&reason, "; postcopy had started: the guest may have run on "
                             "the target, so the source does not resume it");
  }
  m.UpdateMigrationState([&](VmiMigrationState& s) {
    s.failed = true;
    s.end_timestamp = absl::Now();
    s.failure_reason = reason;
    // A cancel during the setup came before the state was reset for this
    // migration: record it here.
    if (cancelled) s.abort_requested = true;
    if (s.abort_requested) s.abort_status = "Succeeded";
  });
  if (!m.exited && m.qmp->closed_status().ok()) {
    absl::StatusOr<qmp::StatusInfo> now = m.qmp->QueryStatus();
    if (now.ok() && !now->running && was_running && !postcopy) {
      if (absl::Status cont = m.qmp->Cont(); !cont.ok()) {
        return m.Error(absl::StrCat(where, ": resuming the source after: ", reason),
                       cont);
      }
    }
    (void)m.RefreshRunstate();
  }
  const absl::StatusCode code =
      cancelled ? absl::StatusCode::kCancelled : failure_code;
  return absl::Status(code, absl::StrCat(m.label, ": ", where, ": ",
                                         cancelled ? "cancelled: " : "", reason));
}

}  // namespace qdirect::vm
