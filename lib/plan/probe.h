#pragma once

// Internals of ProbeQemu (declared in qdirect/plan.h), visible to tests.

#include <string>
#include <vector>

namespace qdirect::plan {

// Device types whose properties the probe records (device-list-properties):
// every driver the planner may emit.
const std::vector<std::string>& ProbedDeviceTypes();

// The cache file for `binary` in cache_dir: a hash of the path, so two
// binaries never share one.
std::string CapabilitiesCachePath(const std::string& cache_dir,
                                  const std::string& binary);

}  // namespace qdirect::plan
