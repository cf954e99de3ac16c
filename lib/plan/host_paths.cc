#include "plan/host_paths.h"

#include <stdlib.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace qdirect::plan {

bool IsPathUnder(absl::string_view path, absl::string_view root) {
  if (root == "/") return !path.empty() && path[0] == '/';
  return path == root ||
         (absl::StartsWith(path, root) && path.size() > root.size() &&
          path[root.size()] == '/');
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char* resolved = realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("realpath ", path));
  }
  std::string out(resolved);
  free(resolved);
  return out;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (!dir.empty() && dir.back() == '/') dir.remove_suffix(1);
  return absl::StrCat(dir, "/", name);
}

}  // namespace qdirect::plan
