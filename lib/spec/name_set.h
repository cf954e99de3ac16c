#pragma once

// Names seen so far, as views of strings that outlive the set (a VMI's
// own). A scan of a few is cheaper than a tree's allocations; past
// kLinearNames they move to a hash set, so a hostile list stays linear.

#include <algorithm>
#include <string_view>
#include <unordered_set>

#include "absl/container/inlined_vector.h"

namespace qdirect::spec {

class NameSet {
 public:
  // False when `name` was there already.
  bool Insert(std::string_view name) {
    if (Contains(name)) return false;
    if (!hashed_.empty() || small_.size() == kLinearNames) {
      if (hashed_.empty()) hashed_.insert(small_.begin(), small_.end());
      hashed_.insert(name);
    } else {
      small_.push_back(name);
    }
    return true;
  }
  bool Contains(std::string_view name) const {
    if (!hashed_.empty()) return hashed_.count(name) != 0;
    return std::find(small_.begin(), small_.end(), name) != small_.end();
  }

 private:
  static constexpr size_t kLinearNames = 32;
  absl::InlinedVector<std::string_view, 8> small_;
  std::unordered_set<std::string_view> hashed_;
};

}  // namespace qdirect::spec
