#include "plan/json_object.h"

#include <array>
#include <charconv>

namespace qdirect::plan {

namespace {

// The bytes JSON needs escaped: control characters, '"' and '\\'.
constexpr std::array<bool, 256> kEscaped = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}();

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  // Hand-rolled: this runs for every member of every object of every plan.
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

JsonObject::Member& JsonObject::Slot(std::string_view key) {
  for (Member& member : members_) {
    if (member.key == key) return member;
  }
  if (members_.empty()) members_.reserve(8);
  Member& member = members_.emplace_back();
  member.key.assign(key);
  return member;
}

JsonObject& JsonObject::Str(std::string_view key, std::string_view value) {
  Member& m = Slot(key);
  m.value.assign(value);
  m.is_string = true;
  return *this;
}

JsonObject& JsonObject::Int(std::string_view key, int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  (void)ec;  // 24 bytes always hold an int64
  Member& m = Slot(key);
  m.value.assign(buf, end);
  m.is_string = false;
  return *this;
}

JsonObject& JsonObject::Bool(std::string_view key, bool value) {
  Member& m = Slot(key);
  m.value.assign(value ? "true" : "false");
  m.is_string = false;
  return *this;
}

JsonObject& JsonObject::Null(std::string_view key) {
  Member& m = Slot(key);
  m.value.assign("null");
  m.is_string = false;
  return *this;
}

JsonObject& JsonObject::Object(std::string_view key, const JsonObject& value) {
  std::string encoded;
  value.RenderTo(&encoded);
  Member& m = Slot(key);
  m.value = std::move(encoded);
  m.is_string = false;
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
  Member& m = Slot(key);
  m.value = std::move(out);
  m.is_string = false;
  return *this;
}

bool JsonObject::Has(std::string_view key) const {
  for (const Member& member : members_) {
    if (member.key == key) return true;
  }
  return false;
}

std::string_view JsonObject::GetStr(std::string_view key) const {
  for (const Member& member : members_) {
    if (member.key == key && member.is_string) return member.value;
  }
  return "";
}

void JsonObject::RenderTo(std::string* out) const {
  size_t size = out->size() + 2;
  for (const Member& m : members_) size += m.key.size() + m.value.size() + 6;
  out->reserve(size);
  out->push_back('{');
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& m = members_[i];
    if (i != 0) out->push_back(',');
    AppendJsonString(m.key, out);
    out->push_back(':');
    if (m.is_string) {
      AppendJsonString(m.value, out);
    } else {
      out->append(m.value);
    }
  }
  out->push_back('}');
}

std::string JsonObject::Render() const {
  std::string out;
  RenderTo(&out);
  return out;
}

}  // namespace qdirect::plan
