#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "qdirect/spec.h"

namespace qdirect::vmctl {

// The per-VM runtime directory `<runtime root>/<namespace>_<name>` (not
// created here).
absl::StatusOr<std::string> VmRuntimeDir(const spec::Vmi& vmi);

}  // namespace qdirect::vmctl
