#pragma once

// LazyPath names a spec field for an error that may never be reported:
// the planner passes one with every device it adds, and spelling each
// (an allocation) would cost more than the rest of most devices.

#include <string>
#include <string_view>

namespace qdirect::plan {

class LazyPath {
 public:
  // A path spelled already. Implicit: most callers hold one.
  LazyPath(const std::string& spelled) : head_(spelled) {}  // NOLINT
  // head, separator and tail, spelled on demand: ("spec", ".", "domain").
  LazyPath(std::string_view head, std::string_view separator, std::string_view tail)
      : head_(head), separator_(separator), tail_(tail) {}

  // The views must outlive the LazyPath: pass it down a call, never keep it.
  std::string Spell() const {
    std::string path;
    path.reserve(head_.size() + separator_.size() + tail_.size());
    path.append(head_).append(separator_).append(tail_);
    return path;
  }

 private:
  std::string_view head_;
  std::string_view separator_;
  std::string_view tail_;
};

}  // namespace qdirect::plan
