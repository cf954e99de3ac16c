#pragma once

// Plain YAML scalars resolve as Kubernetes' YAML (go-yaml v2, YAML 1.1)
// does: null/~/empty, true/false/yes/no/on/off, integers (decimal, 0x, 0o,
// leading-0 octal, '_' separators), floats. Quoted and block scalars are
// strings. A node that did not resolve to a string keeps its source text
// (Node::plain_text), so a string field can take `name: 1234` as "1234" as
// Kubernetes' typed decoding does. Shared by the fast scanner and the
// libyaml reader, which must build the same trees.

#include <string_view>

#include "spec/node.h"

namespace qdirect::spec {

// The node of plain scalar text at pos: null, bool, number (with its plain
// text) or string.
Node PlainScalar(std::string_view text, SourcePosition pos);
// PlainScalar in place: n is a null (NodeTreeBuilder::AddNull) with its
// position already.
void SetPlainScalar(Node* n, std::string_view text);

}  // namespace qdirect::spec
