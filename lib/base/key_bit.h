#pragma once

// One bit of a 64-bit set per name, chosen by its length and first
// character. An object that ORs together the bits of its member names
// answers most "is this key absent?" questions without scanning them
// (plan::JsonObject, spec::ObjectReader).

#include <cstdint>
#include <string_view>

namespace qdirect {

[[gnu::always_inline]] inline uint64_t KeyBit(std::string_view key) {
  const unsigned first = key.empty() ? 0 : static_cast<unsigned char>(key[0]);
  return uint64_t{1} << ((key.size() * 7 + first) & 63);
}

}  // namespace qdirect
