#pragma once

// Reads one JSON object of a manifest field by field, the way a typed
// decoder would: every member it does not ask for is reported as an unknown
// field with its full path, type mismatches are kInvalid findings, and
// fields KubeVirt has but qdirect does not support are kForbidden.

#include <cstdint>
#include <map>
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
  // text that outlives the reader) must outlive it.
  ObjectReader(const ObjectReader& parent, const Node* value,
               std::string_view key);
  // Item `index` of parent's array member `key`.
  ObjectReader(const ObjectReader& parent, const Node* value,
               std::string_view key, size_t index);
  ~ObjectReader();
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  bool present() const { return value_ != nullptr; }
  std::string path() const;
  std::string PathOf(std::string_view key) const;
  Findings* findings() const { return findings_; }

  // The member, marked as read; nullptr when absent or null. Inline: most
  // keys asked for are absent, and a literal key's bit folds to a constant.
  const Node* Field(std::string_view key) {
    if (value_ == nullptr || (present_ & KeyBit(key)) == 0) return nullptr;
    return FindField(key);
  }
  // Where member key starts ({} when absent, or the input was JSON).
  SourcePosition PositionOf(std::string_view key) const;
  // Members accepted and ignored (tolerated Kubernetes fields).
  void Ignore(std::initializer_list<std::string_view> keys);
  // Members KubeVirt knows and qdirect does not support yet.
  void Forbid(std::initializer_list<std::string_view> keys);

  // An array member; nullptr (reported) when it is not an array.
  const Node* Array(std::string_view key);

  // Typed members: each returns true when present and well typed.
  bool String(std::string_view key, std::string* out);
  bool Bool(std::string_view key, bool* out);
  bool Uint32(std::string_view key, uint32_t* out);
  bool Uint32(std::string_view key, std::optional<uint32_t>* out);
  bool Int64(std::string_view key, int64_t* out);
  bool Quantity(std::string_view key, spec::Quantity* out);
  bool StringMap(std::string_view key, std::map<std::string, std::string>* out);

 private:
  static constexpr size_t kNoIndex = SIZE_MAX;
  // Reports member, never read, as an unknown field.
  void Unknown(const Node& member);
  // Field past the presence filter: the scan.
  const Node* FindField(std::string_view key);
  // Takes value, reporting one that is not an object.
  void Init(const Node* value);
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
  // typical object), any further ones in used_more_.
  bool Used(size_t i) const {
    return i < 64 ? (used_ >> i) & 1 : static_cast<bool>(used_more_[i - 64]);
  }
  void MarkUsed(size_t i) {
    if (i < 64) {
      used_ |= uint64_t{1} << i;
    } else {
      used_more_[i - 64] = true;
    }
  }
  uint64_t used_ = 0;
  std::vector<bool> used_more_;
  // KeyBit (base/key_bit.h) of every member's name: Field answers most
  // absent keys without a scan.
  uint64_t present_ = 0;
};

// Joins a path and an index: "spec.volumes" + 2 -> "spec.volumes[2]".
std::string IndexPath(const std::string& path, size_t index);

}  // namespace qdirect::spec
