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

// Copies n bytes, a short run (most JSON values and names) with a few
// overlapping word moves instead of a call to memcpy.
[[gnu::always_inline]] inline void CopyBytes(char* dst, const char* src, size_t n) {
  if (n >= 8 && n <= 16) {
    const uint64_t head = LoadWord(src), tail = LoadWord(src + n - 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t head, tail;
    std::memcpy(&head, src, 4);
    std::memcpy(&tail, src + n - 4, 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else if (n > 0 && n < 4) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  } else if (n > 16) {
    std::memcpy(dst, src, n);
  }
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

// Bytes outside printable ASCII: below 0x20, DEL and above. The same
// flags as ByteFlagsBelow(x, 0x20) | ByteFlagsAboveTilde(x), in fewer steps.
[[gnu::always_inline]] constexpr uint64_t ByteFlagsUnprintable(uint64_t x) {
  return ((x - kByteOnes * 0x20) | (x + kByteOnes) | x) & kByteHighs;
}

}  // namespace qdirect
