#pragma once

// A text dump of a decoded Stream — every document's nodes with their keys,
// values, positions and plain texts, and every error — so two decodes can
// be compared as strings. Shared by the fast-path differential test and
// fuzzer.

#include <string>

#include "spec/node.h"
#include "spec/stream.h"

namespace qdirect::spec {

inline void DumpNode(const Node& n, int depth, std::string* out) {
  out->append(static_cast<size_t>(2 * depth), ' ');
  *out += "[" + std::string(n.key()) + "] " + JsonTypeName(n) + " " + Describe(n) + " @" +
          std::to_string(n.position().line) + ":" + std::to_string(n.position().column);
  if (auto plain = n.plain_text()) *out += " plain[" + std::string(*plain) + "]";
  *out += "\n";
  if (n.IsArray() || n.IsObject()) {
    for (const Node& child : n) DumpNode(child, depth + 1, out);
  }
}

inline std::string DumpStream(const Stream& s) {
  std::string out;
  for (const StreamDocument& d : s.documents) {
    out += "doc " + d.path_prefix + " @" + std::to_string(d.start.line) + ":" +
           std::to_string(d.start.column) + "\n";
    DumpNode(*d.value, 1, &out);
  }
  for (const FieldError& e : s.errors) {
    out += "error " + std::to_string(static_cast<int>(e.type)) + " " + e.path + " | " +
           e.value + " | " + e.detail + " @" + std::to_string(e.line) + ":" +
           std::to_string(e.column) + "\n";
  }
  return out;
}

}  // namespace qdirect::spec
