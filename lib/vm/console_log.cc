#include "vm/console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace qdirect::vm {
namespace {

// The longest line a regex is tried on; older bytes of a longer line are
// dropped so a console that never prints '\n' cannot grow the buffer.
constexpr size_t kMaxLineBytes = 64 * 1024;

absl::Status Errno(int err, absl::string_view path, absl::string_view what) {
  return absl::ErrnoToStatus(err,
                             absl::StrCat("console log ", path, ": ", what));
}

absl::StatusOr<UniqueFd> OpenForAppend(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                     0600));
  if (!fd.valid()) return Errno(errno, path, "open");
  return fd;
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, path, "write");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Appends the whole of `path` to `out`; a missing file is NotFound.
absl::Status ReadFileInto(const std::string& path, std::string& out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Errno(errno, path, "open");
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, path, "read");
    }
    if (n == 0) return absl::OkStatus();
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// ConsoleLog

absl::StatusOr<ConsoleLog> ConsoleLog::Open(std::string path,
                                            int64_t max_bytes) {
  if (max_bytes < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "console log ", path, ": max_bytes ", max_bytes, " is below 2"));
  }
  ASSIGN_OR_RETURN(UniqueFd fd, OpenForAppend(path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno(errno, path, "fstat");
  ConsoleLog log(std::move(path), max_bytes / 2, std::move(fd), st.st_size);
  // A log left by an earlier run with a larger cap is rotated first.
  if (log.current_bytes_ >= log.segment_bytes_) RETURN_IF_ERROR(log.Rotate());
  return log;
}

absl::Status ConsoleLog::Rotate() {
  const std::string old = path_ + ".1";
  if (::rename(path_.c_str(), old.c_str()) != 0) {
    return Errno(errno, path_, "rename to .1");
  }
  ASSIGN_OR_RETURN(fd_, OpenForAppend(path_));
  current_bytes_ = 0;
  return absl::OkStatus();
}

absl::Status ConsoleLog::Append(std::string_view bytes) {
  // Bytes older than two segments would be rotated away at once.
  if (static_cast<int64_t>(bytes.size()) > 2 * segment_bytes_) {
    bytes.remove_prefix(bytes.size() - 2 * segment_bytes_);
  }
  while (!bytes.empty()) {
    const int64_t room = segment_bytes_ - current_bytes_;
    const size_t n =
        std::min(bytes.size(), static_cast<size_t>(std::max<int64_t>(room, 0)));
    if (n > 0) {
      RETURN_IF_ERROR(WriteAll(fd_.get(), bytes.substr(0, n), path_));
      current_bytes_ += static_cast<int64_t>(n);
      bytes.remove_prefix(n);
    }
    // Rotating as soon as PATH is full keeps PATH.1 a whole segment.
    if (current_bytes_ >= segment_bytes_) RETURN_IF_ERROR(Rotate());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ConsoleLog::ReadAll() const {
  return ReadConsoleLog(path_);
}

absl::StatusOr<std::string> ReadConsoleLog(const std::string& path) {
  std::string out;
  absl::Status older = ReadFileInto(path + ".1", out);
  if (!older.ok() && !absl::IsNotFound(older)) return older;
  RETURN_IF_ERROR(ReadFileInto(path, out));
  return out;
}

// ---------------------------------------------------------------------------
// ConsolePattern

struct ConsolePattern::Regex_ {
  regex_t re;
  bool compiled = false;
  ~Regex_() {
    if (compiled) ::regfree(&re);
  }
};

ConsolePattern::ConsolePattern(ConsolePattern&&) noexcept = default;
ConsolePattern& ConsolePattern::operator=(ConsolePattern&&) noexcept = default;
ConsolePattern::~ConsolePattern() = default;

ConsolePattern ConsolePattern::Substring(std::string needle) {
  ConsolePattern p;
  p.needle_ = std::move(needle);
  return p;
}

absl::StatusOr<ConsolePattern> ConsolePattern::Regex(std::string_view pattern) {
  ConsolePattern p;
  p.regex_ = std::make_unique<Regex_>();
  const std::string text(pattern);
  int rc = ::regcomp(&p.regex_->re, text.c_str(), REG_EXTENDED);
  if (rc != 0) {
    char err[256];
    ::regerror(rc, &p.regex_->re, err, sizeof(err));
    return absl::InvalidArgumentError(
        absl::StrCat("console pattern \"",
                     absl::string_view(pattern.data(), pattern.size()),
                     "\": ", err));
  }
  p.regex_->compiled = true;
  return p;
}

bool ConsolePattern::TryRegexOnLine() {
  regmatch_t m;
  if (::regexec(&regex_->re, carry_.c_str(), 1, &m, 0) != 0) return false;
  matched_ = true;
  match_ = carry_.substr(static_cast<size_t>(m.rm_so),
                         static_cast<size_t>(m.rm_eo - m.rm_so));
  return true;
}

bool ConsolePattern::Feed(std::string_view bytes) {
  if (matched_) return true;
  if (regex_ == nullptr) {
    if (needle_.empty()) {
      matched_ = true;
      return true;
    }
    std::string window = carry_;
    for (char c : bytes) {
      if (c != '\r' && c != '\0') window.push_back(c);
    }
    if (window.find(needle_) != std::string::npos) {
      matched_ = true;
      match_ = needle_;
      carry_.clear();
      return true;
    }
    const size_t keep = std::min(window.size(), needle_.size() - 1);
    carry_ = window.substr(window.size() - keep);
    return false;
  }
  for (char c : bytes) {
    if (c == '\r' || c == '\0') continue;
    if (c == '\n') {
      if (TryRegexOnLine()) return true;
      carry_.clear();
      continue;
    }
    carry_.push_back(c);
    if (carry_.size() > kMaxLineBytes) {
      carry_.erase(0, carry_.size() - kMaxLineBytes / 2);
    }
  }
  // The unfinished line: prompts end without a newline.
  return TryRegexOnLine();
}

}  // namespace qdirect::vm
