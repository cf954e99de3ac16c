#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace qdirect::vmctl {

// Reads a manifest file ("-" is stdin), refusing anything over max_bytes
// before reading it all.
absl::StatusOr<std::string> ReadManifestFile(const std::string& path,
                                             size_t max_bytes);

}  // namespace qdirect::vmctl

#include "qdirect/spec.h"

namespace qdirect::vmctl {

// Loads the one VM/VMI of `path` (or the one named `name` when the file holds
// several), printing notices and warnings to stderr. Errors come back as one
// InvalidArgument listing every finding as `FILE: PATH: message`.
absl::StatusOr<spec::Vmi> LoadOneVmi(const std::string& path,
                                     const std::string& name,
                                     const spec::DecodeOptions& options = {});

}  // namespace qdirect::vmctl
