#pragma once

// Host path helpers shared by the volume resolvers and the config-dir reader:
// where a path really leads, and whether it stays under a root.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qdirect::plan {

// True when `path` is `root` or lies below it (both absolute and clean, as
// realpath(3) returns them).
bool IsPathUnder(absl::string_view path, absl::string_view root);

// realpath(3); the errno's status (NotFound when a component is missing).
absl::StatusOr<std::string> RealPath(const std::string& path);

// `dir` + "/" + `name`, with one slash between them.
std::string JoinPath(absl::string_view dir, absl::string_view name);

}  // namespace qdirect::plan
