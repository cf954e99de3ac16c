#include "launch/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "qdirect/unique_fd.h"

namespace qdirect::launch {

std::string ReadLogTail(const std::string& path, size_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  struct stat info;
  if (!fd || fstat(fd.get(), &info) != 0 || max_bytes == 0) return "";
  const off_t size = info.st_size;
  const off_t start = size > static_cast<off_t>(max_bytes)
                          ? size - static_cast<off_t>(max_bytes)
                          : 0;
  std::string text(static_cast<size_t>(size - start), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n =
        pread(fd.get(), text.data() + got, text.size() - got, start + got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  if (start > 0) {
    size_t newline = text.find('\n');
    if (newline != std::string::npos && newline + 1 < text.size()) {
      text.erase(0, newline + 1);
    }
    text.insert(0, "...\n");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

}  // namespace qdirect::launch
