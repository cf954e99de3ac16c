#pragma once

// ConsoleLog: the serial console's output kept on disk, bounded. The console
// reader appends everything QEMU writes to the serial socket; `vmctl console
// NAME --log` prints what is retained, so output written while nobody was
// attached is not lost.
//
// The log is two files, PATH (being written) and PATH.1 (the previous
// segment). PATH never grows past max_bytes / 2: when full it is renamed to
// PATH.1 (replacing the older one) and a new PATH begins. So at most
// max_bytes are kept and the last max_bytes / 2 bytes always are. A reader
// in another process that races a rotation may see one segment twice or
// miss one; attach replays the log, then streams live bytes.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qdirect/unique_fd.h"

namespace qdirect::vm {

class ConsoleLog {
 public:
  // Opens (creating if needed) the log at `path`, appending to what is
  // there. max_bytes must be at least 2.
  static absl::StatusOr<ConsoleLog> Open(std::string path, int64_t max_bytes);

  ConsoleLog(ConsoleLog&&) = default;
  ConsoleLog& operator=(ConsoleLog&&) = default;

  // Appends console output, rotating as needed.
  absl::Status Append(std::string_view bytes);

  // Everything retained, oldest first.
  absl::StatusOr<std::string> ReadAll() const;

  const std::string& path() const { return path_; }
  int64_t max_bytes() const { return segment_bytes_ * 2; }

 private:
  ConsoleLog(std::string path, int64_t segment_bytes, UniqueFd fd,
             int64_t current_bytes)
      : path_(std::move(path)),
        segment_bytes_(segment_bytes),
        fd_(std::move(fd)),
        current_bytes_(current_bytes) {}

  absl::Status Rotate();

  std::string path_;
  int64_t segment_bytes_;
  UniqueFd fd_;
  int64_t current_bytes_;
};

// Reads a console log written by another process (the launcher's) at `path`:
// PATH.1 then PATH. A missing PATH.1 is fine; a missing PATH is NotFound.
absl::StatusOr<std::string> ReadConsoleLog(const std::string& path);

// ConsolePattern watches streamed console bytes for a substring or a regular
// expression, across chunk boundaries: a test feeds it each chunk as it
// arrives and waits (with a deadline) until it matches. Carriage returns and
// NUL bytes are ignored; a regex is matched against each line, including the
// unfinished last one, so a prompt with no newline ("login: ") matches.
class ConsolePattern {
 public:
  static ConsolePattern Substring(std::string needle);
  // POSIX extended regex. A bad pattern is InvalidArgument.
  static absl::StatusOr<ConsolePattern> Regex(std::string_view pattern);

  ConsolePattern(ConsolePattern&&) noexcept;
  ConsolePattern& operator=(ConsolePattern&&) noexcept;
  ~ConsolePattern();

  // Feeds the next chunk; returns true once the pattern has been seen (and
  // from then on).
  bool Feed(std::string_view bytes);

  bool matched() const { return matched_; }
  // The matched text (the needle, or the regex's match).
  const std::string& match() const { return match_; }

 private:
  struct Regex_;
  ConsolePattern() = default;
  bool TryRegexOnLine();

  std::string needle_;
  std::unique_ptr<Regex_> regex_;
  // Substring: the last needle.size()-1 bytes seen. Regex: the current line.
  std::string carry_;
  bool matched_ = false;
  std::string match_;
};

}  // namespace qdirect::vm
