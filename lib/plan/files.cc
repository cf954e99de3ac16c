#include "plan/files.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "plan/iso.h"
#include "plan/qcow2.h"

namespace qdirect {
namespace {

absl::string_view KindName(FileToCreate::Kind kind) {
  switch (kind) {
    case FileToCreate::Kind::kNoCloudIso:
      return "cloud-init NoCloud ISO";
    case FileToCreate::Kind::kConfigDriveIso:
      return "cloud-init ConfigDrive ISO";
    case FileToCreate::Kind::kConfigIso:
      return "config ISO";
    case FileToCreate::Kind::kQcow2Overlay:
      return "qcow2 overlay";
    case FileToCreate::Kind::kRawImage:
      return "raw image";
  }
  return "file";
}

bool IsIso(FileToCreate::Kind kind) {
  return kind == FileToCreate::Kind::kNoCloudIso ||
         kind == FileToCreate::Kind::kConfigDriveIso ||
         kind == FileToCreate::Kind::kConfigIso;
}

// mkdir -p with mode 0700 for what it creates; existing directories are
// left as they are, anything else in the way is an error.
absl::Status Chown(const std::string& path, const PlanFilesOwner& owner) {
  if (owner.uid < 0 && owner.gid < 0) return absl::OkStatus();
  if (fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(owner.uid),
               static_cast<gid_t>(owner.gid), AT_SYMLINK_NOFOLLOW) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chown ", path));
  }
  return absl::OkStatus();
}

absl::Status MakeParentDirs(const std::string& path,
                            const PlanFilesOwner& owner) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return absl::OkStatus();
  std::string dir = path.substr(0, slash);
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) == 0) {
      RETURN_IF_ERROR(Chown(prefix, owner));
      continue;
    }
    if (errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", prefix));
    }
    struct stat st;
    if (stat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(prefix, " exists and is not a directory"));
    }
  }
  return absl::OkStatus();
}

// True when the file carries the ISO 9660 "CD001" signature of its first
// volume descriptor (sector 16).
bool LooksLikeIso(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  char id[5];
  return pread(fd.get(), id, sizeof(id), 16 * 2048 + 1) == sizeof(id) &&
         std::memcmp(id, "CD001", 5) == 0;
}

absl::Status NotOurs(const FileToCreate& file, absl::string_view why) {
  return absl::AlreadyExistsError(absl::StrCat(KindName(file.kind), " ",
                                               file.path, ": ", why,
                                               "; refusing to overwrite it"));
}

absl::Status CreateOrKeep(const FileToCreate& file,
                          const PlanFilesOwner& owner) {
  if (file.path.empty() || file.path[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        KindName(file.kind), " \"", file.path, "\": path must be absolute"));
  }
  RETURN_IF_ERROR(MakeParentDirs(file.path, owner));
  struct stat st;
  bool exists = lstat(file.path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("lstat ", file.path));
  }
  if (exists && !S_ISREG(st.st_mode)) {
    return NotOurs(file, "exists and is not a regular file");
  }
  switch (file.kind) {
    case FileToCreate::Kind::kNoCloudIso:
    case FileToCreate::Kind::kConfigDriveIso:
    case FileToCreate::Kind::kConfigIso:
      if (exists && !LooksLikeIso(file.path)) {
        return NotOurs(file, "exists and is not an ISO image");
      }
      return BuildIso(file.path, file.label, file.iso_files);
    case FileToCreate::Kind::kQcow2Overlay: {
      if (exists) {
        absl::StatusOr<ImageInfo> info = ReadImageInfo(file.path);
        if (info.ok() && info->format == "qcow2" &&
            info->backing_file == file.backing_path) {
          return absl::OkStatus();  // a restart: keep the guest's writes
        }
        return NotOurs(file, absl::StrCat("exists and is not a qcow2 overlay "
                                          "of ",
                                          file.backing_path));
      }
      return CreateQcow2Overlay(file.path, file.backing_path,
                                file.backing_format, file.size_bytes);
    }
    case FileToCreate::Kind::kRawImage:
      if (exists) {
        if (st.st_size == file.size_bytes) return absl::OkStatus();
        return NotOurs(file, absl::StrCat("exists with size ", st.st_size,
                                          ", not ", file.size_bytes));
      }
      return CreateRawImage(file.path, file.size_bytes);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(file.path, ": unknown file kind"));
}

bool IsUnder(absl::string_view path, absl::string_view dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  if (dir.empty()) return false;
  if (dir == "/") return path.size() > 1 && path[0] == '/';
  return absl::StartsWith(path, dir) && path.size() > dir.size() + 1 &&
         path[dir.size()] == '/';
}

}  // namespace

absl::Status CreatePlanFiles(const Plan& plan, const PlanFilesOwner& owner) {
  for (const FileToCreate& file : plan.files) {
    RETURN_IF_ERROR(CreateOrKeep(file, owner));
    // Kept files too: the previous run may have used another uid.
    RETURN_IF_ERROR(Chown(file.path, owner));
  }
  return absl::OkStatus();
}

absl::Status RemovePlanFiles(const Plan& plan, const std::string& state_dir) {
  absl::Status first_error;
  for (const FileToCreate& file : plan.files) {
    bool ours = IsIso(file.kind) ||
                file.kind == FileToCreate::Kind::kQcow2Overlay ||
                IsUnder(file.path, state_dir);
    if (!ours || file.path.empty() || absl::StrContains(file.path, "/../")) {
      continue;
    }
    struct stat st;
    if (lstat(file.path.c_str(), &st) != 0) {
      if (errno != ENOENT && first_error.ok()) {
        first_error = absl::ErrnoToStatus(errno, "lstat " + file.path);
      }
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;  // never ours: leave it be
    if (unlink(file.path.c_str()) != 0 && errno != ENOENT && first_error.ok()) {
      first_error = absl::ErrnoToStatus(errno, "unlink " + file.path);
    }
  }
  return first_error;
}

absl::StatusOr<StagedFile> StagedFile::Create(const std::string& path) {
  // Staged files live beside their target so the rename stays on one file
  // system; relative paths are relative to the current directory.
  absl::string_view whole = path;
  size_t slash = whole.rfind('/');
  absl::string_view dir =
      slash == absl::string_view::npos ? "." : whole.substr(0, slash);
  absl::string_view base =
      slash == absl::string_view::npos ? whole : whole.substr(slash + 1);
  if (base.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" names no file"));
  }
  std::string temp = absl::StrCat(dir, "/.", base, ".XXXXXX");
  UniqueFd fd(mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "create " + temp);
  return StagedFile(path, std::move(temp), std::move(fd));
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::exchange(other.temp_path_, std::string())),
      fd_(std::move(other.fd_)) {}

StagedFile::~StagedFile() {
  if (!temp_path_.empty()) unlink(temp_path_.c_str());
}

absl::Status StagedFile::Commit(bool replace) {
  if (temp_path_.empty()) {
    return absl::FailedPreconditionError(path_ + ": already committed");
  }
  if (fsync(fd_.get()) != 0) {
    return absl::ErrnoToStatus(errno, "fsync " + temp_path_);
  }
  fd_.reset();
  int r = replace ? rename(temp_path_.c_str(), path_.c_str())
                  : renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD,
                              path_.c_str(), RENAME_NOREPLACE);
  if (r != 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path_ + " exists");
    return absl::ErrnoToStatus(
        errno, absl::StrCat("rename ", temp_path_, " to ", path_));
  }
  temp_path_.clear();
  return absl::OkStatus();
}

absl::Status WriteAllAt(int fd, const void* data, size_t size, int64_t offset,
                        absl::string_view what) {
  const auto* p = static_cast<const unsigned char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n =
        pwrite(fd, p + done, size - done, offset + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("write ", what));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace qdirect
