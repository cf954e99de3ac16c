#pragma once

#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace qdirect::launch {

// The processes of ours that confine themselves. QEMU is not one: it has
// -sandbox. This is defence in depth for the launcher and the handler.
enum class SeccompRole { kLauncher, kHandler };

// The syscalls `role` may make, by name: the reviewed table.
std::span<const std::string_view> AllowedSyscalls(SeccompRole role);

// Syscalls no role ever makes and whose use means the process is being
// abused (ptrace, kexec_load, module loading, mount ...): they kill it.
std::span<const std::string_view> ForbiddenSyscalls();

// Builds the filter for `role` without loading it: every name resolves on
// this architecture. For tests and start-up checks.
absl::Status CheckSeccompPolicy(SeccompRole role);

// Sets PR_SET_NO_NEW_PRIVS and loads `role`'s filter into the calling
// process, all threads (TSYNC). Filters survive fork and exec, so a process
// installs it only after spawning what it will spawn: QEMU inherits nothing.
//
// Anything not in the table fails with EPERM rather than killing: the
// launcher's death takes QEMU with it (PR_SET_PDEATHSIG), so a syscall
// missing from the table should cost one operation a Status, not a VM. The
// forbidden list kills outright: no legitimate path reaches those.
absl::Status InstallSeccompPolicy(SeccompRole role);

}  // namespace qdirect::launch
