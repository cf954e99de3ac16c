// Kubernetes resource quantities, parsed as
// k8s.io/apimachinery/pkg/api/resource.ParseQuantity does: an optional sign,
// a decimal number, then one suffix: a binary SI one (Ki..Ei), a decimal SI
// one (n, u, m, "", k, M, G, T, P, E) or a decimal exponent (e3, E-2).
// Value() and MilliValue() round up (towards +infinity), as Kubernetes does
// for positive amounts.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "qdirect/spec.h"

namespace qdirect::spec {
namespace {

// A tiny unsigned big integer (base 2^32, little endian): enough to scale a
// quantity exactly before rounding, whatever its digits and exponent.
class BigUint {
 public:
  void MulAdd(uint32_t mul, uint32_t add) {
    uint64_t carry = add;
    for (uint32_t& limb : limbs_) {
      uint64_t v = static_cast<uint64_t>(limb) * mul + carry;
      limb = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry != 0) limbs_.push_back(static_cast<uint32_t>(carry));
  }
  // Divides in place; returns true when the remainder was not zero.
  bool Div(uint32_t div) {
    uint64_t rem = 0;
    for (size_t i = limbs_.size(); i-- > 0;) {
      uint64_t cur = (rem << 32) | limbs_[i];
      limbs_[i] = static_cast<uint32_t>(cur / div);
      rem = cur % div;
    }
    Trim();
    return rem != 0;
  }
  bool IsZero() const { return limbs_.empty(); }
  size_t Limbs() const { return limbs_.size(); }
  // The value when it fits in 64 bits.
  bool ToU64(uint64_t* out) const {
    if (limbs_.size() > 2) return false;
    uint64_t v = 0;
    if (limbs_.size() > 1) v = static_cast<uint64_t>(limbs_[1]) << 32;
    if (!limbs_.empty()) v |= limbs_[0];
    *out = v;
    return true;
  }
  void Trim() {
    while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
  }

 private:
  // Quantities of real manifests fit in four limbs: no allocation.
  absl::InlinedVector<uint32_t, 4> limbs_;
};

struct Parsed {
  bool negative = false;
  // The digits, views of the text: value = integer fraction (the digits
  // side by side) * 10^exp10 * 1024^binary.
  std::string_view integer;
  std::string_view fraction;
  int64_t exp10 = 0;
  int binary = 0;

  size_t Digits() const { return integer.size() + fraction.size(); }
  template <typename F>
  void ForEachDigit(F f) const {
    for (char c : integer) f(static_cast<uint32_t>(c - '0'));
    for (char c : fraction) f(static_cast<uint32_t>(c - '0'));
  }
};

absl::Status Malformed(std::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat(
      "quantity \"", std::string(text),
      "\": quantities must match the regular expression "
      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The digits at text[*i...], *i moved past them.
std::string_view DigitsAt(std::string_view text, size_t* i) {
  const size_t start = *i;
  while (*i < text.size() && IsDigit(text[*i])) ++*i;
  return text.substr(start, *i - start);
}

// A suffix's scale ("" n u m k M G T P E, Ki .. Ei); false for none of
// them. A switch: a quantity is parsed per resource of every manifest.
bool SuffixScale(std::string_view suffix, int* exp10, int* binary) {
  *exp10 = 0;
  *binary = 0;
  if (suffix.empty()) return true;
  if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'n': *exp10 = -9; return true;
      case 'u': *exp10 = -6; return true;
      case 'm': *exp10 = -3; return true;
      case 'k': *exp10 = 3; return true;
      case 'M': *exp10 = 6; return true;
      case 'G': *exp10 = 9; return true;
      case 'T': *exp10 = 12; return true;
      case 'P': *exp10 = 15; return true;
      case 'E': *exp10 = 18; return true;
      default: return false;
    }
  }
  if (suffix.size() != 2 || suffix[1] != 'i') return false;
  switch (suffix[0]) {
    case 'K': *binary = 1; return true;
    case 'M': *binary = 2; return true;
    case 'G': *binary = 3; return true;
    case 'T': *binary = 4; return true;
    case 'P': *binary = 5; return true;
    case 'E': *binary = 6; return true;
    default: return false;
  }
}

// The parts of text; nullopt when malformed. (std::optional, not
// StatusOr, on this path: the status is built once, by ParseQuantity.)
std::optional<Parsed> Split(std::string_view text) {
  Parsed p;
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    p.negative = text[i] == '-';
    ++i;
  }
  p.integer = DigitsAt(text, &i);
  if (i < text.size() && text[i] == '.') {
    ++i;
    p.fraction = DigitsAt(text, &i);
  }
  if (p.Digits() == 0) return std::nullopt;
  p.exp10 = -static_cast<int64_t>(p.fraction.size());
  std::string_view suffix = text.substr(i);
  int suffix_exp10 = 0;
  if (SuffixScale(suffix, &suffix_exp10, &p.binary)) {
    p.exp10 += suffix_exp10;
    return p;
  }
  // A decimal exponent: e or E, an optional sign, digits.
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t j = 1;
    bool neg = false;
    if (suffix[j] == '+' || suffix[j] == '-') {
      neg = suffix[j] == '-';
      ++j;
    }
    if (j >= suffix.size()) return std::nullopt;
    int64_t e = 0;
    for (; j < suffix.size(); ++j) {
      if (suffix[j] < '0' || suffix[j] > '9') return std::nullopt;
      // Exponents past this bound overflow (or vanish) anyway.
      if (e < 100000) e = e * 10 + (suffix[j] - '0');
    }
    p.exp10 += neg ? -e : e;
    return p;
  }
  return std::nullopt;
}

// Scaled's common case, in 64 bits: the magnitude of p * 10^extra10 and
// whether dividing dropped digits; false when a step would not fit (the
// exact path then decides, overflow errors included).
bool ScaledInWord(const Parsed& p, int extra10, uint64_t* magnitude, bool* inexact) {
  static constexpr std::array<uint64_t, 20> kPow10 = [] {
    std::array<uint64_t, 20> t{};
    t[0] = 1;
    for (size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] * 10;
    return t;
  }();
  if (p.Digits() > 19) return false;  // 19 digits always fit
  uint64_t n = 0;
  p.ForEachDigit([&n](uint32_t d) { n = n * 10 + d; });
  *inexact = false;
  if (n != 0) {
    // One shift and one multiply or divide, not a step per power.
    const int shift = 10 * p.binary;  // at most 60
    if (shift != 0 && (n >> (64 - shift)) != 0) return false;
    n <<= shift;
    const int64_t e = p.exp10 + extra10;
    if (e > 0) {
      if (e > 19 || __builtin_mul_overflow(n, kPow10[e], &n)) return false;
    } else if (e < -19) {
      *inexact = true;  // n < 10^20: every digit goes
      n = 0;
    } else if (e < 0) {
      *inexact = n % kPow10[-e] != 0;
      n /= kPow10[-e];
    }
  }
  *magnitude = n;
  return true;
}

// Scales p by 10^extra10 and rounds towards +infinity into an int64;
// nullopt when it does not fit.
std::optional<int64_t> Scaled(const Parsed& p, int extra10) {
  uint64_t magnitude = 0;
  bool inexact = false;
  if (!ScaledInWord(p, extra10, &magnitude, &inexact)) {
    BigUint n;
    p.ForEachDigit([&n](uint32_t d) {
      n.MulAdd(10, d);
      n.Trim();
    });
    if (n.IsZero()) return 0;
    int64_t e = p.exp10 + extra10;
    for (int i = 0; i < p.binary; ++i) n.MulAdd(1024, 0);
    for (; e > 0; --e) {
      n.MulAdd(10, 0);
      if (n.Limbs() > 3) return std::nullopt;
    }
    for (; e < 0 && !n.IsZero(); ++e) inexact |= n.Div(10);
    if (!n.ToU64(&magnitude)) return std::nullopt;
  }
  if (!p.negative) {
    if (inexact) ++magnitude;
    if (magnitude > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(magnitude);
  }
  // Towards +infinity: a negative amount drops its fraction.
  if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
  return static_cast<int64_t>(0 - magnitude);
}

}  // namespace

absl::StatusOr<Quantity> ParseQuantity(std::string_view text) {
  if (text.empty() || text.size() > 128) return Malformed(text);
  std::optional<Parsed> parsed = Split(text);
  if (!parsed) return Malformed(text);
  std::optional<int64_t> value = Scaled(*parsed, 0);
  std::optional<int64_t> milli = value ? Scaled(*parsed, 3) : std::nullopt;
  if (!milli) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantity \"", std::string(text), "\": overflow: does not fit in a 64-bit integer"));
  }
  return Quantity{std::string(text), *value, *milli};
}

}  // namespace qdirect::spec
