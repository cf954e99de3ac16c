#pragma once

// QemuCapabilities <-> JSON, for the on-disk probe cache and for the
// generator of the built-in 7.2 table.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "qdirect/plan.h"

namespace qdirect::plan {

// Renders caps as one JSON object, sets sorted (so the text is stable).
// A non-empty cache_key is stored beside them (the probe cache's validity).
std::string CapabilitiesToJson(const QemuCapabilities& caps,
                               std::string_view cache_key = {});

// Parses what CapabilitiesToJson wrote; the stored cache key, if any, goes
// to *cache_key. Anything malformed is InvalidArgument (the cache then
// re-probes).
absl::StatusOr<QemuCapabilities> CapabilitiesFromJson(
    std::string_view json, std::string* cache_key = nullptr);

}  // namespace qdirect::plan
