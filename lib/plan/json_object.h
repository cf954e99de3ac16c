#pragma once

// JsonObject builds one QEMU object (-device/-blockdev/-netdev/-object) as
// compact JSON with members in insertion order, so the rendered argv is
// stable and reads like libvirt's. String values are kept as text and
// escaped once, when rendered; other values are encoded when set.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qdirect::plan {

class JsonObject {
 public:
  JsonObject& Str(std::string_view key, std::string_view value);
  JsonObject& Int(std::string_view key, int64_t value);
  JsonObject& Bool(std::string_view key, bool value);
  JsonObject& Null(std::string_view key);
  JsonObject& Object(std::string_view key, const JsonObject& value);
  // An array of objects.
  JsonObject& Array(std::string_view key, const std::vector<JsonObject>& items);

  // The string value of `key`, or "" when absent or not a string; valid
  // until the object changes.
  std::string_view GetStr(std::string_view key) const;
  bool Has(std::string_view key) const;
  // Member names, in order: KeyAt(0) .. KeyAt(size() - 1).
  size_t size() const { return members_.size(); }
  const std::string& KeyAt(size_t i) const { return members_[i].key; }

  std::string Render() const;
  // Appends the rendering to *out (nested objects render in place).
  void RenderTo(std::string* out) const;

 private:
  struct Member {
    std::string key;
    std::string value;  // strings: the text; others: the value as JSON
    bool is_string = false;
  };
  // The member named key, appended when absent.
  Member& Slot(std::string_view key);
  std::vector<Member> members_;
};

// Encodes s as a JSON string literal (quotes included).
std::string JsonString(std::string_view s);
// Appends JsonString(s) to *out.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace qdirect::plan
