#pragma once

// Names seen so far, as views of strings that outlive the set (a VMI's
// own). A scan of a few is cheaper than a tree's allocations; past
// kLinearNames they move to a hash set, so a hostile list stays linear.

#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_set>

namespace qdirect::spec {

class NameSet {
 public:
  // False when `name` was there already.
  bool Insert(std::string_view name) {
    if (hashed_ != nullptr) return hashed_->insert(name).second;
    if (Contains(name)) return false;
    if (size_ == kLinearNames) {
      hashed_ = std::make_unique<std::unordered_set<std::string_view>>();
      for (size_t i = 0; i < size_; ++i) hashed_->insert(small_[i].view());
      hashed_->insert(name);
      return true;
    }
    small_[size_++] = {name.data(), name.size()};
    return true;
  }
  bool Contains(std::string_view name) const {
    if (hashed_ != nullptr) return hashed_->count(name) != 0;
    for (size_t i = 0; i < size_; ++i) {
      if (small_[i].size == name.size() && std::memcmp(small_[i].data, name.data(), name.size()) == 0) {
        return true;
      }
    }
    return false;
  }

 private:
  static constexpr size_t kLinearNames = 32;
  // A string_view without its initializer: small_ is set only up to size_,
  // so a set costs nothing to make (a VMI's validation makes several).
  struct Name {
    const char* data;
    size_t size;
    std::string_view view() const { return {data, size}; }
  };
  Name small_[kLinearNames];
  size_t size_ = 0;
  std::unique_ptr<std::unordered_set<std::string_view>> hashed_;
};

}  // namespace qdirect::spec
