#include "plan/identity.h"

#include <cstdint>

#include "absl/strings/str_format.h"

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

}  // namespace

std::string DeterministicUuid(std::string_view ns, std::string_view name) {
  std::string key = Key(ns, name);
  uint64_t hi = Fnv1a64(key, 14695981039346656037ull);
  uint64_t lo = Fnv1a64(key, 0x6c62272e07bb0142ull);
  hi = (hi & ~0xf000ull) | 0x5000ull;                       // version 5
  lo = (lo & ~(0xc0ull << 56)) | (0x80ull << 56);           // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32,
                         (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                         lo & 0xffffffffffffull);
}

std::string DeterministicMac(std::string_view ns, std::string_view name,
                             std::string_view interface) {
  uint64_t h = Fnv1a64(Key(ns, name, interface), 14695981039346656037ull);
  return absl::StrFormat("52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff,
                         (h >> 8) & 0xff, h & 0xff);
}

}  // namespace qdirect::plan
