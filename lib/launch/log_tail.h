#pragma once

#include <cstddef>
#include <string>

namespace qdirect::launch {

// The last `max_bytes` of the file at `path`, to quote a child's stderr (QEMU's
// own error line) in a Status. When the file is longer, the cut starts after a
// newline so no partial line is quoted, and the text begins with "...\n".
// Trailing newlines are dropped. Empty when the file is missing or unreadable:
// the caller is already reporting a failure and this only decorates it.
std::string ReadLogTail(const std::string& path, size_t max_bytes);

}  // namespace qdirect::launch
