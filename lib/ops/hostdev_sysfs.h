#pragma once

// Small sysfs readers shared by the hostdev files. Every error names the
// path.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qdirect::hostdev {

// A sysfs attribute's text without surrounding whitespace.
absl::StatusOr<std::string> ReadSysfsFile(const std::string& path);
// Entry names of a directory, sorted, without "." and "..".
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path);
// The last component of a symlink's target; nullopt when path is no link.
std::optional<std::string> LinkBasename(const std::string& path);
// lstat succeeds.
bool PathExists(const std::string& path);

}  // namespace qdirect::hostdev
