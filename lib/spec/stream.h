#pragma once

// Reads a YAML (multi-document) or JSON stream into RapidJSON documents,
// with a side table of the line and column where each value starts, so that
// findings about a field can name its line.

#include <cstdint>
#include <memory>
#include <optional>
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

// Where each value of a document starts, by field path
// ("spec.domain.devices.disks[1].bus"). Filled in document order while
// parsing as a tree of nodes (parent, key or index): no path string is
// built per node. When a finding needs a position, small tables are
// scanned, comparing a hash of each node's path first; large ones build
// every path once, with an index sorted on first use. Not for concurrent
// use.
class PositionTable {
 public:
  // Records the document's root value at pos; returns its node.
  uint32_t AddRoot(SourcePosition pos);
  // Records member `key` of the mapping at node parent; returns its node.
  uint32_t AddMember(uint32_t parent, std::string_view key, SourcePosition pos);
  // Records item `index` of the sequence at node parent; returns its node.
  uint32_t AddItem(uint32_t parent, size_t index, SourcePosition pos);
  // The text of a plain scalar that resolved to a number or bool.
  void SetPlainText(uint32_t node, std::string_view text);

  // The field path of node ("" for the root).
  std::string PathOf(uint32_t node) const;

  // What is known of one path. A path recorded twice (a duplicate key)
  // reads as assigning into a map would leave it: the later position, the
  // later plain text that there is.
  struct Found {
    SourcePosition position;
    std::optional<std::string_view> plain_text;  // into the table
  };
  // false when path was never recorded.
  bool Find(std::string_view path, Found* found) const;

  // Every entry in the order recorded, with its path (for tests).
  const std::vector<std::pair<std::string, SourceEntry>>& entries() const;

 private:
  static constexpr uint32_t kNoParent = UINT32_MAX;
  // Plain data (texts live in text_), so that growing nodes_ moves bytes.
  struct Node {
    uint32_t parent = kNoParent;
    // A member's key in text_ (key_size), or an item's index.
    uint32_t key_offset = 0;
    uint32_t key_size = 0;
    uint32_t plain_offset = 0;  // the plain text in text_; none when size 0
    uint32_t plain_size = 0;
    bool is_item = false;
    bool path_empty = true;  // the root, or members keyed "" under it
    uint64_t path_hash = 0;  // FNV-1a of PathOf(node), from the parent's
    SourcePosition position;
  };
  // Appends node; its path is its parent's followed by separator and
  // suffix ("." and a key, or "" and "[index]").
  uint32_t Add(Node node, std::string_view separator, std::string_view suffix);
  // Whether PathOf(node) == path, compared from the end without building it.
  bool PathIs(uint32_t node, std::string_view path) const;

  std::vector<Node> nodes_;
  std::string text_;  // member keys and plain texts, back to back
  // Built on first use of entries() or of a large table's Find.
  mutable std::vector<std::pair<std::string, SourceEntry>> entries_;
  // Indices of entries_ sorted by path (stable).
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
