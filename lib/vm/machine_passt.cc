// KubeVirt's passt binding, standalone: one passt process per interface,
// started before QEMU on one end of a socketpair (`passt --fd`); QEMU's
// stream netdev gets the other end (FdToPass::kPasst).

#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "launch/process.h"
#include "vm/host_facts.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {

absl::StatusOr<UniqueFd> Machine::Impl::StartPasst(
    const std::string& interface, const StandaloneConfig& config,
    const std::optional<launch::Credentials>& credentials) {
  const auto passt = std::find_if(plan->passt.begin(), plan->passt.end(),
                                  [&](const Plan::Passt& p) { return p.interface == interface; });
  if (passt == plan->passt.end()) {
    return absl::InternalError("the plan passes a passt fd without its passt");
  }
  ASSIGN_OR_RETURN(std::string binary, FindExecutable(config.passt_binary));
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd passt_end(pair[0]);
  UniqueFd qemu_end(pair[1]);

  // passt sandboxes itself (namespaces, seccomp) once it runs; it runs as
  // QEMU's user when we are root, with no capabilities, in the foreground
  // so that it is our child and dies with us.
  launch::SpawnOptions spawn;
  constexpr int kPasstFd = 3;
  spawn.argv = {binary, "--fd", absl::StrCat(kPasstFd), "--foreground", "--quiet"};
  spawn.argv.insert(spawn.argv.end(), passt->args.begin(), passt->args.end());
  spawn.env = kQemuEnv;
  spawn.fds.push_back({passt_end.get(), kPasstFd});
  spawn.log_path = absl::StrCat(dir_path, "/passt-", interface, ".log");
  spawn.working_dir = dir_path;
  spawn.credentials = credentials;
  if (credentials) spawn.capabilities = std::vector<int>{};
  ASSIGN_OR_RETURN(launch::Process process, launch::Spawn(spawn));
  passt_processes.push_back(std::move(process));
  return qemu_end;
}

}  // namespace qdirect::vm
