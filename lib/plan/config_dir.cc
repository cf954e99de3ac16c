#include "plan/config_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "plan/host_paths.h"
#include "qdirect/unique_fd.h"

namespace qdirect::plan {
namespace {

struct Walk {
  std::string root_real;  // realpath of the source directory
  absl::string_view where;
  std::map<std::string, std::string> files;
  int64_t bytes = 0;
};

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("opendir ", dir));
  std::vector<std::string> names;
  while (dirent* entry = readdir(d)) {
    absl::string_view name = entry->d_name;
    // ".", "..", and the kubelet's "..data" / "..2024_..." bookkeeping.
    if (name == "." || absl::StartsWith(name, "..")) continue;
    names.emplace_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status ReadFileInto(const std::string& path, int64_t size, Walk& walk,
                          std::string* out) {
  if (walk.bytes + size > kMaxConfigBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        walk.where, ": ", walk.root_real, " holds more than ",
        kMaxConfigBytes >> 20, " MiB: not a configMap or secret"));
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat(walk.where, ": open ", path));
  out->resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = read(fd.get(), out->data() + done, out->size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat(walk.where, ": read ", path));
    if (n == 0) break;  // shrank meanwhile: keep what is there
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  walk.bytes += static_cast<int64_t>(done);
  return absl::OkStatus();
}

absl::Status WalkDir(const std::string& dir, const std::string& prefix,
                     int depth, Walk& walk) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    const std::string key = prefix.empty() ? name : absl::StrCat(prefix, "/", name);
    absl::StatusOr<std::string> real = RealPath(path);
    if (!real.ok()) {
      return absl::NotFoundError(
          absl::StrCat(walk.where, ": ", path, " is a dangling link"));
    }
    if (!IsPathUnder(*real, walk.root_real) || *real == walk.root_real) {
      return absl::PermissionDeniedError(
          absl::StrCat(walk.where, ": ", path, " resolves to ", *real,
                       ", outside ", walk.root_real));
    }
    struct stat st;
    if (stat(real->c_str(), &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat(walk.where, ": stat ", *real));
    }
    if (S_ISDIR(st.st_mode)) {
      if (depth >= kMaxConfigDepth) {
        return absl::ResourceExhaustedError(absl::StrCat(
            walk.where, ": ", path, " is nested more than ", kMaxConfigDepth,
            " directories deep"));
      }
      RETURN_IF_ERROR(WalkDir(path, key, depth + 1, walk));
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          walk.where, ": ", path, " is neither a regular file nor a directory"));
    }
    if (static_cast<int>(walk.files.size()) >= kMaxConfigFiles) {
      return absl::ResourceExhaustedError(
          absl::StrCat(walk.where, ": ", walk.root_real, " holds more than ",
                       kMaxConfigFiles, " files"));
    }
    RETURN_IF_ERROR(ReadFileInto(*real, st.st_size, walk, &walk.files[key]));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ReadConfigDir(
    const std::string& dir, absl::string_view where) {
  absl::StatusOr<std::string> root = RealPath(dir);
  if (!root.ok()) {
    if (absl::IsNotFound(root.status())) {
      return absl::NotFoundError(absl::StrCat(where, ": no directory ", dir));
    }
    return absl::Status(root.status().code(),
                        absl::StrCat(where, ": ", root.status().message()));
  }
  struct stat st;
  if (stat(root->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", dir, " is not a directory"));
  }
  Walk walk;
  walk.root_real = *std::move(root);
  walk.where = where;
  RETURN_IF_ERROR(WalkDir(walk.root_real, "", 0, walk));
  return std::move(walk.files);
}

}  // namespace qdirect::plan
