#pragma once

// Reads a YAML (multi-document) or JSON stream into RapidJSON documents,
// with a side table of the line and column where each value starts, so that
// findings about a field can name its line.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qdirect/spec.h"
#include "rapidjson/document.h"

namespace qdirect::spec {

// 1-based line and column of a value in the source text.
struct SourcePosition {
  uint32_t line = 0;
  uint32_t column = 0;
};

struct SourceEntry {
  SourcePosition position;
  // For a plain YAML scalar that resolved to a number or bool: its text.
  std::string plain_text;
};

// Entries by field path ("spec.domain.devices.disks[1].bus"). Filled in
// document order while parsing (appends, no per-node tree allocation) and
// searched only when a finding needs a position: small tables by a scan,
// large ones through an index sorted on first use. Not for concurrent use.
class PositionTable {
 public:
  // Records path at pos; returns its entry (valid until the next Add).
  SourceEntry& Add(std::string path, SourcePosition pos);
  // The entry Add returned last.
  SourceEntry& Back() { return entries_.back().second; }
  const std::string& BackPath() const { return entries_.back().first; }

  // What is known of one path. A path recorded twice (a duplicate key)
  // reads as assigning into a map would leave it: the later position, the
  // later plain text that there is.
  struct Found {
    SourcePosition position;
    const std::string* plain_text = nullptr;  // nullptr: none
  };
  // false when path was never recorded.
  bool Find(std::string_view path, Found* found) const;

  // Every entry in the order recorded (for tests).
  const std::vector<std::pair<std::string, SourceEntry>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, SourceEntry>> entries_;
  // Indices of entries_ sorted by path (stable), built on first use.
  mutable std::vector<uint32_t> sorted_;
};

// One document of the stream. Items of a `kind: List` (or of a top-level
// JSON array) are documents of their own; their positions are recorded
// under "items[i]." (or "[i].") which path_prefix names.
struct StreamDocument {
  std::shared_ptr<rapidjson::Document> owner;  // keeps `value` alive
  const rapidjson::Value* value = nullptr;
  std::shared_ptr<const PositionTable> positions;
  std::string path_prefix;
  SourcePosition start;
};

struct Stream {
  std::vector<StreamDocument> documents;
  std::vector<FieldError> errors;  // syntax errors and broken limits
};

// Parses text: JSON when its first non-space character is '{' or '[',
// YAML otherwise. Never fails as a whole; what could be read is returned.
Stream ReadStream(std::string_view text, const DecodeLimits& limits);

// Whether ReadStream tries the hand-written scanner for the block-YAML
// subset (yaml_fast.h) before libyaml.
inline constexpr bool kYamlFastPathEnabled = true;

// ReadStream, for tests: allow_fast chooses whether the fast YAML scanner
// may read text; *used_fast (may be null) tells whether it did.
Stream ReadStreamForTest(std::string_view text, const DecodeLimits& limits, bool allow_fast,
                         bool* used_fast);

// Finds the position of path (or of its nearest recorded parent).
SourcePosition FindPosition(const StreamDocument& doc, std::string_view path);

}  // namespace qdirect::spec
