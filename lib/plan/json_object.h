#pragma once

// JsonObject builds one QEMU object (-device/-blockdev/-netdev/-object) as
// compact JSON with members in insertion order, so the rendered argv is
// stable and reads like libvirt's. Each member is encoded into one buffer
// as it is set, so rendering is a copy (or a move, from an rvalue) and an
// object costs one allocation however many members it has.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "base/byte_flags.h"
#include "base/key_bit.h"

namespace qdirect::plan {

namespace json_internal {

// The bytes JSON needs escaped: control characters, '"' and '\\'.
inline constexpr std::array<bool, 256> kEscaped = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}();

// Whether any of the eight bytes in x needs escaping (base/byte_flags.h).
[[gnu::always_inline]] constexpr bool WordNeedsEscape(uint64_t x) {
  return (ByteFlagsBelow(x, 0x20) | ByteFlagsEqual(x, '"') | ByteFlagsEqual(x, '\\')) != 0;
}

// Whether s holds a byte JSON needs escaped, a word at a time: the
// members of a plan are names of two to seven bytes ("id", "driver",
// "pcie.0") and long paths, and almost none needs it. Short texts are
// gathered into one word (bytes that need no escape fill the rest), longer
// ones read as words, the last overlapping the one before. Inlined: it
// runs for every key and string value set, and for a literal the compiler
// folds the loads.
[[gnu::always_inline]] inline bool NeedsEscape(std::string_view s) {
  const char* d = s.data();
  const size_t n = s.size();
  if (n < 4) {
    if (n == 0) return false;
    // s[0], s[n / 2] and s[n - 1] cover every byte of one to three.
    const uint64_t x = static_cast<unsigned char>(d[0]) |
                       uint64_t{static_cast<unsigned char>(d[n / 2])} << 8 |
                       uint64_t{static_cast<unsigned char>(d[n - 1])} << 16 |
                       (kByteOnes * 'a' << 24);
    return WordNeedsEscape(x);
  }
  if (n < 8) {
    uint32_t first, last;
    std::memcpy(&first, d, 4);
    std::memcpy(&last, d + n - 4, 4);
    return WordNeedsEscape(first | uint64_t{last} << 32);
  }
  for (size_t i = 0; i + 8 <= n; i += 8) {
    if (WordNeedsEscape(LoadWord(d + i))) return true;
  }
  // The last eight bytes, overlapping words already checked.
  return WordNeedsEscape(LoadWord(d + n - 8));
}

}  // namespace json_internal

class JsonObject {
 public:
  // Room for a typical object from the start: its first member is then
  // appended inline too (an empty JsonObject is rare).
  JsonObject() : json_(192, '\0') {}
  // Str, Int and Bool are inline so that a literal key's checks (its
  // KeyBit, whether it needs escaping) cost nothing at run time.
  // A new key whose key and value need no escaping, with room in the
  // buffer (nearly every member) is appended right here: a literal key is
  // then copied as a constant. Anything else goes through Set.
  [[gnu::always_inline]] JsonObject& Str(std::string_view key, std::string_view value) {
    const uint64_t bit = KeyBit(key);
    if (!json_internal::NeedsEscape(key) && (key_bits_ & bit) == 0 &&
        !json_internal::NeedsEscape(value) && HasRoom(key, value, 7))
        [[likely]] {
      key_bits_ |= bit;
      AppendInRoom(key, value, true);
    } else {
      Set(key, bit, json_internal::NeedsEscape(key), value, true);
    }
    return *this;
  }
  [[gnu::always_inline]] JsonObject& Int(std::string_view key, int64_t value) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    (void)ec;  // 24 bytes always hold an int64
    return Raw(key, std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  [[gnu::always_inline]] JsonObject& Bool(std::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  JsonObject& Null(std::string_view key);
  JsonObject& Object(std::string_view key, const JsonObject& value);
  // An array of objects.
  JsonObject& Array(std::string_view key, const std::vector<JsonObject>& items);

  // The string value of `key`, or "" when absent or not a string; valid
  // until the object changes. Inline, as Find: keys are literals ("driver",
  // "id"), whose bit and compare then fold.
  [[gnu::always_inline]] std::string_view GetStr(std::string_view key) const {
    const Member* m = Find(key);
    return m != nullptr && m->is_string ? Text(m->str) : std::string_view();
  }
  bool Has(std::string_view key) const;
  // Member names, in order: KeyAt(0) .. KeyAt(size() - 1); valid until the
  // object changes.
  size_t size() const { return members_.size(); }
  std::string_view KeyAt(size_t i) const { return Text(members_[i].key); }

  std::string Render() const& {
    return size_ == 0 ? std::string("{}") : std::string(json_.data(), size_);
  }
  // The rendering, taken from an object that is done with.
  std::string Render() && {
    if (size_ == 0) return "{}";
    json_.resize(size_);
    return std::move(json_);
  }
  // Appends the rendering to *out (nested objects render in place).
  void RenderTo(std::string* out) const;

 private:
  // A piece of text: in json_ at [begin, begin + size), or, for a key or
  // string that escaping changed, in raw_.
  struct Span {
    uint32_t begin = 0;
    uint32_t size = 0;
    bool in_raw = false;
  };
  struct Member {
    Span key;
    Span str;  // is_string: the unescaped value
    uint32_t value_begin = 0;  // the encoded value in json_
    uint32_t value_end = 0;
    bool is_string = false;
  };
  std::string_view Text(const Span& s) const {
    return std::string_view((s.in_raw ? raw_.data() : json_.data()) + s.begin, s.size);
  }
  // The encoded object: json_'s first size_ bytes.
  std::string_view Encoded() const { return std::string_view(json_.data(), size_); }
  [[gnu::always_inline]] const Member* Find(std::string_view key) const {
    if ((key_bits_ & KeyBit(key)) == 0) return nullptr;
    for (const Member& member : members_) {
      if (member.key.size == key.size() && Text(member.key) == key) return &member;
    }
    return nullptr;
  }
  // Sets key's value: `value` as it is (a number, nested JSON), or quoted
  // and escaped when is_string. A known key is replaced in place (members
  // keep their order), a new one appended.
  // key_bit and escape_key: KeyBit(key) and NeedsEscape(key).
  Member& Set(std::string_view key, uint64_t key_bit, bool escape_key, std::string_view value,
              bool is_string);
  // Appends a member whose key and value are escaped already (its spans
  // point at them: Set moves those of escaped texts to raw_).
  Member& Append(std::string_view key, std::string_view value, bool is_string);
  // Whether json_ holds a member of `key` and `value` bytes plus `extra`
  // after the object (and key and value are short: bounds the compiler
  // sees, or GCC warns of a huge memcpy).
  [[gnu::always_inline]] bool HasRoom(std::string_view key, std::string_view value,
                                      size_t extra) const {
    return key.size() < 4096 && value.size() < 4096 &&
           size_ + key.size() + value.size() + extra <= json_.size();
  }
  // A non-string value (a number, true/false) under key.
  [[gnu::always_inline]] JsonObject& Raw(std::string_view key, std::string_view json) {
    const uint64_t bit = KeyBit(key);
    if (!json_internal::NeedsEscape(key) && (key_bits_ & bit) == 0 &&
        HasRoom(key, json, 5)) [[likely]] {
      key_bits_ |= bit;
      AppendInRoom(key, json, false);
    } else {
      Set(key, bit, json_internal::NeedsEscape(key), json, false);
    }
    return *this;
  }
  // Appends a member (key and value escaped already) into room json_ has:
  // `,"key":value}` over the closing brace. Its key bit is the caller's.
  [[gnu::always_inline]] Member& AppendInRoom(std::string_view key, std::string_view value,
                                              bool is_string) {
    const size_t at = size_ == 0 ? 0 : size_ - 1;
    char* const base = json_.data();
    char* p = base + at;
    *p++ = at == 0 ? '{' : ',';
    *p++ = '"';
    Member& m = members_.emplace_back();
    m.key = {static_cast<uint32_t>(p - base), static_cast<uint32_t>(key.size()), false};
    std::memcpy(p, key.data(), key.size());
    p += key.size();
    *p++ = '"';
    *p++ = ':';
    m.value_begin = static_cast<uint32_t>(p - base);
    if (is_string) *p++ = '"';
    m.str = {static_cast<uint32_t>(p - base), static_cast<uint32_t>(value.size()), false};
    CopyBytes(p, value.data(), value.size());
    p += value.size();
    if (is_string) *p++ = '"';
    m.value_end = static_cast<uint32_t>(p - base);
    m.is_string = is_string;
    *p++ = '}';
    size_ = static_cast<uint32_t>(p - base);
    return m;
  }

  // KeyBit (base/key_bit.h) of every key: most keys set are new, and their
  // bit is usually clear.
  uint64_t key_bits_ = 0;

  // Makes json_ hold at least `size` bytes (growth is rare: the first
  // member reserves room for a typical object).
  void Grow(size_t size);
  // Replaces the value of member m (set again with a new value).
  Member& Replace(Member& m, std::string_view value, bool is_string);
  // Appends a member whose key or value needs escaping.
  Member& AppendEscaped(std::string_view key, std::string_view value, bool is_string);

  // "{...}" in the first size_ bytes; the rest is room for the next
  // members, so that appending one writes bytes instead of resizing the
  // string. size_ is 0 until the first member.
  std::string json_;
  uint32_t size_ = 0;
  std::string raw_;   // keys and strings that escaping changed (rare)
  absl::InlinedVector<Member, 8> members_;
};

// Encodes s as a JSON string literal (quotes included).
std::string JsonString(std::string_view s);
// Appends JsonString(s) to *out.
void AppendJsonString(std::string_view s, std::string* out);

// Writes a JSON object member after member, for objects that are only
// rendered: no lookup and no replacement (each key is set once), hence no
// member table, which is most of what a JsonObject member costs.
class JsonWriter {
 public:
  // `room`: bytes to make room for, enough for the usual object.
  explicit JsonWriter(size_t room) : json_(room, '\0') {}
  [[gnu::always_inline]] JsonWriter& Str(std::string_view key, std::string_view value) {
    if (json_internal::NeedsEscape(value)) [[unlikely]] {
      return Escaped(key, value);
    }
    char* p = Key(key, value.size() + 2);
    *p++ = '"';
    CopyBytes(p, value.data(), value.size());
    p[value.size()] = '"';
    return *this;
  }
  [[gnu::always_inline]] JsonWriter& Int(std::string_view key, int64_t value) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    (void)ec;  // 24 bytes always hold an int64
    return Raw(key, std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  [[gnu::always_inline]] JsonWriter& Bool(std::string_view key, bool value) {
    return Raw(key, value ? "true" : "false");
  }
  // A member whose value is JSON already (a number, a nested object).
  [[gnu::always_inline]] JsonWriter& Raw(std::string_view key, std::string_view json) {
    CopyBytes(Key(key, json.size()), json.data(), json.size());
    return *this;
  }

  // The object, taken from a writer that is done with.
  std::string Take() && {
    if (size_ == 0) return "{}";
    json_.resize(size_);
    json_.push_back('}');
    return std::move(json_);
  }

 private:
  // Writes `,"key":` (`{` first) with room for a value of value_size bytes
  // after it, where it returns. Keys are literals: their escape check and
  // copy fold at compile time.
  [[gnu::always_inline]] char* Key(std::string_view key, size_t value_size) {
    if (json_internal::NeedsEscape(key)) [[unlikely]] {
      return EscapedKey(key, value_size);
    }
    char* p = Open(key.size() + 3 + value_size);
    *p++ = '"';
    std::memcpy(p, key.data(), key.size());
    p += key.size();
    *p++ = '"';
    *p++ = ':';
    return p;
  }
  char* EscapedKey(std::string_view key, size_t value_size);
  // Makes room for a member of `size` bytes after its `{` or `,`, writes
  // that, counts the member as written and returns where it goes.
  [[gnu::always_inline]] char* Open(size_t size) {
    const size_t end = size_ + 1 + size;
    if (end > json_.size()) json_.resize(std::max(end, 2 * json_.size()));
    char* p = json_.data() + size_;
    *p++ = size_ == 0 ? '{' : ',';
    size_ = end;
    return p;
  }
  JsonWriter& Escaped(std::string_view key, std::string_view value);

  std::string json_;  // the members in the first size_ bytes, then room
  size_t size_ = 0;
};

}  // namespace qdirect::plan
