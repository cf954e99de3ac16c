#include "plan/json_object.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qdirect::plan {

std::string JsonString(std::string_view s) {
  // Hand-rolled: this runs for every member of every object of every plan.
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out,
                          absl::StrFormat("\\u%04x", static_cast<int>(c)));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

JsonObject& JsonObject::Set(std::string_view key, std::string encoded,
                            std::string_view text, bool is_string) {
  for (Member& member : members_) {
    if (member.key == key) {
      member.encoded = std::move(encoded);
      member.text = std::string(text);
      member.is_string = is_string;
      return *this;
    }
  }
  members_.push_back(
      {std::string(key), std::move(encoded), std::string(text), is_string});
  return *this;
}

JsonObject& JsonObject::Str(std::string_view key, std::string_view value) {
  return Set(key, JsonString(value), value, true);
}

JsonObject& JsonObject::Int(std::string_view key, int64_t value) {
  return Set(key, absl::StrCat(value));
}

JsonObject& JsonObject::Bool(std::string_view key, bool value) {
  return Set(key, value ? "true" : "false");
}

JsonObject& JsonObject::Null(std::string_view key) { return Set(key, "null"); }

JsonObject& JsonObject::Object(std::string_view key, const JsonObject& value) {
  return Set(key, value.Render());
}

JsonObject& JsonObject::Array(std::string_view key,
                              const std::vector<JsonObject>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ",";
    out += items[i].Render();
  }
  out += "]";
  return Set(key, std::move(out));
}

bool JsonObject::Has(std::string_view key) const {
  for (const Member& member : members_) {
    if (member.key == key) return true;
  }
  return false;
}

std::string JsonObject::GetStr(std::string_view key) const {
  for (const Member& member : members_) {
    if (member.key == key && member.is_string) return member.text;
  }
  return "";
}

std::vector<std::string> JsonObject::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(members_.size());
  for (const Member& member : members_) keys.push_back(member.key);
  return keys;
}

std::string JsonObject::Render() const {
  std::string out = "{";
  for (size_t i = 0; i < members_.size(); ++i) {
    if (i != 0) out += ",";
    absl::StrAppend(&out, JsonString(members_[i].key), ":",
                    members_[i].encoded);
  }
  out += "}";
  return out;
}

}  // namespace qdirect::plan
