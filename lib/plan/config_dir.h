#pragma once

// Reads a configMap, secret, serviceAccount or downwardAPI source directory
// the way the kubelet lays one out (each key a file, behind `..data`
// symlinks), into the files of the ISO the guest sees. I/O: resolvers call
// it so the planner stays pure.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qdirect::plan {

// Limits against a directory that is not what a configMap or secret looks
// like (Kubernetes caps each object at 1 MiB).
inline constexpr int kMaxConfigFiles = 1024;
inline constexpr int64_t kMaxConfigBytes = int64_t{16} << 20;
inline constexpr int kMaxConfigDepth = 8;

// Every regular file under `dir` (path relative to `dir` -> contents),
// following symlinks that stay inside `dir`. Names starting with ".." (the
// kubelet's `..data` and timestamped dirs) are skipped: the keys reach
// their files through them. `where` prefixes error messages. NotFound when
// `dir` does not exist; PermissionDenied for a link out of `dir`;
// ResourceExhausted past the limits above.
absl::StatusOr<std::map<std::string, std::string>> ReadConfigDir(
    const std::string& dir, absl::string_view where);

}  // namespace qdirect::plan
