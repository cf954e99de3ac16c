#pragma once

// Plain YAML scalars resolve as Kubernetes' YAML (go-yaml v2, YAML 1.1)
// does: null/~/empty, true/false/yes/no/on/off, integers (decimal, 0x, 0o,
// leading-0 octal, '_' separators), floats. Quoted and block scalars are
// strings. A node that did not resolve to a string keeps its source text
// (Node::plain_text), so a string field can take `name: 1234` as "1234" as
// Kubernetes' typed decoding does. Shared by the fast scanner and the
// libyaml reader, which must build the same trees.

#include <array>
#include <cstdint>
#include <string_view>

#include "spec/node.h"

namespace qdirect::spec {
namespace yaml_plain_internal {

// First bytes no null, bool or number starts with: a plain scalar that
// starts with one is a string whatever follows.
inline constexpr std::array<bool, 256> kStringStart = [] {
  std::array<bool, 256> t{};
  t.fill(true);
  for (char c : std::string_view("~nNtTfFyYoO+-.0123456789")) t[static_cast<unsigned char>(c)] = false;
  return t;
}();

// SetPlainScalar's general path.
void ResolvePlainScalar(Node* n, std::string_view text);

}  // namespace yaml_plain_internal

// The node of plain scalar text at pos: null, bool, number (with its plain
// text) or string.
Node PlainScalar(std::string_view text, SourcePosition pos);
// PlainScalar in place: n is a null (NodeTreeBuilder::AddNull) with its
// position already. Inline for the common words and small counts a
// manifest holds, which need none of the general path's tests.
[[gnu::always_inline]] inline void SetPlainScalar(Node* n, std::string_view text) {
  using B = NodeTreeBuilder;
  if (text.empty()) return;  // a null
  const unsigned char first = static_cast<unsigned char>(text[0]);
  if (yaml_plain_internal::kStringStart[first]) {
    B::SetString(n, text);
    return;
  }
  // The usual spelling of a bool, as four or five bytes in one number.
  if (text.size() == 4 || text.size() == 5) {
    uint64_t word = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      word |= static_cast<uint64_t>(static_cast<unsigned char>(text[i])) << (8 * i);
    }
    if (word == 0x65757274 || word == 0x65736c6166) {  // "true", "false"
      B::SetBool(n, word == 0x65757274);
      B::SetPlainText(n, text);
      return;
    }
  }
  // Decimal digits with no leading zero (which would make it octal), too
  // few to overflow.
  if (text.size() <= 18 && static_cast<unsigned>(first - '1') < 9) {
    int64_t value = 0;
    size_t i = 0;
    for (; i < text.size(); ++i) {
      const unsigned digit = static_cast<unsigned char>(text[i]) - '0';
      if (digit > 9) break;
      value = value * 10 + digit;
    }
    if (i == text.size()) {
      B::SetInt(n, value);
      B::SetPlainText(n, text);
      return;
    }
  }
  yaml_plain_internal::ResolvePlainScalar(n, text);
}

}  // namespace qdirect::spec
