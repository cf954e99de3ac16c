#include "launch/runtime_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace qdirect::launch {
namespace {

bool IsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Removes every entry of the directory `dir` except `keep`, recursing into
// subdirectories without following symlinks.
absl::Status EmptyDirectory(int dir, const std::string& where,
                            std::string_view keep) {
  int listing_fd = dup(dir);
  if (listing_fd < 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("dup ", where));
  DIR* listing = fdopendir(listing_fd);
  if (listing == nullptr) {
    int err = errno;
    UniqueFd discard(listing_fd);
    return absl::ErrnoToStatus(err, absl::StrCat("opendir ", where));
  }
  rewinddir(listing);
  absl::Status status;
  while (struct dirent* entry = readdir(listing)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == keep) continue;
    const std::string child_path = absl::StrCat(where, "/", entry->d_name);
    if (unlinkat(dir, entry->d_name, 0) == 0) continue;
    if (errno != EISDIR) {
      status = absl::ErrnoToStatus(errno, absl::StrCat("unlink ", child_path));
      break;
    }
    UniqueFd child(openat(dir, entry->d_name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      status = absl::ErrnoToStatus(errno, absl::StrCat("open ", child_path));
      break;
    }
    status = EmptyDirectory(child.get(), child_path, "");
    if (!status.ok()) break;
    if (unlinkat(dir, entry->d_name, AT_REMOVEDIR) != 0) {
      status = absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", child_path));
      break;
    }
  }
  closedir(listing);
  return status;
}

// Opens (creating 0755 if missing, one level) the runtime root, refusing one
// that others could write to: they could plant a VM's dir there.
absl::StatusOr<UniqueFd> OpenRoot(const std::string& root) {
  if (mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("runtime root ", root, ": mkdir"));
  }
  UniqueFd fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("runtime root ", root, ": open"));
  }
  struct stat info;
  if (fstat(fd.get(), &info) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("runtime root ", root, ": stat"));
  }
  if (info.st_uid != geteuid() && info.st_uid != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("runtime root ", root, ": owned by uid ", info.st_uid,
                     ", not by us (uid ", geteuid(), ") or root"));
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "runtime root ", root, ": writable by group or others (mode ",
        absl::StrFormat("%04o", info.st_mode & 07777), ")"));
  }
  return fd;
}

std::string ReadPidFile(int dir) {
  UniqueFd fd(openat(dir, std::string(VmRuntimeDir::kPidFile).c_str(),
                     O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  char buffer[32] = {};
  if (!fd || read(fd.get(), buffer, sizeof buffer - 1) <= 0) return "unknown";
  int pid;
  if (!absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(buffer), &pid)) {
    return "unknown";
  }
  return absl::StrCat(pid);
}

}  // namespace

absl::Status ValidateDnsLabel(std::string_view what, std::string_view value) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(what), ": Invalid value: \"", std::string(value),
        "\": ", std::string(why),
        " (a DNS-1123 label: lower case alphanumerics or '-', starting and "
        "ending with an alphanumeric, at most 63 characters)"));
  };
  if (value.empty()) return invalid("must not be empty");
  if (value.size() > 63) return invalid("longer than 63 characters");
  for (char c : value) {
    if (!IsLabelChar(c) && c != '-') {
      return invalid(
          absl::StrCat("character '", std::string(1, c), "' not allowed"));
    }
  }
  if (!IsLabelChar(value.front()) || !IsLabelChar(value.back())) {
    return invalid("must start and end with an alphanumeric");
  }
  return absl::OkStatus();
}

absl::Status ValidateVmName(std::string_view name) {
  return ValidateDnsLabel("vm name", name);
}

absl::Status ValidateNamespace(std::string_view ns) {
  return ValidateDnsLabel("namespace", ns);
}

absl::Status CheckSocketPath(std::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("socket path is empty");
  if (path.size() > kMaxSocketPathLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket path ", std::string(path), " is ", path.size(),
        " bytes long; a unix socket path holds at most ", kMaxSocketPathLength,
        " (shorten the runtime dir, QDIRECT_RUNTIME_DIR)"));
  }
  return absl::OkStatus();
}

std::string RuntimeRootFor(std::optional<std::string_view> qdirect_runtime_dir,
                           std::optional<std::string_view> xdg_runtime_dir,
                           uid_t euid) {
  if (qdirect_runtime_dir && !qdirect_runtime_dir->empty()) {
    return std::string(*qdirect_runtime_dir);
  }
  if (euid == 0) return "/run/qdirect";
  if (xdg_runtime_dir && !xdg_runtime_dir->empty()) {
    return absl::StrCat(std::string(*xdg_runtime_dir), "/qdirect");
  }
  return absl::StrCat("/tmp/qdirect-", euid);
}

std::string RuntimeRootFromEnvironment() {
  auto get = [](const char* name) -> std::optional<std::string_view> {
    const char* value = getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string_view(value);
  };
  return RuntimeRootFor(get("QDIRECT_RUNTIME_DIR"), get("XDG_RUNTIME_DIR"),
                        geteuid());
}

absl::StatusOr<VmRuntimeDir> VmRuntimeDir::Acquire(const std::string& root,
                                                   std::string_view ns,
                                                   std::string_view name) {
  RETURN_IF_ERROR(ValidateNamespace(ns));
  RETURN_IF_ERROR(ValidateVmName(name));
  ASSIGN_OR_RETURN(UniqueFd root_fd, OpenRoot(root));
  const std::string leaf =
      absl::StrCat(std::string(ns), "_", std::string(name));
  const std::string path = absl::StrCat(root, "/", leaf);
  const std::string vm =
      absl::StrCat("vm ", std::string(ns), "/", std::string(name));

  bool existed = false;
  if (mkdirat(root_fd.get(), leaf.c_str(), 0700) != 0) {
    if (errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat(vm, ": mkdir ", path));
    }
    existed = true;
  }
  UniqueFd dir(openat(root_fd.get(), leaf.c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    if (errno == ENOTDIR || errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(vm, ": ", path,
                       " exists and is not a directory; refusing to use it"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat(vm, ": open ", path));
  }
  struct stat info;
  if (fstat(dir.get(), &info) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(vm, ": stat ", path));
  }
  // Root may have handed the dir to the QEMU uid; the root dir being ours and
  // closed to others proves we created it.
  if (info.st_uid != geteuid() && geteuid() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(vm, ": ", path, " is owned by uid ", info.st_uid,
                     ", not by us (uid ", geteuid(), "); refusing to use it"));
  }
  if (fchmod(dir.get(), 0700) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(vm, ": chmod 0700 ", path));
  }

  UniqueFd lock(openat(dir.get(), std::string(kLockFile).c_str(),
                       O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat(vm, ": open ", path, "/", std::string(kLockFile)));
  }
  if (flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::AlreadyExistsError(absl::StrCat(
          vm, ": runtime dir ", path, " is in use by launcher pid ",
          ReadPidFile(dir.get()), " (", std::string(kLockFile), " is locked)"));
    }
    return absl::ErrnoToStatus(
        errno, absl::StrCat(vm, ": flock ", path, "/", std::string(kLockFile)));
  }
  if (existed) {
    // Its launcher died without cleaning up: sockets, pid file, overlays.
    RETURN_IF_ERROR(EmptyDirectory(dir.get(), path, kLockFile));
  }
  UniqueFd pid_file(
      openat(dir.get(), std::string(kPidFile).c_str(),
             O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (!pid_file || write(pid_file.get(), pid.data(), pid.size()) !=
                       static_cast<ssize_t>(pid.size())) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat(vm, ": write ", path, "/", std::string(kPidFile)));
  }
  return VmRuntimeDir(path, std::move(dir), std::move(lock), existed);
}

absl::StatusOr<std::string> VmRuntimeDir::File(std::string_view name,
                                               bool socket) const {
  std::string file = absl::StrCat(path_, "/", std::string(name));
  if (socket) RETURN_IF_ERROR(CheckSocketPath(file));
  return file;
}

absl::Status VmRuntimeDir::LetQemuIn(const Credentials& qemu) {
  if (fchown(dir_.get(), static_cast<uid_t>(-1), qemu.gid) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("chgrp ", path_, " to ", qemu.gid));
  }
  if (fchmod(dir_.get(), 0710) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod 0710 ", path_));
  }
  return absl::OkStatus();
}

absl::Status VmRuntimeDir::Remove() {
  if (!dir_)
    return absl::FailedPreconditionError("runtime dir already removed");
  RETURN_IF_ERROR(EmptyDirectory(dir_.get(), path_, ""));
  if (rmdir(path_.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", path_));
  }
  dir_.reset();
  lock_.reset();
  return absl::OkStatus();
}

}  // namespace qdirect::launch
