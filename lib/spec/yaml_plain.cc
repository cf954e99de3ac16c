#include "spec/yaml_plain.h"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace qdirect::spec {
namespace {

using B = NodeTreeBuilder;

// A word of up to seven bytes and its length as one number: the null and
// boolean words compare in a switch, not a string compare each.
constexpr uint64_t PackWord(std::string_view s) {
  uint64_t w = s.size();
  for (size_t i = 0; i < s.size(); ++i) {
    w |= static_cast<uint64_t>(static_cast<unsigned char>(s[i])) << (8 * (i + 1));
  }
  return w;
}

// The null and boolean words (s is five bytes at most): sets *out and
// returns true for one, false for any other word.
bool ResolveWord(std::string_view s, Node* out) {
  switch (PackWord(s)) {
    case PackWord(""):
    case PackWord("~"):
    case PackWord("null"):
    case PackWord("Null"):
    case PackWord("NULL"):
      return true;  // *out is a null already
    case PackWord("true"):
    case PackWord("True"):
    case PackWord("TRUE"):
    case PackWord("y"):
    case PackWord("Y"):
    case PackWord("yes"):
    case PackWord("Yes"):
    case PackWord("YES"):
    case PackWord("on"):
    case PackWord("On"):
    case PackWord("ON"):
      B::SetBool(out, true);
      return true;
    case PackWord("false"):
    case PackWord("False"):
    case PackWord("FALSE"):
    case PackWord("n"):
    case PackWord("N"):
    case PackWord("no"):
    case PackWord("No"):
    case PackWord("NO"):
    case PackWord("off"):
    case PackWord("Off"):
    case PackWord("OFF"):
      B::SetBool(out, false);
      return true;
    default:
      return false;
  }
}

// Integers as go-yaml v2 reads them (strconv.ParseInt with base 0 after
// removing '_').
bool ResolveInt(std::string_view s, Node* out) {
  // Copied only to drop separators, which few numbers have.
  std::string clean;
  std::string_view t = s;
  if (s.find('_') != std::string_view::npos) {
    for (char c : s) {
      if (c != '_') clean.push_back(c);
    }
    t = clean;
  }
  bool negative = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    negative = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty()) return false;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  } else if (t.size() > 2 && t[0] == '0' && (t[1] == 'o' || t[1] == 'O')) {
    base = 8;
    t.remove_prefix(2);
  } else if (t.size() > 2 && t[0] == '0' && (t[1] == 'b' || t[1] == 'B')) {
    base = 2;
    t.remove_prefix(2);
  } else if (t.size() > 1 && t[0] == '0') {
    base = 8;
    t.remove_prefix(1);
  }
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), magnitude, base);
  if (ptr != t.data() + t.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    if (base != 10) return false;
    B::SetDouble(out, std::strtod(std::string(s).c_str(), nullptr));
    return true;
  }
  if (ec != std::errc()) return false;
  if (!negative) {
    B::SetUint(out, magnitude);
  } else if (magnitude <= static_cast<uint64_t>(INT64_MAX) + 1) {
    B::SetInt(out, static_cast<int64_t>(0 - magnitude));
  } else {
    B::SetDouble(out, -static_cast<double>(magnitude));
  }
  return true;
}

bool ResolveFloat(std::string_view s, Node* out) {
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != s.size()) return false;
  double d = std::strtod(std::string(s).c_str(), nullptr);
  if (d - d != 0) return false;  // inf: JSON cannot hold it, keep the text
  B::SetDouble(out, d);
  return true;
}

// Resolves a plain scalar into the null *out; returns false when it is a
// string.
bool ResolvePlain(std::string_view s, Node* out) {
  // The null and boolean words are five characters at most, and start
  // with one of these.
  if (s.size() <= 5 &&
      (s.empty() || std::string_view("~nNtTfFyYoO").find(s[0]) != std::string_view::npos)) {
    if (ResolveWord(s, out)) return true;
  }
  if (s.size() > 64) return false;
  char c = s[0];
  if (!(c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'))) return false;
  return ResolveInt(s, out) || ResolveFloat(s, out);
}

}  // namespace

namespace yaml_plain_internal {

void ResolvePlainScalar(Node* n, std::string_view text) {
  if (!ResolvePlain(text, n)) {
    B::SetString(n, text);
  } else if (!n->IsNull()) {
    B::SetPlainText(n, text);
  }
}

}  // namespace yaml_plain_internal

Node PlainScalar(std::string_view text, SourcePosition pos) {
  Node n = B::Null(pos);
  SetPlainScalar(&n, text);
  return n;
}

}  // namespace qdirect::spec
