#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "launch/credentials.h"
#include "qdirect/unique_fd.h"

namespace qdirect::launch {

// A unix socket path holds at most this many bytes (sun_path is 108 with the
// terminating NUL).
inline constexpr size_t kMaxSocketPathLength = 107;

// `value` is a DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63
// bytes), as Kubernetes requires of namespaces. A label holds no '/', '.' or
// '_', so no name can escape the runtime root or alias another VM's dir.
// `what` names the field in the error ("vm name", "namespace").
absl::Status ValidateDnsLabel(std::string_view what, std::string_view value);
absl::Status ValidateVmName(std::string_view name);
absl::Status ValidateNamespace(std::string_view ns);

// Refuses, before any bind or connect, a socket path sun_path cannot hold; the
// error names the path and its length.
absl::Status CheckSocketPath(std::string_view path);

// The runtime root as decided from its inputs: `qdirect_runtime_dir`
// (QDIRECT_RUNTIME_DIR) when set and not empty, else /run/qdirect for root,
// else `xdg_runtime_dir`/qdirect, else /tmp/qdirect-<euid>. Pure, for tests.
std::string RuntimeRootFor(std::optional<std::string_view> qdirect_runtime_dir,
                           std::optional<std::string_view> xdg_runtime_dir,
                           uid_t euid);

// RuntimeRootFor this process's environment and euid: the only place that
// reads QDIRECT_RUNTIME_DIR and XDG_RUNTIME_DIR.
std::string RuntimeRootFromEnvironment();

// VmRuntimeDir is one VM's private directory, <root>/<namespace>_<name>, mode
// 0700, held for the launcher's life through an flock on its lock file. The
// lock, unlike a pid file, cannot be fooled by pid reuse: it dies with the
// holder. A dir left by a crashed launcher (lock free) is emptied and reused.
class VmRuntimeDir {
 public:
  static constexpr std::string_view kLockFile = "launcher.lock";
  static constexpr std::string_view kPidFile = "launcher.pid";

  // Creates the root (0755) if missing and the VM's dir, or recovers a stale
  // one. AlreadyExists when a live launcher holds it; FailedPrecondition when
  // the path is not a directory we own.
  static absl::StatusOr<VmRuntimeDir> Acquire(const std::string& root,
                                              std::string_view ns,
                                              std::string_view name);

  VmRuntimeDir(VmRuntimeDir&&) = default;
  VmRuntimeDir& operator=(VmRuntimeDir&&) = default;

  const std::string& path() const { return path_; }
  // Whether Acquire found and cleaned a dir left by a dead launcher.
  bool recovered() const { return recovered_; }
  // <path>/<name>, checked against sun_path when `socket` is true.
  absl::StatusOr<std::string> File(std::string_view name,
                                   bool socket = false) const;

  // Lets QEMU's uid reach the files made for it (disk overlays, ISOs) by
  // name: the dir stays ours, its group becomes QEMU's and its mode 0710.
  // QEMU can neither list nor create nor replace anything here (our
  // control.sock among them); every socket it serves is passed as an fd.
  absl::Status LetQemuIn(const Credentials& qemu);

  // Deletes the dir and everything in it, then releases the lock. For a
  // clean shutdown; afterwards this object holds nothing.
  absl::Status Remove();

 private:
  VmRuntimeDir(std::string path, UniqueFd dir, UniqueFd lock, bool recovered)
      : path_(std::move(path)),
        dir_(std::move(dir)),
        lock_(std::move(lock)),
        recovered_(recovered) {}

  std::string path_;
  UniqueFd dir_;
  UniqueFd lock_;
  bool recovered_ = false;
};

}  // namespace qdirect::launch
