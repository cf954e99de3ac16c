#pragma once

// Reads one JSON object of a manifest field by field, the way a typed
// decoder would: every member it does not ask for is reported as an unknown
// field with its full path, type mismatches are kInvalid findings, and
// fields KubeVirt has but qdirect does not support are kForbidden.

#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/key_bit.h"
#include "qdirect/spec.h"
#include "spec/stream.h"

namespace qdirect::spec {

// The findings of one document.
class Findings {
 public:
  // Whether warnings are wanted: LoadVmi returns none, so it has them
  // dropped unspelled (strict mode still reports them, as errors).
  enum class Warnings { kKept, kDropped };

  Findings(const StreamDocument* doc, bool strict, Warnings warnings = Warnings::kKept)
      : doc_(doc), strict_(strict), drop_warnings_(!strict && warnings == Warnings::kDropped) {}

  void Error(FieldError e);
  // Unknown and misplaced fields: errors when strict.
  void Warn(FieldError e);
  // False when Warn would drop what it is given: a warning costs its
  // paths and text, so callers ask before they spell one.
  bool reports_warnings() const { return !drop_warnings_; }
  // `at` (may be null) is the node the finding is about: its position
  // saves a search by path.
  void Invalid(std::string path, std::string value, std::string detail,
               const Node* at = nullptr);
  void Forbidden(std::string path, std::string detail, const Node* at = nullptr);

  // Sets e's line and column to pos, for findings reported under another
  // path than where the YAML holds the value.
  static void PlaceAt(FieldError* e, SourcePosition pos);

  std::vector<FieldError> errors;
  std::vector<FieldError> warnings;

 private:
  void Place(FieldError* e) const;
  const StreamDocument* doc_;
  bool strict_;
  bool drop_warnings_;
};

class ObjectReader {
 public:
  // value may be null (the field is absent). A value that is not an object
  // is reported and read as absent. path (a literal, or text that outlives
  // the reader) is the object's own ("" for a document).
  ObjectReader(Findings* findings, const Node* value, std::string_view path);
  // Member `key` of parent (read with parent.Field). A reader's path is
  // spelled only when a finding needs it: parent and key (a literal, or
  // text that outlives the reader) must outlive it. Inline, as is the
  // destructor: a decode makes dozens of readers, most of small objects.
  ObjectReader(const ObjectReader& parent, const Node* value, std::string_view key)
      : findings_(parent.findings_), parent_(&parent), key_(key) {
    if (value != nullptr) Init(value);
  }
  // Item `index` of parent's array member `key`.
  ObjectReader(const ObjectReader& parent, const Node* value, std::string_view key,
               size_t index)
      : findings_(parent.findings_), parent_(&parent), key_(key), index_(index) {
    if (value != nullptr) Init(value);
  }
  // Reports the members never read as unknown fields.
  ~ObjectReader() {
    if (value_ != nullptr && findings_->reports_warnings()) ReportUnread();
  }
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool present() const { return value_ != nullptr; }
  std::string path() const;
  std::string PathOf(std::string_view key) const;
  Findings* findings() const { return findings_; }

  // The member, marked as read; nullptr when absent or null. Inline: most
  // keys asked for are absent, and a literal key's bit folds to a constant.
  [[gnu::always_inline]] const Node* Field(std::string_view key) {
    if (value_ == nullptr || (present_ & KeyBit(key)) == 0) return nullptr;
    return FindField(key);
  }
  // Where member key starts ({} when absent, or the input was JSON).
  SourcePosition PositionOf(std::string_view key) const;
  // Members accepted and ignored (tolerated Kubernetes fields). Ignore and
  // Forbid take literal keys, whose bits fold to one mask: inline, most
  // objects have none of them for one check.
  template <typename... Keys>
  [[gnu::always_inline]] void Ignore(const Keys&... keys) {
    if (value_ != nullptr && (present_ & (KeyBit(keys) | ...)) != 0) IgnorePresent({keys...});
  }
  // Members KubeVirt knows and qdirect does not support yet.
  template <typename... Keys>
  [[gnu::always_inline]] void Forbid(const Keys&... keys) {
    if (value_ != nullptr && (present_ & (KeyBit(keys) | ...)) != 0) ForbidPresent({keys...});
  }

  // An array member; nullptr (reported) when it is not an array.
  [[gnu::always_inline]] const Node* Array(std::string_view key) {
    const Node* v = Field(key);
    return v == nullptr || v->IsArray() ? v : NotArray(key, *v);
  }

  // Typed members: each returns true when present and well typed. Inline
  // up to the presence check, as Field is; the value is read out of line.
  [[gnu::always_inline]] bool String(std::string_view key, std::string* out) {
    const Node* v = Field(key);
    return v != nullptr && ReadString(key, *v, out);
  }
  [[gnu::always_inline]] bool Bool(std::string_view key, bool* out) {
    const Node* v = Field(key);
    if (v == nullptr) return false;
    if (!v->IsBool()) return NotBool(key, *v);
    *out = v->GetBool();
    return true;
  }
  [[gnu::always_inline]] bool Uint32(std::string_view key, uint32_t* out) {
    const Node* v = Field(key);
    return v != nullptr && ReadUint32(key, *v, out);
  }
  [[gnu::always_inline]] bool Uint32(std::string_view key, std::optional<uint32_t>* out) {
    uint32_t v = 0;
    if (!Uint32(key, &v)) return false;
    *out = v;
    return true;
  }
  [[gnu::always_inline]] bool Int64(std::string_view key, int64_t* out) {
    const Node* v = Field(key);
    return v != nullptr && ReadInt64(key, *v, out);
  }
  [[gnu::always_inline]] bool Quantity(std::string_view key, spec::Quantity* out) {
    const Node* v = Field(key);
    return v != nullptr && ReadQuantity(key, *v, out);
  }
  [[gnu::always_inline]] bool StringMap(std::string_view key,
                                        std::map<std::string, std::string>* out) {
    const Node* v = Field(key);
    return v != nullptr && ReadStringMap(key, *v, out);
  }

 private:
  static constexpr size_t kNoIndex = SIZE_MAX;
  // Reports member, never read, as an unknown field.
  void Unknown(const Node& member);
  // Unknown for each member never read.
  void ReportUnread();
  // Ignore and Forbid past the presence check.
  void IgnorePresent(std::initializer_list<std::string_view> keys);
  void ForbidPresent(std::initializer_list<std::string_view> keys);
  // Field past the presence filter: the scan.
  const Node* FindField(std::string_view key);
  // The typed readers past Field: v is member key's value.
  bool ReadString(std::string_view key, const Node& v, std::string* out);
  bool ReadUint32(std::string_view key, const Node& v, uint32_t* out);
  bool ReadInt64(std::string_view key, const Node& v, int64_t* out);
  bool ReadQuantity(std::string_view key, const Node& v, spec::Quantity* out);
  bool ReadStringMap(std::string_view key, const Node& v,
                     std::map<std::string, std::string>* out);
  // Report member key's value v as of the wrong type; false and null.
  bool NotBool(std::string_view key, const Node& v);
  const Node* NotArray(std::string_view key, const Node& v);
  // Takes value, reporting one that is not an object.
  void Init(const Node* value);
  [[gnu::noinline]] void NotObject(const Node& value);
  // Makes used_more_ for value_'s members past 64.
  [[gnu::noinline]] void TrackWide();
  // The path's length, and the path written into [out, out + size): one
  // buffer sized once, however deep the reader is.
  size_t PathSize() const;
  void WritePath(char* out, size_t size) const;

  Findings* findings_;
  const Node* value_ = nullptr;
  // The path: parent_'s member key_ (item index_ of it), or with no
  // parent, key_ itself.
  const ObjectReader* parent_ = nullptr;
  std::string_view key_;
  size_t index_ = kNoIndex;
  // Which members were read: the first 64 in a word (no allocation for a
  // typical object), any further ones in used_more_'s words.
  bool Used(size_t i) const {
    if (i < 64) return (used_ >> i) & 1;
    return (used_more_[(i - 64) / 64] >> ((i - 64) % 64)) & 1;
  }
  // Calls f on each member not read so far (read ones are most, and are
  // skipped a word at a time). f may mark members read.
  template <typename F>
  void ForEachUnread(F f) const {
    const size_t size = value_->Size();
    uint64_t unread = ~used_;
    if (size < 64) unread &= (uint64_t{1} << size) - 1;
    for (; unread != 0; unread &= unread - 1) {
      f((*value_)[static_cast<size_t>(std::countr_zero(unread))]);
    }
    for (size_t i = 64; i < size; ++i) {
      if (!Used(i)) f((*value_)[i]);
    }
  }
  void MarkUsed(size_t i) {
    if (i < 64) {
      used_ |= uint64_t{1} << i;
    } else {
      used_more_[(i - 64) / 64] |= uint64_t{1} << ((i - 64) % 64);
    }
  }
  uint64_t used_ = 0;
  // A pointer, not a vector: one word to set up and tear down per reader.
  std::unique_ptr<uint64_t[]> used_more_;
  // KeyBit (base/key_bit.h) of every member's name: Field answers most
  // absent keys without a scan.
  uint64_t present_ = 0;
};

// Joins a path and an index: "spec.volumes" + 2 -> "spec.volumes[2]".
std::string IndexPath(const std::string& path, size_t index);

}  // namespace qdirect::spec
