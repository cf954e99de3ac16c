#pragma once

// Start-up pages: a launcher runs for the whole life of its VM, but most of
// the code it maps (the spec decoder, the planner, the ISO and overlay
// writers, dynamic linking) runs once, while the VM starts. Those pages stay
// in the process's resident set although nothing touches them again. Once
// the VM runs, the launcher drops every file-backed page it never wrote from
// its mappings (MADV_DONTNEED: they stay in the page cache and fault back in
// from there when used again) and returns free heap to the kernel.

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace qdirect::launch {

// One mapping of /proc/self/smaps whose pages can be dropped without
// losing anything: backed by a file, never writable, privately mapped, and
// holding no page of its own (no anonymous copy, nothing swapped out).
struct ReleasableMapping {
  uintptr_t start = 0;
  uintptr_t end = 0;
  uint64_t rss_kib = 0;
};

// Pure: the releasable mappings in the text of /proc/<pid>/smaps. A mapping
// whose fields cannot be read is kept (never released).
std::vector<ReleasableMapping> ReleasableMappings(std::string_view smaps);

struct ReleasedPages {
  uint64_t mappings = 0;
  // Resident KiB of the released mappings before the release.
  uint64_t mapped_kib = 0;
};

// Drops the releasable mappings' pages from this process (see above) and
// trims the heap. Safe at any time: a page touched again faults back in.
absl::StatusOr<ReleasedPages> ReleaseStartupPages();

}  // namespace qdirect::launch
