#pragma once

// Reads a YAML (multi-document) or JSON stream into node trees (node.h):
// values with the line and column where each starts, so that findings about
// a field can name its line.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qdirect/spec.h"
#include "spec/node.h"

namespace qdirect::spec {

// One document of the stream. Items of a `kind: List` (or of a top-level
// JSON array) are documents of their own, "items[i]." (or "[i].") in the
// list, which path_prefix names.
struct StreamDocument {
  std::shared_ptr<const NodeTree> tree;  // keeps `value` alive
  const Node* value = nullptr;
  std::string path_prefix;
  SourcePosition start;
};

struct Stream {
  std::vector<StreamDocument> documents;
  std::vector<FieldError> errors;  // syntax errors and broken limits
};

// Whether ReadStream's caller keeps the text alive as long as the Stream.
enum class InputText {
  kCopied,          // the YAML tree copies it (nodes view the copy)
  kOutlivesStream,  // nodes view it: no copy (for the seed, a malloc, copy
                    // and free beyond tcache's sizes: ~1.5k instructions)
};

// Parses text: JSON when its first non-space character is '{' or '[',
// YAML otherwise. Never fails as a whole; what could be read is returned.
Stream ReadStream(std::string_view text, const DecodeLimits& limits,
                  InputText input = InputText::kCopied);

// Whether ReadStream tries the hand-written scanner for the block-YAML
// subset (yaml_fast.h) before libyaml.
inline constexpr bool kYamlFastPathEnabled = true;

// ReadStream, for tests: allow_fast chooses whether the fast YAML scanner
// may read text; *used_fast (may be null) tells whether it did.
Stream ReadStreamForTest(std::string_view text, const DecodeLimits& limits, bool allow_fast,
                         bool* used_fast);

// Finds the position of path under doc's value (or of its nearest present
// parent). JSON input has no positions: its documents' start.
SourcePosition FindPosition(const StreamDocument& doc, std::string_view path);

}  // namespace qdirect::spec
