#include "plan/identity.h"

#include <cstdint>
#include <string>

namespace qdirect::plan {
namespace {

uint64_t Fnv1a64(std::string_view text, uint64_t seed) {
  uint64_t hash = seed;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Names joined with a separator that cannot occur in a Kubernetes name.
std::string Key(std::string_view a, std::string_view b, std::string_view c = {}) {
  std::string key(a);
  key += '/';
  key += b;
  if (!c.empty()) {
    key += '/';
    key += c;
  }
  return key;
}

// Writes the low digits*4 bits of v as lower-case hex at out (no
// formatting library: a plan makes several of these).
void WriteHex(uint64_t v, int digits, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = kDigits[v & 0xf];
    v >>= 4;
  }
}

}  // namespace

std::string DeterministicUuid(std::string_view ns, std::string_view name) {
  std::string key = Key(ns, name);
  uint64_t hi = Fnv1a64(key, 14695981039346656037ull);
  uint64_t lo = Fnv1a64(key, 0x6c62272e07bb0142ull);
  hi = (hi & ~0xf000ull) | 0x5000ull;                       // version 5
  lo = (lo & ~(0xc0ull << 56)) | (0x80ull << 56);           // RFC 4122 variant
  std::string out(36, '-');
  char* p = out.data();
  WriteHex(hi >> 32, 8, p);
  WriteHex((hi >> 16) & 0xffff, 4, p + 9);
  WriteHex(hi & 0xffff, 4, p + 14);
  WriteHex(lo >> 48, 4, p + 19);
  WriteHex(lo & 0xffffffffffffull, 12, p + 24);
  return out;
}

std::string DeterministicMac(std::string_view ns, std::string_view name,
                             std::string_view interface) {
  uint64_t h = Fnv1a64(Key(ns, name, interface), 14695981039346656037ull);
  std::string out = "52:54:00:00:00:00";
  WriteHex((h >> 16) & 0xff, 2, out.data() + 9);
  WriteHex((h >> 8) & 0xff, 2, out.data() + 12);
  WriteHex(h & 0xff, 2, out.data() + 15);
  return out;
}

}  // namespace qdirect::plan
