#pragma once

// A scanner for the block-YAML subset Kubernetes manifests use, producing
// the same events libyaml would (types, start positions, scalar texts), so
// that stream.cc builds identical documents from either. Anything outside
// the subset makes the whole stream fall back to libyaml, which then also
// owns every error message.

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "qdirect/spec.h"

namespace qdirect::spec {

// The subset of a libyaml event that stream.cc reads.
struct YamlEvent {
  enum class Type {
    kDocumentStart,
    kDocumentEnd,
    kScalar,
    kSequenceStart,
    kSequenceEnd,
    kMappingStart,
    kMappingEnd
  };
  Type type = Type::kScalar;
  uint32_t line = 0;  // 1-based start
  uint32_t column = 0;
  std::string_view text;  // scalars
  bool plain = false;     // plain scalar style
};

struct YamlEvents {
  std::vector<YamlEvent> events;
  std::deque<std::string> owned;  // texts that are not slices of the input
};

// Fills out with the events of text and returns true, or returns false when
// text is outside the subset (out is then unspecified).
bool FastYamlEvents(std::string_view text, const DecodeLimits& limits, YamlEvents* out);

}  // namespace qdirect::spec
