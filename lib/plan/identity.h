#pragma once

// Stable identities derived from a VMI's namespace and name: the SMBIOS
// UUID and interface MACs must not change across restarts or migrations,
// and the planner may not read clocks or random sources.

#include <string>
#include <string_view>

namespace qdirect::plan {

// A name-based UUID (version 5 layout, FNV-based digest rather than SHA-1:
// only stability matters here), e.g. "3f2b...-5...-8...".
std::string DeterministicUuid(std::string_view ns, std::string_view name);

// A locally administered MAC in QEMU's 52:54:00 range from ns/name/iface.
std::string DeterministicMac(std::string_view ns, std::string_view name,
                             std::string_view interface);

}  // namespace qdirect::plan
