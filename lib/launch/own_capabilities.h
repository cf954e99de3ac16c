#pragma once

#include <span>

#include "absl/status/status.h"

namespace qdirect::launch {

// Limits the calling thread's own capabilities (effective, permitted,
// inheritable, ambient and the bounding set) to `keep`, through libcap-ng.
// For the launcher and handler, which start as root but need only a few
// (e.g. CAP_SETUID, CAP_SETGID, CAP_SETPCAP to Spawn QEMU as another uid, and
// CAP_CHOWN for its runtime dir). Capabilities are per thread: call it before
// starting any thread. Children inherit the limit.
absl::Status LimitOwnCapabilities(std::span<const int> keep);

}  // namespace qdirect::launch
