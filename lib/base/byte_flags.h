#pragma once

// Tests on eight bytes of text at once: a word read from the text (lowest
// address in the low byte) in, a word out with the high bit set in each
// byte that matches. Borrows and carries only run upward from a byte that
// matches itself, so whether any byte matches is exact, and so is the
// lowest flag: countr_zero(flags) / 8 is the first match. Flags above it
// may be false: use only those two answers. (YAML scanning, JSON escaping.)

#include <bit>
#include <cstdint>
#include <cstring>

namespace qdirect {

static_assert(std::endian::native == std::endian::little);

inline constexpr uint64_t kByteOnes = 0x0101010101010101u;
inline constexpr uint64_t kByteHighs = 0x8080808080808080u;

// The eight bytes at p.
[[gnu::always_inline]] inline uint64_t LoadWord(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  return x;
}

// Bytes below c (c at most 0x80).
[[gnu::always_inline]] constexpr uint64_t ByteFlagsBelow(uint64_t x, uint8_t c) {
  return (x - kByteOnes * c) & ~x & kByteHighs;
}

// Bytes equal to c.
[[gnu::always_inline]] constexpr uint64_t ByteFlagsEqual(uint64_t x, char c) {
  const uint64_t y = x ^ (kByteOnes * static_cast<uint8_t>(c));
  return (y - kByteOnes) & ~y & kByteHighs;
}

// Bytes above 0x7e: DEL and everything outside ASCII.
[[gnu::always_inline]] constexpr uint64_t ByteFlagsAboveTilde(uint64_t x) {
  return ((x + kByteOnes) | x) & kByteHighs;
}

}  // namespace qdirect
