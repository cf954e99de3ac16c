// vmctl migrate VM [--to URI] [policy flags]
// vmctl migrate-cancel VM
// vmctl receive FILE --listen URI [--name N] [--parallel N] [--allow-postcopy]
//
// Live migration through the launchers. Without --to, `migrate` starts a
// target launcher on this host, under the other runtime root
// (control_client.h: OtherRuntimeRoot), from the manifest the source
// launcher keeps, listening on a unix socket in its runtime dir; the VM
// keeps its name and `vmctl status VM` reaches the target afterwards. With
// --to, a target started by `vmctl receive` on another host listens on URI.
// Progress is shown on stderr while the migration runs (the source launcher
// answers migration_progress meanwhile); migrate-cancel stops it and the
// guest goes on running on the source.

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "kube/control_protocol.h"
#include "qdirect/migration.h"
#include "qdirect/unique_fd.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"
#include "tools/vmctl/launcher_spawn.h"
#include "tools/vmctl/manifest_file.h"

namespace qdirect::vmctl {
namespace {

constexpr char kMigrateUsage[] =
    "usage: vmctl migrate VM [--to URI] [--parallel N] [--bandwidth MIB_PER_S]\n"
    "         [--allow-postcopy] [--allow-auto-converge] [--max-downtime MS]\n"
    "         [--completion-timeout-per-gib S] [--progress-timeout S]\n"
    "         [--tls-dir DIR [--tls-hostname NAME]]\n";
constexpr char kReceiveUsage[] =
    "usage: vmctl receive FILE --listen URI [--name NAME] [--parallel N]\n"
    "         [--allow-postcopy] [--tls-dir DIR] [--detach]\n";
// How often progress is shown.
constexpr absl::Duration kProgressInterval = absl::Milliseconds(500);
// How long the source launcher may take to exit after the migration.
constexpr absl::Duration kSourceExit = absl::Seconds(30);
// How long a failed migration's target may take to end by itself, and then
// after SIGTERM (it polls for signals every second while it waits).
constexpr absl::Duration kTargetGrace = absl::Seconds(5);
// Inside the target's runtime dir, in a subdirectory QEMU may write.
constexpr char kMigrationSocket[] = "migration/migration.sock";

bool ParseInt(const std::string& text, int64_t min, int64_t* out) {
  return absl::SimpleAtoi(text, out) && *out >= min;
}

// Parses the policy flags shared by migrate and receive; returns false
// (after printing) on a bad one. Unknown flags are left in `rest`.
bool ParseMigrationFlags(const char* command, const Args& args,
                         MigrationOptions* options, std::vector<std::string>* rest) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    int64_t n = 0;
    auto value = [&](int64_t min) {
      if (!has_value || !ParseInt(args[i + 1], min, &n)) {
        std::fprintf(stderr, "vmctl %s: %s takes an integer >= %lld\n", command,
                     a.c_str(), static_cast<long long>(min));
        return false;
      }
      ++i;
      return true;
    };
    if (a == "--parallel") {
      if (!value(0)) return false;
      options->parallel_migration_threads = static_cast<int>(n);
    } else if (a == "--bandwidth") {
      if (!value(0)) return false;
      options->bandwidth_per_migration = static_cast<uint64_t>(n) << 20;
    } else if (a == "--max-downtime") {
      if (!value(1)) return false;
      options->max_downtime_ms = n;
    } else if (a == "--completion-timeout-per-gib") {
      if (!value(0)) return false;
      options->completion_timeout_per_gib = n;
    } else if (a == "--progress-timeout") {
      if (!value(0)) return false;
      options->progress_timeout = absl::Seconds(n);
    } else if (a == "--tls-dir" && has_value) {
      options->tls_x509_dir = args[++i];
    } else if (a == "--tls-hostname" && has_value) {
      options->tls_hostname = args[++i];
    } else if (a == "--allow-postcopy") {
      options->allow_post_copy = true;
    } else if (a == "--allow-auto-converge") {
      options->allow_auto_converge = true;
    } else {
      rest->push_back(a);
    }
  }
  return true;
}

absl::Status SendLine(int fd, const kube::ControlRequest& request) {
  ASSIGN_OR_RETURN(std::string line, kube::EncodeRequest(request));
  std::string_view left = line;
  while (!left.empty()) {
    ssize_t n = ::write(fd, left.data(), left.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::ErrnoToStatus(errno, "control socket: write");
    left.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads what has arrived of the reply into `reply`; true once it is whole.
absl::StatusOr<bool> ReadSome(int fd, std::string* reply) {
  char buffer[65536];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n < 0 && errno == EINTR) return false;
  if (n < 0) return absl::ErrnoToStatus(errno, "control socket: read");
  if (n == 0) {
    return absl::UnavailableError(
        "control socket: the launcher closed the connection without an answer");
  }
  reply->append(buffer, static_cast<size_t>(n));
  return !reply->empty() && reply->back() == '\n';
}

void ShowProgress(const VmRef& vm) {
  absl::StatusOr<kube::ControlResponse> r =
      CallVm(vm, kube::MigrationProgressRequest{});
  if (!r.ok() || !r->migration_progress) return;
  const MigrationProgress& p = *r->migration_progress;
  std::string line;
  if (p.status == "postcopy-paused" || p.status == "postcopy-recover") {
    // A postcopy whose channel broke says so: the source launcher is
    // reconnecting (migrate resume=true) while the guest waits on the target.
    line = absl::StrFormat("migrating: %-16s %s", p.status,
                           p.status == "postcopy-paused"
                               ? "channel broken, guest waits on the target: reconnecting"
                               : "channel back, resuming postcopy");
  } else {
    const double total = static_cast<double>(p.ram_total);
    const double done =
        total > 0 ? 100.0 * (total - static_cast<double>(p.ram_remaining)) / total : 0;
    const bool moving = p.status == "active" || p.status == "postcopy-active";
    line = absl::StrFormat("migrating: %-16s %5.1f%%  %7.1f MiB sent  %7.1f Mbps",
                           p.status, moving ? done : 0.0,
                           static_cast<double>(p.ram_transferred) / (1 << 20), p.mbps);
  }
  // Padded: a shorter line overwrites a longer one whole.
  std::fprintf(stderr, "\r%-86s", line.c_str());
}

// Sends `migrate` to the source and shows progress until its answer.
absl::StatusOr<kube::ControlResponse> RunMigration(const VmRef& vm,
                                                   const kube::MigrateRequest& request) {
  ASSIGN_OR_RETURN(UniqueFd fd, ConnectToVm(vm));
  RETURN_IF_ERROR(SendLine(fd.get(), request));
  std::string reply;
  bool shown = false;
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kProgressInterval)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::ErrnoToStatus(errno, "poll");
    if (r == 0) {
      ShowProgress(vm);
      shown = true;
      continue;
    }
    ASSIGN_OR_RETURN(bool whole, ReadSome(fd.get(), &reply));
    if (whole) break;
  }
  if (shown) std::fputc('\n', stderr);
  ASSIGN_OR_RETURN(kube::ControlResponse response, kube::DecodeResponse(reply));
  if (!response.error.ok()) return response.error;
  // Wait for the source launcher to go, so that the name resolves to the
  // target from now on.
  (void)WaitForClose(fd.get(), absl::Now() + kSourceExit);
  return response;
}

void PrintResult(const VmRef& vm, const std::string& uri,
                 const kube::ControlResponse& response) {
  if (!response.migration_progress) {
    std::printf("vm %s migrated to %s\n", vm.label().c_str(), uri.c_str());
    return;
  }
  const MigrationProgress& p = *response.migration_progress;
  const double seconds = static_cast<double>(p.total_time_ms) / 1000.0;
  std::printf(
      "vm %s migrated to %s: total %lld ms, downtime %lld ms, %.1f MiB sent, "
      "%.1f MiB/s\n",
      vm.label().c_str(), uri.c_str(), static_cast<long long>(p.total_time_ms),
      static_cast<long long>(p.downtime_ms),
      static_cast<double>(p.ram_transferred) / (1 << 20),
      seconds > 0 ? static_cast<double>(p.ram_transferred) / (1 << 20) / seconds : 0);
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

int RunMigrate(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("migrate", args, &parsed)) return *code;
  kube::MigrateRequest request;
  std::vector<std::string> rest;
  if (!ParseMigrationFlags("migrate", parsed.rest, &request.options, &rest)) {
    return kExitUsage;
  }
  std::string to;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--to" && i + 1 < rest.size()) {
      to = rest[++i];
    } else {
      std::fprintf(stderr, "vmctl migrate: unknown argument %s\n%s", rest[i].c_str(),
                   kMigrateUsage);
      return kExitUsage;
    }
  }
  const VmRef& vm = parsed.vm;
  if (!to.empty()) {
    request.uri = to;
    absl::StatusOr<kube::ControlResponse> done = RunMigration(vm, request);
    if (!done.ok()) return ReportError(done.status());
    PrintResult(vm, to, *done);
    return kExitOk;
  }

  // Local: a target launcher under the other runtime root.
  absl::StatusOr<kube::ControlResponse> source = CallVm(vm, kube::StatusRequest{});
  if (!source.ok()) return ReportError(source.status());
  const std::string source_dir = source->status ? source->status->qdirect.runtime_dir : "";
  if (source_dir.empty()) {
    return ReportError(absl::FailedPreconditionError(
        absl::StrCat("vm ", vm.label(), ": migrate: QEMU is not running")));
  }
  const std::string target_root = OtherRuntimeRoot(Dirname(source_dir));
  if (::mkdir(target_root.c_str(), 0755) != 0 && errno != EEXIST) {
    return ReportError(absl::ErrnoToStatus(errno, absl::StrCat(target_root, ": mkdir")));
  }
  (void)::chmod(target_root.c_str(), 0755);  // QEMU's user reaches its dir
  const std::string target_dir =
      absl::StrCat(target_root, "/", vm.ns, "_", vm.name);
  request.uri = absl::StrCat("unix:", target_dir, "/", kMigrationSocket);
  // The devices hot-plugged into the source since its start: the target
  // cold-plugs them, or its layout would differ and QEMU refuse the stream.
  absl::StatusOr<StartedLauncher> target = StartLauncher(
      {"--manifest", absl::StrCat(source_dir, "/vmi.yaml"), "--name", vm.name,
       "--runtime-root", target_root, "--incoming", request.uri,
       "--migration-options", kube::MigrationOptionsToJson(request.options),
       "--hotplugged", absl::StrCat(source_dir, "/hotplugged.json")},
      vm.label());
  if (!target.ok()) return ReportError(target.status());
  if (!target->error.empty()) {
    return ReportError(absl::FailedPreconditionError(
        absl::StrCat("vm ", vm.label(), ": migration target: ", target->error)));
  }
  std::fprintf(stderr, "target launcher pid %d listening on %s\n",
               target->process.pid(), request.uri.c_str());
  absl::StatusOr<kube::ControlResponse> done = RunMigration(vm, request);
  if (!done.ok()) {
    // The guest stays on the source; the target must not linger. One whose
    // stream broke ends by itself, one never reached is told to (SIGTERM);
    // either way it removes its runtime dir. SIGKILL, which leaves the dir
    // behind, only for a target that does neither.
    if (!target->process.Wait(kTargetGrace).ok()) {
      (void)target->process.Kill(SIGTERM);
      if (!target->process.Wait(kTargetGrace).ok()) {
        (void)target->process.Kill(SIGKILL);
        (void)target->process.Wait(absl::Seconds(30));
      }
    }
    return ReportError(done.status());
  }
  // The target serves the name once it has taken the stream in.
  const absl::Time deadline = absl::Now() + kSourceExit;
  for (;;) {
    absl::StatusOr<kube::ControlResponse> now = CallVm(vm, kube::StatusRequest{});
    if (now.ok() && now->status && now->status->qdirect.runtime_dir == target_dir) break;
    if (absl::Now() > deadline) {
      return ReportError(absl::DeadlineExceededError(absl::StrCat(
          "vm ", vm.label(), ": migrated, but the target launcher does not answer")));
    }
    pollfd p{target->process.pidfd(), POLLIN, 0};
    (void)::poll(&p, 1, 50);
  }
  PrintResult(vm, request.uri, *done);
  return kExitOk;
}

int RunMigrateCancel(const Args& args) {
  VmRef vm;
  if (std::optional<int> code = ParseVmOnlyArgs("migrate-cancel", args, &vm)) {
    return *code;
  }
  absl::StatusOr<kube::ControlResponse> r = CallVm(vm, kube::MigrateCancelRequest{});
  if (!r.ok()) return ReportError(r.status());
  std::printf("vm %s: migration cancel requested\n", vm.label().c_str());
  return kExitOk;
}

int RunReceive(const Args& args) {
  kube::MigrateRequest request;  // for its options
  std::vector<std::string> rest;
  if (!ParseMigrationFlags("receive", args, &request.options, &rest)) {
    return kExitUsage;
  }
  std::string file;
  std::string name;
  std::string listen;
  bool detach = false;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--listen" && i + 1 < rest.size()) {
      listen = rest[++i];
    } else if (rest[i] == "--name" && i + 1 < rest.size()) {
      name = rest[++i];
    } else if (rest[i] == "--detach") {
      detach = true;
    } else if (file.empty() && !rest[i].empty() && rest[i][0] != '-') {
      file = rest[i];
    } else {
      std::fprintf(stderr, "vmctl receive: unknown argument %s\n%s", rest[i].c_str(),
                   kReceiveUsage);
      return kExitUsage;
    }
  }
  if (file.empty() || listen.empty()) {
    std::fputs(kReceiveUsage, stderr);
    return kExitUsage;
  }
  absl::StatusOr<ManifestToStart> manifest = PrepareManifestToStart(file, name);
  if (!manifest.ok()) return ReportError(manifest.status());
  const VmRef& vm = manifest->vm;
  absl::StatusOr<StartedLauncher> target = StartLauncher(
      {"--manifest", manifest->path, "--name", vm.name, "--incoming", listen,
       "--migration-options", kube::MigrationOptionsToJson(request.options)},
      vm.label());
  if (!target.ok()) return ReportError(target.status());
  if (!target->error.empty()) {
    return ReportError(absl::FailedPreconditionError(target->error));
  }
  std::printf("vm %s waiting for a migration on %s (launcher pid %d)\n",
              vm.label().c_str(), listen.c_str(), target->process.pid());
  std::fflush(stdout);
  if (detach) return kExitOk;
  // Until the stream is in (or the launcher gave up: QEMU ends on a broken
  // stream, and the launcher with it).
  for (;;) {
    pollfd p{target->process.pidfd(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kProgressInterval)));
    if (r < 0 && errno != EINTR) return ReportError(absl::ErrnoToStatus(errno, "poll"));
    if (r > 0) {
      absl::StatusOr<launch::ExitInfo> exit = target->process.Wait(absl::Seconds(5));
      return ReportError(absl::AbortedError(absl::StrCat(
          "vm ", vm.label(), ": incoming migration failed: launcher ",
          exit.ok() ? exit->ToString() : "vanished")));
    }
    absl::StatusOr<kube::ControlResponse> s = CallVm(vm, kube::StatusRequest{});
    if (s.ok() && s->status && s->status->migration_state &&
        s->status->migration_state->completed) {
      std::printf("vm %s received: %s\n", vm.label().c_str(),
                  s->status->qdirect.qemu_runstate.c_str());
      return kExitOk;
    }
  }
}

}  // namespace qdirect::vmctl
