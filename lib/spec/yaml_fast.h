#pragma once

// A scanner for the block-YAML subset Kubernetes manifests use, building
// the node tree (node.h) straight from the text: the same nodes, positions
// and texts the libyaml reader in stream.cc builds from libyaml's events.
// Anything outside the subset — and anything that reader would report (a
// broken limit, a duplicate key) — makes the whole stream fall back to
// libyaml, which then also owns every error message.

#include <cstdint>
#include <string_view>
#include <vector>

#include "qdirect/spec.h"
#include "spec/node.h"

namespace qdirect::spec {

// A document the scanner read: its root in the tree and where it starts.
struct FastDocument {
  uint32_t root = 0;
  SourcePosition start;
};

// Adds the nodes of text's documents to tree (texts that are not slices of
// text go to tree->owned) and their roots to *docs, and returns true; or
// returns false when text is outside the subset or would be reported (tree
// and docs are then unspecified). Empty documents add no root. The caller
// finishes the tree (NodeTreeBuilder::Finish). Each thread keeps the
// builder's stacks from one call to the next (at most 64 KiB), so a
// manifest's read allocates its tree alone.
bool FastYamlTree(std::string_view text, const DecodeLimits& limits, NodeTree* tree,
                  std::vector<FastDocument>* docs);

}  // namespace qdirect::spec
