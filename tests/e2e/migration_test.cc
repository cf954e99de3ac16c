// Live migration between two vm::Machines on one host (TCG), over a unix
// socket: the guest keeps its boot id, its heartbeat goes on on the target
// console and its memory (random data written before, checked after via the
// agent) arrives intact; multifd; and the safety rules: target killed
// mid-way, target unreachable, port in use, cancel mid-way, a second
// migration while one runs. Needs the test guest (tests/guest/build.sh).

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/machine.h"
#include "ops/migration_params.h"
#include "ops/migration_qmp.h"
#include "qdirect/migration.h"
#include "qdirect/qmp.h"
#include "qdirect/spec.h"
#include "qdirect/unique_fd.h"
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
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(120);
// Slow enough that a 128 MiB guest is mid-way for a while.
constexpr uint64_t kSlowBandwidth = 2 << 20;
// Postcopy's background push (QEMU's default is no limit): slow enough that
// the postcopy phase outlives the sample that acts on it.
constexpr uint64_t kSlowPostcopyBandwidth = 16 << 20;

// Postcopy past a completion deadline of 1 s; `window` is the
// progressTimeout, which bounds a postcopy recovery too.
MigrationOptions PostcopyOptions(absl::Duration window) {
  MigrationOptions options;
  options.allow_post_copy = true;
  options.completion_timeout_per_gib = 1;
  options.bandwidth_per_migration = kSlowBandwidth;
  options.progress_timeout = window;
  return options;
}

// QEMU runs unprivileged; with vm.unprivileged_userfaultfd=0 the kernel
// refuses it the userfaultfd that postcopy needs.
bool PostcopyRefused(const absl::Status& start) {
  return !start.ok() && absl::StrContains(start.message(), "userfaultfd");
}

// Sets the source's max-postcopy-bandwidth (Migrate leaves it as it is).
absl::Status SlowPostcopy(Machine& source) {
  absl::StatusOr<qmp::QmpClient*> qmp = source.Qmp();
  if (!qmp.ok()) return qmp.status();
  ops::MigrationParameters params;
  params.max_postcopy_bandwidth = kSlowPostcopyBandwidth;
  rapidjson::Document args = ops::ParametersArgs(params);
  return (*qmp)->CallSync("migrate-set-parameters", &args).status();
}

// Appends `value` unless it repeats the last one: a sequence of states.
void AppendChange(std::vector<std::string>* seen, const std::string& value) {
  if (seen->empty() || seen->back() != value) seen->push_back(value);
}

class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HasTestGuest()) GTEST_SKIP() << "no test guest in " << ImageDir();
    root_ = std::make_unique<TestRoot>("qdmig");  // short: socket paths have 107 bytes
    temp_ = root_->path();
    absl::StatusOr<spec::Vmi> vmi = LoadTestVmi();
    ASSERT_TRUE(vmi.ok()) << vmi.status();
    vmi_ = *vmi;
    vmi_.metadata.name = VmNameForCurrentTest("mig-", 26);
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }

  // Source and target live under runtime roots of their own: the VM keeps
  // its name, and <root>/<namespace>_<name> is locked by its Machine.
  std::string Root(const std::string& which) const {
    const std::string root = absl::StrCat(temp_, "/", which);
    std::filesystem::create_directories(root);
    chmod(root.c_str(), 0755);
    return root;
  }

  absl::StatusOr<std::unique_ptr<Machine>> StartSource() {
    MachineOptions options;
    options.loop = loop_.get();
    options.runtime_root = Root("source");
    options.node_name = "node-a";
    return Machine::Start(vmi_, options);
  }

  // The target listens in its own runtime root (QEMU's user owns it). With
  // own_loop it runs on a private loop (for a thread of its own).
  // A source with its guest up and a target taking the stream at
  // kSlowBandwidth (options in *slow): slow enough to act on a migration
  // midway. Fails the test when either does not start.
  void StartSlowPair(std::unique_ptr<Machine>* source, std::unique_ptr<Machine>* target,
                     MigrationOptions* slow, std::string* uri) {
    auto started = StartSource();
    ASSERT_TRUE(started.ok()) << started.status();
    ASSERT_FALSE(BootId(**started).empty());
    slow->bandwidth_per_migration = kSlowBandwidth;
    auto listening = StartTarget("target", *slow, uri);
    ASSERT_TRUE(listening.ok()) << listening.status();
    *source = std::move(*started);
    *target = std::move(*listening);
  }

  absl::StatusOr<std::unique_ptr<Machine>> StartTarget(
      const std::string& root_name, const MigrationOptions& migration,
      std::string* uri, bool own_loop = false) {
    MachineOptions options;
    options.loop = own_loop ? nullptr : loop_.get();
    options.runtime_root = Root(root_name);
    options.node_name = "node-b";
    *uri = absl::StrCat("unix:", options.runtime_root, "/", vmi_.metadata.namespace_,
                        "_", vmi_.metadata.name, "/migration/migration.sock");
    options.incoming = MachineOptions::Incoming{migration, *uri};
    return Machine::Start(vmi_, options);
  }

  // Runs the loop until the console shows `pattern` (from the log too).
  ::testing::AssertionResult WaitForConsole(Machine& machine, ConsolePattern pattern,
                                            std::string* match = nullptr) {
    auto session = machine.AttachConsole(
        [&pattern](std::string_view bytes) { pattern.Feed(bytes); }, true);
    if (!session.ok()) return ::testing::AssertionFailure() << session.status();
    absl::Status st = machine.loop()->RunUntil(
        [&] { return pattern.matched() || IsFinal(machine.Status().phase); },
        absl::Now() + kTimeout);
    if (!pattern.matched()) {
      return ::testing::AssertionFailure() << "console pattern not seen: " << st;
    }
    if (match != nullptr) *match = pattern.match();
    return ::testing::AssertionSuccess();
  }

  // Boots the source to its marker; returns the boot id it printed.
  std::string BootId(Machine& machine) {
    absl::StatusOr<ConsolePattern> marker =
        ConsolePattern::Regex("QDIRECT-GUEST-UP boot_id=[0-9a-f-]{36}");
    EXPECT_TRUE(marker.ok());
    std::string match;
    EXPECT_TRUE(WaitForConsole(machine, std::move(*marker), &match));
    const size_t eq = match.find('=');
    return eq == std::string::npos ? "" : match.substr(eq + 1);
  }

  absl::StatusOr<agent::ExecStatus> Exec(Machine& machine, const std::string& script) {
    if (absl::Status st = machine.WaitForCondition(vmi_condition::kAgentConnected,
                                                   ConditionStatus::kTrue,
                                                   absl::Now() + kTimeout);
        !st.ok()) {
      return st;
    }
    absl::StatusOr<agent::AgentClient*> client = machine.Agent();
    if (!client.ok()) return client.status();
    agent::ExecRequest req;
    req.path = "/bin/sh";
    req.args = {"-c", script};
    req.timeout = absl::Seconds(60);
    return (*client)->Exec(req);
  }

  // The heartbeat counter printed next (a line that starts after now).
  ::testing::AssertionResult HeartbeatGoesOn(Machine& machine) {
    std::string seen;
    auto session = machine.AttachConsole(
        [&](std::string_view bytes) { seen.append(bytes); }, false);
    if (!session.ok()) return ::testing::AssertionFailure() << session.status();
    absl::Status st = machine.loop()->RunUntil(
        [&] {
          return seen.find("heartbeat ") != std::string::npos &&
                 seen.find('\n', seen.find("heartbeat ")) != std::string::npos;
        },
        absl::Now() + kTimeout);
    if (!st.ok()) return ::testing::AssertionFailure() << "no heartbeat: " << st;
    return ::testing::AssertionSuccess();
  }

  std::unique_ptr<TestRoot> root_;  // removed with everything in it
  std::string temp_;
  spec::Vmi vmi_;
  std::unique_ptr<EventLoop> loop_;
};

void ExpectRunningWithFailure(const VmiStatus& status, const std::string& reason_part) {
  EXPECT_EQ(status.phase, VmiPhase::kRunning);
  EXPECT_EQ(status.qdirect.qemu_runstate, "running");
  ASSERT_TRUE(status.migration_state.has_value());
  EXPECT_TRUE(status.migration_state->failed);
  EXPECT_FALSE(status.migration_state->completed);
  EXPECT_THAT(status.migration_state->failure_reason, HasSubstr(reason_part));
}

// A migration cancelled on request: the source runs on and says the abort
// succeeded.
void ExpectCancelledOnRunningSource(const absl::StatusOr<MigrationProgress>& result,
                                    Machine& source) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  const VmiStatus status = source.Status();
  ExpectRunningWithFailure(status, "");
  EXPECT_TRUE(status.migration_state->abort_requested);
  EXPECT_EQ(status.migration_state->abort_status, "Succeeded");
}

TEST_F(MigrationTest, UnixSocketKeepsBootIdHeartbeatAndMemory) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string boot_id = BootId(**source);
  ASSERT_EQ(boot_id.size(), 36u);
  auto wrote = Exec(**source,
                    "head -c 16777216 /dev/urandom > /blob && md5sum /blob > /blob.md5"
                    " && cat /blob.md5");
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  ASSERT_EQ(wrote->exit_code, 0) << wrote->err;
  const VmiCondition* migratable =
      (*source)->Status().FindCondition(vmi_condition::kLiveMigratable);
  ASSERT_NE(migratable, nullptr);
  EXPECT_EQ(migratable->status, ConditionStatus::kTrue);

  MigrationOptions options;
  std::string uri;
  auto target = StartTarget("target", options, &uri);
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ((*target)->Status().qdirect.qemu_runstate, "inmigrate");

  int samples = 0;
  absl::StatusOr<MigrationProgress> done = (*source)->Migrate(
      uri, options, [&](const MigrationProgress&) { ++samples; });
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->status, "completed");
  EXPECT_GT(done->total_time_ms, 0);
  EXPECT_GE(samples, 1);
  printf("migration: total %lld ms, downtime %lld ms, %.0f Mbps, %llu bytes\n",
         static_cast<long long>(done->total_time_ms),
         static_cast<long long>(done->downtime_ms), done->mbps,
         static_cast<unsigned long long>(done->ram_transferred));

  // The source ended as KubeVirt's source does.
  const VmiStatus src = (*source)->Status();
  EXPECT_EQ(src.phase, VmiPhase::kSucceeded);
  ASSERT_TRUE(src.migration_state.has_value());
  EXPECT_TRUE(src.migration_state->completed);
  EXPECT_EQ(src.migration_state->mode, "PreCopy");
  EXPECT_EQ(src.migration_state->source_node, "node-a");
  EXPECT_TRUE(src.migration_state->end_timestamp.has_value());

  ASSERT_TRUE((*target)->WaitIncoming(absl::Now() + kTimeout).ok());
  const VmiStatus dst = (*target)->Status();
  EXPECT_EQ(dst.phase, VmiPhase::kRunning);
  EXPECT_EQ(dst.qdirect.qemu_runstate, "running");
  ASSERT_TRUE(dst.migration_state.has_value());
  EXPECT_TRUE(dst.migration_state->completed);
  EXPECT_TRUE(HeartbeatGoesOn(**target));

  auto checked = Exec(**target,
                      "md5sum -c /blob.md5 && cat /proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->exit_code, 0) << checked->out << checked->err;
  EXPECT_THAT(checked->out, HasSubstr("/blob: OK"));
  EXPECT_THAT(checked->out, HasSubstr(boot_id));
}

TEST_F(MigrationTest, MultifdTwoChannelsCompletes) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string boot_id = BootId(**source);
  MigrationOptions options;
  options.parallel_migration_threads = 2;
  std::string uri;
  auto target = StartTarget("target", options, &uri);
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<MigrationProgress> done = (*source)->Migrate(uri, options);
  ASSERT_TRUE(done.ok()) << done.status();
  printf("multifd x2: total %lld ms, downtime %lld ms\n",
         static_cast<long long>(done->total_time_ms),
         static_cast<long long>(done->downtime_ms));
  ASSERT_TRUE((*target)->WaitIncoming(absl::Now() + kTimeout).ok());
  EXPECT_TRUE(HeartbeatGoesOn(**target));
  auto id = Exec(**target, "cat /proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_THAT(id->out, HasSubstr(boot_id));
}

TEST_F(MigrationTest, TargetKilledMidwayLeavesSourceRunningAndRetrySucceeds) {
  std::unique_ptr<Machine> source, target;
  MigrationOptions slow;
  std::string uri;
  ASSERT_NO_FATAL_FAILURE(StartSlowPair(&source, &target, &slow, &uri));
  const std::string target_dir = target->runtime_dir();

  bool killed = false;
  absl::StatusOr<MigrationProgress> failed =
      source->Migrate(uri, slow, [&](const MigrationProgress& p) {
        if (!killed && p.status == "active" && p.ram_transferred > (1 << 20)) {
          killed = true;
          EXPECT_TRUE(target->Kill().ok());
        }
      });
  ASSERT_TRUE(killed);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted) << failed.status();
  ExpectRunningWithFailure(source->Status(), "");
  EXPECT_TRUE(HeartbeatGoesOn(*source));
  target.reset();
  EXPECT_FALSE(std::filesystem::exists(target_dir)) << target_dir;

  MigrationOptions fast;
  auto retry_target = StartTarget("retry", fast, &uri);
  ASSERT_TRUE(retry_target.ok()) << retry_target.status();
  absl::StatusOr<MigrationProgress> done = source->Migrate(uri, fast);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE((*retry_target)->WaitIncoming(absl::Now() + kTimeout).ok());
  EXPECT_TRUE(HeartbeatGoesOn(**retry_target));
}

TEST_F(MigrationTest, UnreachableTargetFailsCleanly) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_FALSE(BootId(**source).empty());
  absl::StatusOr<MigrationProgress> failed = (*source)->Migrate(
      absl::StrCat("unix:", temp_, "/nobody-listens.sock"), MigrationOptions{});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("nobody-listens.sock"));
  ExpectRunningWithFailure((*source)->Status(), "");
  EXPECT_TRUE(HeartbeatGoesOn(**source));
}

TEST_F(MigrationTest, TargetPortInUseIsAClearStartError) {
  UniqueFd busy(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(busy.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(busy.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(busy.get(), 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(busy.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string uri = absl::StrCat("tcp:127.0.0.1:", ntohs(addr.sin_port));

  MachineOptions options;
  options.loop = loop_.get();
  options.runtime_root = Root("target");
  options.incoming = MachineOptions::Incoming{MigrationOptions{}, uri};
  auto target = Machine::Start(vmi_, options);
  ASSERT_FALSE(target.ok());
  EXPECT_THAT(target.status().message(), HasSubstr(uri));
  EXPECT_THAT(target.status().message(), HasSubstr("in use"));
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(
      options.runtime_root, "/", vmi_.metadata.namespace_, "_", vmi_.metadata.name)));
}

TEST_F(MigrationTest, CancelMidwayKeepsSourceRunningAndSecondMigrationIsRefused) {
  std::unique_ptr<Machine> source, target;
  MigrationOptions slow;
  std::string uri;
  ASSERT_NO_FATAL_FAILURE(StartSlowPair(&source, &target, &slow, &uri));

  bool cancelled = false;
  absl::Status second;
  absl::StatusOr<MigrationProgress> result =
      source->Migrate(uri, slow, [&](const MigrationProgress& p) {
        if (!cancelled && p.status == "active" && p.ram_transferred > (1 << 20)) {
          cancelled = true;
          second = source->Migrate(uri, slow).status();
          EXPECT_TRUE(source->CancelMigration().ok());
        }
      });
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.message(), HasSubstr("migration is in progress"));
  ExpectCancelledOnRunningSource(result, *source);
  EXPECT_TRUE(HeartbeatGoesOn(*source));
  // The target's QEMU gives up on a broken stream.
  EXPECT_FALSE(target->WaitIncoming(absl::Now() + kTimeout).ok());
  EXPECT_EQ(source->CancelMigration().code(), absl::StatusCode::kFailedPrecondition);
}

// A cancel that arrives while the source sets the migration up (the loop
// serves callers during each QMP call, as the launcher's control socket
// does) finds no migration in QEMU yet: the migration must not start after
// it. Before the fix it did, at full length, and `vmctl migrate` waited on.
TEST_F(MigrationTest, CancelDuringSetupStartsNothingAndKeepsSourceRunning) {
  std::unique_ptr<Machine> source, target;
  MigrationOptions slow;
  std::string uri;
  ASSERT_NO_FATAL_FAILURE(StartSlowPair(&source, &target, &slow, &uri));

  // Runs at the first turn of the loop inside Migrate: its first QMP call.
  absl::Status cancel = absl::UnknownError("not run");
  source->loop()->AddTimer(absl::ZeroDuration(), [&] { cancel = source->CancelMigration(); });
  absl::StatusOr<MigrationProgress> result = source->Migrate(uri, slow);
  EXPECT_TRUE(cancel.ok()) << cancel;
  ExpectCancelledOnRunningSource(result, *source);
  // QEMU has no migration: none ran, none is left to cancel.
  absl::StatusOr<qmp::QmpClient*> qmp = source->Qmp();
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  absl::StatusOr<MigrationProgress> in_qemu = ops::QueryMigrate(**qmp);
  ASSERT_TRUE(in_qemu.ok()) << in_qemu.status();
  EXPECT_EQ(in_qemu->status, "");
  EXPECT_TRUE(HeartbeatGoesOn(*source));
}

TEST_F(MigrationTest, PastCompletionDeadlineSwitchesToPostcopyAndCompletes) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string boot_id = BootId(**source);
  auto wrote = Exec(**source,
                    "head -c 8388608 /dev/urandom > /blob && md5sum /blob > /blob.md5");
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  MigrationOptions options;
  options.allow_post_copy = true;
  options.completion_timeout_per_gib = 1;  // 1 s for this guest
  options.bandwidth_per_migration = kSlowBandwidth;
  std::string uri;
  auto target = StartTarget("target", options, &uri);
  if (!target.ok() && absl::StrContains(target.status().message(), "userfaultfd")) {
    // QEMU runs unprivileged; with vm.unprivileged_userfaultfd=0 the kernel
    // refuses it the userfaultfd that postcopy needs.
    GTEST_SKIP() << "postcopy unavailable on this host: " << target.status();
  }
  ASSERT_TRUE(target.ok()) << target.status();
  bool saw_postcopy = false;
  absl::StatusOr<MigrationProgress> done =
      (*source)->Migrate(uri, options, [&](const MigrationProgress& p) {
        saw_postcopy = saw_postcopy || p.status == "postcopy-active";
      });
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(saw_postcopy);
  const VmiStatus src = (*source)->Status();
  ASSERT_TRUE(src.migration_state.has_value());
  EXPECT_EQ(src.migration_state->mode, "PostCopy");
  EXPECT_TRUE(src.migration_state->completed);
  EXPECT_EQ(src.phase, VmiPhase::kSucceeded);
  ASSERT_TRUE((*target)->WaitIncoming(absl::Now() + kTimeout).ok());
  EXPECT_TRUE(HeartbeatGoesOn(**target));
  auto checked = Exec(**target, "md5sum -c /blob.md5 && cat /proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_THAT(checked->out, HasSubstr("/blob: OK"));
  EXPECT_THAT(checked->out, HasSubstr(boot_id));
}

// The channel breaks mid-postcopy (QMP migrate-pause on the source, QEMU's
// own test mechanism): both sides go postcopy-paused, the target listens
// again by itself (migrate-recover from its MIGRATION event, on the URI
// whose socket file the first listener left behind), the source resumes
// (migrate resume=true, retried until the target listens) and the migration
// completes with the guest intact. The target waits in WaitIncoming on a
// thread and a loop of its own, as a target launcher does in its process.
TEST_F(MigrationTest, PostcopyChannelBreakRecoversByItselfAndCompletes) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string boot_id = BootId(**source);
  auto wrote = Exec(**source,
                    "head -c 8388608 /dev/urandom > /blob && md5sum /blob > /blob.md5");
  ASSERT_TRUE(wrote.ok()) << wrote.status();
  ASSERT_EQ(wrote->exit_code, 0) << wrote->err;
  const MigrationOptions options = PostcopyOptions(kTimeout);
  std::string uri;
  auto target = StartTarget("target", options, &uri, /*own_loop=*/true);
  if (PostcopyRefused(target.status())) {
    GTEST_SKIP() << "postcopy unavailable on this host: " << target.status();
  }
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(SlowPostcopy(**source).ok());

  // Filled on the target's thread; read after the join.
  std::vector<std::string> target_modes;
  // The guest runs on the target (RESUME): QEMU recovers only a postcopy
  // broken from then on; a break while the target still loads the device
  // state fails the incoming migration.
  std::atomic<bool> target_running = false;
  (*target)->OnStatusChange([&](const VmiStatus& status) {
    if (status.migration_state) AppendChange(&target_modes, status.migration_state->mode);
    if (status.phase == VmiPhase::kRunning) target_running = true;
  });
  absl::Status incoming;
  std::thread target_thread(
      [&] { incoming = (*target)->WaitIncoming(absl::Now() + kTimeout); });
  absl::Cleanup join = [&target_thread] {
    if (target_thread.joinable()) target_thread.join();
  };

  std::vector<std::string> source_statuses;
  bool paused = false;
  absl::Status pause;
  absl::Time paused_at;
  absl::Time recovered_at = absl::InfinitePast();
  absl::StatusOr<MigrationProgress> done =
      (*source)->Migrate(uri, options, [&](const MigrationProgress& p) {
        AppendChange(&source_statuses, p.status);
        if (!paused && p.status == "postcopy-active" && target_running) {
          // on_progress runs from Migrate, not from a loop callback: a
          // blocking QMP call is allowed here.
          paused = true;
          paused_at = absl::Now();
          absl::StatusOr<qmp::QmpClient*> qmp = (*source)->Qmp();
          pause = qmp.ok() ? (*qmp)->CallSync("migrate-pause").status() : qmp.status();
        } else if (paused && recovered_at == absl::InfinitePast() &&
                   p.status == "postcopy-active") {
          recovered_at = absl::Now();
        }
      });
  target_thread.join();
  ASSERT_TRUE(paused) << "no postcopy-active sample";
  ASSERT_TRUE(pause.ok()) << pause;
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(incoming.ok()) << incoming;
  EXPECT_THAT(source_statuses, Contains("postcopy-paused"));
  EXPECT_THAT(target_modes, Contains("Paused"));
  ASSERT_FALSE(target_modes.empty());
  EXPECT_EQ(target_modes.back(), "PostCopy");
  printf("postcopy recovery: source statuses %s; paused -> postcopy-active again "
         "%lld ms; total %lld ms, %llu bytes\n",
         absl::StrJoin(source_statuses, ",").c_str(),
         recovered_at == absl::InfinitePast()
             ? -1LL
             : static_cast<long long>(absl::ToInt64Milliseconds(recovered_at - paused_at)),
         static_cast<long long>(done->total_time_ms),
         static_cast<unsigned long long>(done->ram_transferred));

  const VmiStatus src = (*source)->Status();
  EXPECT_EQ(src.phase, VmiPhase::kSucceeded);
  ASSERT_TRUE(src.migration_state.has_value());
  EXPECT_TRUE(src.migration_state->completed);
  EXPECT_FALSE(src.migration_state->failed);
  EXPECT_EQ(src.migration_state->mode, "PostCopy");
  const VmiStatus dst = (*target)->Status();
  EXPECT_EQ(dst.phase, VmiPhase::kRunning);
  ASSERT_TRUE(dst.migration_state.has_value());
  EXPECT_TRUE(dst.migration_state->completed);
  EXPECT_TRUE(HeartbeatGoesOn(**target));
  auto checked = Exec(**target, "md5sum -c /blob.md5 && cat /proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->exit_code, 0) << checked->out << checked->err;
  EXPECT_THAT(checked->out, HasSubstr("/blob: OK"));
  EXPECT_THAT(checked->out, HasSubstr(boot_id));
}

// The target dies mid-postcopy: the guest's memory is split between a dead
// target and the source, so nothing can recover it. The source retries
// resume for the recovery window (progressTimeout), then Migrate fails
// saying so, and the source is not resumed (no `cont`). A cancel is
// refused once postcopy runs.
TEST_F(MigrationTest, TargetLostInPostcopyFailsAsSplitAndSourceIsNotResumed) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_FALSE(BootId(**source).empty());
  const MigrationOptions options = PostcopyOptions(absl::Seconds(3));
  std::string uri;
  auto target = StartTarget("target", options, &uri);
  if (PostcopyRefused(target.status())) {
    GTEST_SKIP() << "postcopy unavailable on this host: " << target.status();
  }
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(SlowPostcopy(**source).ok());

  bool killed = false;
  absl::Status cancel;
  std::vector<std::string> statuses;
  absl::StatusOr<MigrationProgress> result =
      (*source)->Migrate(uri, options, [&](const MigrationProgress& p) {
        AppendChange(&statuses, p.status);
        if (!killed && p.status == "postcopy-active" &&
            (*target)->Status().phase == VmiPhase::kRunning) {
          killed = true;
          cancel = (*source)->CancelMigration();
          EXPECT_TRUE((*target)->Kill().ok());
        }
      });
  ASSERT_TRUE(killed);
  EXPECT_EQ(cancel.code(), absl::StatusCode::kFailedPrecondition) << cancel;
  EXPECT_THAT(cancel.message(), HasSubstr("postcopy"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("split between the hosts"));
  EXPECT_THAT(result.status().message(), HasSubstr("cannot resume it"));
  EXPECT_THAT(statuses, Contains("postcopy-paused"));
  const VmiStatus status = (*source)->Status();
  EXPECT_NE(status.phase, VmiPhase::kSucceeded);
  EXPECT_NE(status.qdirect.qemu_runstate, "running");
  ASSERT_TRUE(status.migration_state.has_value());
  EXPECT_TRUE(status.migration_state->failed);
  EXPECT_FALSE(status.migration_state->completed);
  EXPECT_EQ(status.migration_state->mode, "Paused");
  EXPECT_THAT(status.migration_state->failure_reason, HasSubstr("split between the hosts"));
}

TEST_F(MigrationTest, StallWithoutPostcopyCancelsAndSourceRunsOn) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  ASSERT_FALSE(BootId(**source).empty());
  MigrationOptions options;
  options.completion_timeout_per_gib = 1;
  options.bandwidth_per_migration = kSlowBandwidth;
  std::string uri;
  auto target = StartTarget("target", options, &uri);
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<MigrationProgress> result = (*source)->Migrate(uri, options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  ExpectRunningWithFailure((*source)->Status(),
                           "Live migration is not completed after 1 sec");
  EXPECT_TRUE(HeartbeatGoesOn(**source));
}

TEST_F(MigrationTest, MigratedTargetMigratesOnward) {
  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string boot_id = BootId(**source);
  std::string uri;
  auto middle = StartTarget("middle", {}, &uri);
  ASSERT_TRUE(middle.ok()) << middle.status();
  ASSERT_TRUE((*source)->Migrate(uri, {}).ok());
  ASSERT_TRUE((*middle)->WaitIncoming(absl::Now() + kTimeout).ok());
  auto last = StartTarget("last", {}, &uri);
  ASSERT_TRUE(last.ok()) << last.status();
  absl::StatusOr<MigrationProgress> done = (*middle)->Migrate(uri, {});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ((*middle)->Status().phase, VmiPhase::kSucceeded);
  ASSERT_TRUE((*last)->WaitIncoming(absl::Now() + kTimeout).ok());
  auto id = Exec(**last, "cat /proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_THAT(id->out, HasSubstr(boot_id));
}

TEST_F(MigrationTest, TlsWithX509CredentialsCompletes) {
  // A throw-away CA, a server certificate for the target and a client one
  // for the source, in QEMU's tls-creds-x509 layout; readable by QEMU's user.
  const std::string pki = Root("pki");
  const std::string script = absl::StrCat(
      "set -e; cd ", pki, "; exec >/dev/null 2>&1\n"
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca-cert.pem"
      " -days 1 -subj /CN=qdirect-test-ca\n"
      "for role in server client; do\n"
      "  openssl req -newkey rsa:2048 -nodes -keyout $role-key.pem -out $role.csr"
      " -subj /CN=localhost\n"
      "  printf 'subjectAltName=DNS:localhost\\nextendedKeyUsage=%sAuth\\n' $role > $role.ext\n"
      "  openssl x509 -req -in $role.csr -CA ca-cert.pem -CAkey ca-key.pem"
      " -CAcreateserial -out $role-cert.pem -days 1 -extfile $role.ext\n"
      "done\nchmod 0644 *.pem\n");
  if (std::system("command -v openssl >/dev/null") != 0) GTEST_SKIP() << "no openssl";
  ASSERT_EQ(std::system(script.c_str()), 0) << script;

  auto source = StartSource();
  ASSERT_TRUE(source.ok()) << source.status();
  const std::string boot_id = BootId(**source);
  MigrationOptions options;
  options.tls_x509_dir = pki;
  options.tls_hostname = "localhost";  // a unix URI names no host
  std::string uri;
  auto target = StartTarget("target", options, &uri);
  ASSERT_TRUE(target.ok()) << target.status();
  absl::StatusOr<MigrationProgress> done = (*source)->Migrate(uri, options);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE((*target)->WaitIncoming(absl::Now() + kTimeout).ok());
  auto id = Exec(**target, "cat /proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_THAT(id->out, HasSubstr(boot_id));
}

}  // namespace
}  // namespace qdirect::vm
