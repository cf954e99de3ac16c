#pragma once

// KubeVirt's defaults (pkg/defaults/defaults.go, pkg/apis/core/v1
// defaults.go, pkg/network/vmispec), applied after decoding.

#include "qdirect/spec.h"
#include "spec/object_reader.h"

namespace qdirect::spec {

// Fills what KubeVirt's mutating webhook fills. Leniencies that KubeVirt
// does not have are reported as warnings in findings.
void ApplyDefaults(Vmi* vmi, Findings* findings);

}  // namespace qdirect::spec
