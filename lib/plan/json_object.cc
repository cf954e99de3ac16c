#include "plan/json_object.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace qdirect::plan {

using json_internal::kEscaped;
using json_internal::NeedsEscape;

void AppendJsonString(std::string_view s, std::string* out) {
  if (!NeedsEscape(s)) {
    const size_t at = out->size();
    out->resize(at + s.size() + 2);
    char* p = out->data() + at;
    *p++ = '"';
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '"';
    return;
  }
  // Runs of plain characters are copied whole.
  out->push_back('"');
  size_t plain = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!kEscaped[c]) continue;
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\r':
        out->append("\\r");
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char u[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out->append(u, sizeof(u));
      }
    }
  }
  out->append(s.data() + plain, s.size() - plain);
  out->push_back('"');
}

std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonString(s, &out);
  return out;
}

void JsonObject::Grow(size_t size) {
  // A typical -device or -blockdev fits in the first allocation.
  const size_t room = std::max({size, json_.size() * 2, size_t{192}});
  if (json_.empty()) {
    // Constructing costs less than resize's general path (every object
    // comes here once).
    json_ = std::string(room, '\0');
  } else {
    json_.resize(room);
  }
}

// Inlined into Set: one call per member.
[[gnu::always_inline]] inline JsonObject::Member& JsonObject::Append(
    std::string_view key, std::string_view value, bool is_string) {
  const size_t at = size_ == 0 ? 0 : size_ - 1;
  const size_t end = at + key.size() + value.size() + (is_string ? 2 : 0) + 5;
  if (end > json_.size()) Grow(end);
  return AppendInRoom(key, value, is_string);
}

JsonObject::Member& JsonObject::Replace(Member& m, std::string_view value, bool is_string) {
  // In place; the members after it move by the difference.
  std::string encoded;
  if (is_string) {
    AppendJsonString(value, &encoded);
  } else {
    encoded.assign(value);
  }
  json_.resize(size_);
  const uint32_t old_size = m.value_end - m.value_begin;
  json_.replace(m.value_begin, old_size, encoded);
  size_ = static_cast<uint32_t>(json_.size());
  m.value_end = m.value_begin + static_cast<uint32_t>(encoded.size());
  m.is_string = is_string;
  if (is_string && encoded.size() == value.size() + 2) {
    m.str = {m.value_begin + 1, static_cast<uint32_t>(value.size()), false};
  } else if (is_string) {
    m.str = {static_cast<uint32_t>(raw_.size()), static_cast<uint32_t>(value.size()), true};
    raw_.append(value);
  }
  const uint32_t delta = static_cast<uint32_t>(encoded.size()) - old_size;  // mod 2^32
  for (Member* later = &m + 1; later != members_.data() + members_.size(); ++later) {
    if (!later->key.in_raw) later->key.begin += delta;
    if (later->is_string && !later->str.in_raw) later->str.begin += delta;
    later->value_begin += delta;
    later->value_end += delta;
  }
  return m;
}

JsonObject::Member& JsonObject::AppendEscaped(std::string_view key, std::string_view value,
                                              bool is_string) {
  // Escaped texts go in json_; the plain ones are kept in raw_ for KeyAt
  // and GetStr.
  const bool escape_key = NeedsEscape(key);
  const bool escape_value = is_string && NeedsEscape(value);
  std::string key_json = JsonString(key);
  std::string value_json = escape_value ? JsonString(value) : std::string();
  Member& m = Append(std::string_view(key_json).substr(1, key_json.size() - 2),
                     escape_value ? std::string_view(value_json).substr(1, value_json.size() - 2)
                                  : value,
                     is_string);
  if (escape_key) {
    m.key = {static_cast<uint32_t>(raw_.size()), static_cast<uint32_t>(key.size()), true};
    raw_.append(key);
  }
  if (escape_value) {
    m.str = {static_cast<uint32_t>(raw_.size()), static_cast<uint32_t>(value.size()), true};
    raw_.append(value);
  }
  return m;
}

JsonObject::Member& JsonObject::Set(std::string_view key, uint64_t key_bit, bool escape_key,
                                    std::string_view value, bool is_string) {
  // A key whose bit is clear is new: no scan.
  if ((key_bits_ & key_bit) != 0) {
    for (Member& m : members_) {
      if (m.key.size == key.size() && Text(m.key) == key) return Replace(m, value, is_string);
    }
  }
  key_bits_ |= key_bit;
  if (escape_key || (is_string && json_internal::NeedsEscape(value))) [[unlikely]] {
    return AppendEscaped(key, value, is_string);
  }
  return Append(key, value, is_string);
}

JsonObject& JsonObject::Null(std::string_view key) {
  Set(key, KeyBit(key), NeedsEscape(key), "null", false);
  return *this;
}

JsonObject& JsonObject::Object(std::string_view key, const JsonObject& value) {
  Set(key, KeyBit(key), NeedsEscape(key),
      value.size_ == 0 ? std::string_view("{}") : value.Encoded(), false);
  return *this;
}

JsonObject& JsonObject::Array(std::string_view key,
                              const std::vector<JsonObject>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    items[i].RenderTo(&out);
  }
  out += ']';
  Set(key, KeyBit(key), NeedsEscape(key), out, false);
  return *this;
}

bool JsonObject::Has(std::string_view key) const { return Find(key) != nullptr; }

void JsonObject::RenderTo(std::string* out) const {
  if (size_ == 0) {
    out->append("{}");
  } else {
    out->append(Encoded());
  }
}

char* JsonWriter::EscapedKey(std::string_view key, size_t value_size) {
  const std::string encoded = JsonString(key);
  char* p = Open(encoded.size() + 1 + value_size);
  std::memcpy(p, encoded.data(), encoded.size());
  p += encoded.size();
  *p++ = ':';
  return p;
}

JsonWriter& JsonWriter::Escaped(std::string_view key, std::string_view value) {
  return Raw(key, JsonString(value));
}

}  // namespace qdirect::plan
