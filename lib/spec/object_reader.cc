#include "spec/object_reader.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace qdirect::spec {

void Findings::Place(FieldError* e) const {
  if (doc_ == nullptr || e->line != 0) return;
  SourcePosition p = FindPosition(*doc_, e->path);
  e->line = p.line;
  e->column = p.column;
}

void Findings::PlaceAt(FieldError* e, SourcePosition pos) {
  e->line = pos.line;
  e->column = pos.column;
}

void Findings::Error(FieldError e) {
  Place(&e);
  errors.push_back(std::move(e));
}

void Findings::Warn(FieldError e) {
  if (drop_warnings_) return;
  Place(&e);
  std::vector<FieldError>& to = strict_ ? errors : warnings;
  // A document with one warning usually has a few (a misplaced field per
  // disk): room for them at once instead of growing 1, 2, 4.
  if (to.capacity() == 0) to.reserve(8);
  to.push_back(std::move(e));
}

void Findings::Invalid(std::string path, std::string value, std::string detail,
                       const Node* at) {
  FieldError e;
  if (at != nullptr) PlaceAt(&e, at->position());
  e.type = FieldError::Type::kInvalid;
  e.path = std::move(path);
  e.value = std::move(value);
  e.detail = std::move(detail);
  Error(std::move(e));
}

void Findings::Forbidden(std::string path, std::string detail, const Node* at) {
  FieldError e;
  if (at != nullptr) PlaceAt(&e, at->position());
  e.type = FieldError::Type::kForbidden;
  e.path = std::move(path);
  e.detail = std::move(detail);
  Error(std::move(e));
}

std::string IndexPath(const std::string& path, size_t index) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), index);
  (void)ec;  // 24 digits hold any size_t
  std::string out;
  out.reserve(path.size() + 2 + static_cast<size_t>(end - digits));
  out.append(path).push_back('[');
  out.append(digits, end).push_back(']');
  return out;
}

ObjectReader::ObjectReader(Findings* findings, const Node* value, std::string_view path)
    : findings_(findings), key_(path) {
  Init(value);
}

// Init's rare paths are functions of their own: Init, run for every
// object, then saves no registers and keeps present_ in one.
void ObjectReader::Init(const Node* value) {
  if (value == nullptr || value->IsNull()) return;
  if (!value->IsObject()) return NotObject(*value);
  value_ = value;
  if (value->Size() > 64) TrackWide();
  uint64_t present = 0;
  for (const Node& m : *value) present |= KeyBit(m.key());
  present_ = present;
}

void ObjectReader::NotObject(const Node& value) {
  findings_->Invalid(path(), Describe(value),
                     absl::StrCat("must be an object, not ", JsonTypeName(value)), &value);
}

void ObjectReader::TrackWide() {
  used_more_ = std::make_unique<uint64_t[]>((value_->Size() - 1) / 64);
}

namespace {

size_t Digits(size_t n) {
  size_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

}  // namespace

size_t ObjectReader::PathSize() const {
  if (parent_ == nullptr) return key_.size();
  const size_t parent = parent_->PathSize();
  size_t n = parent + (parent != 0 ? 1 : 0) + key_.size();
  if (index_ != kNoIndex) n += 2 + Digits(index_);
  return n;
}

void ObjectReader::WritePath(char* out, size_t size) const {
  if (parent_ == nullptr) {
    std::memcpy(out, key_.data(), size);
    return;
  }
  // Backwards from the end: "[index]", the key, "." unless the parent's
  // path is empty, then the parent's.
  char* end = out + size;
  if (index_ != kNoIndex) {
    *--end = ']';
    size_t n = index_;
    do {
      *--end = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    *--end = '[';
  }
  end -= key_.size();
  std::memcpy(end, key_.data(), key_.size());
  size_t rest = static_cast<size_t>(end - out);
  if (rest != 0) --rest;  // the '.'
  if (rest != 0) out[rest] = '.';
  parent_->WritePath(out, rest);
}

std::string ObjectReader::path() const {
  std::string out(PathSize(), '\0');
  WritePath(out.data(), out.size());
  return out;
}

void ObjectReader::ReportUnread() {
  ForEachUnread([this](const Node& member) { Unknown(member); });
}

void ObjectReader::Unknown(const Node& member) {
  FieldError e;
  e.type = FieldError::Type::kUnknown;
  e.path = PathOf(member.key());
  Findings::PlaceAt(&e, member.position());
  findings_->Warn(std::move(e));
}

std::string ObjectReader::PathOf(std::string_view key) const {
  // Sized once: a path is spelled for findings only, but then in full.
  const size_t size = PathSize();
  std::string out(size + (size != 0 ? 1 : 0) + key.size(), '\0');
  WritePath(out.data(), size);
  if (size != 0) out[size] = '.';
  std::memcpy(out.data() + out.size() - key.size(), key.data(), key.size());
  return out;
}

namespace {

// The sizeof(T) bytes at p, as an unsigned integer.
template <typename T>
T Load(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

// Whether the n bytes at a and b are equal: field names are short, and
// inline word compares beat a call to memcmp. The last compare of each
// size overlaps the one before it instead of going byte by byte.
bool SameBytes(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (Load<uint64_t>(a + i) != Load<uint64_t>(b + i)) return false;
    }
    return Load<uint64_t>(a + n - 8) == Load<uint64_t>(b + n - 8);
  }
  if (n >= 4) {
    return Load<uint32_t>(a) == Load<uint32_t>(b) &&
           Load<uint32_t>(a + n - 4) == Load<uint32_t>(b + n - 4);
  }
  if (n >= 2) {
    return Load<uint16_t>(a) == Load<uint16_t>(b) &&
           Load<uint16_t>(a + n - 2) == Load<uint16_t>(b + n - 2);
  }
  return n == 0 || *a == *b;
}

}  // namespace

const Node* ObjectReader::FindField(std::string_view key) {
  // Lengths and first characters rule out most members before the bytes
  // are compared (keys are unique, see stream.cc).
  const Node* begin = value_->begin();
  const Node* end = value_->end();
  for (const Node* it = begin; it != end; ++it) {
    std::string_view name = it->key();
    if (name.size() != key.size()) continue;
    if (!key.empty() && (name[0] != key[0] || !SameBytes(name.data(), key.data(), key.size()))) {
      continue;
    }
    MarkUsed(static_cast<size_t>(it - begin));
    if (it->IsNull()) return nullptr;
    return it;
  }
  return nullptr;
}

SourcePosition ObjectReader::PositionOf(std::string_view key) const {
  if (value_ == nullptr) return {};
  const Node* m = value_->FindMember(key);
  return m == nullptr ? SourcePosition{} : m->position();
}

namespace {

bool OneOf(std::string_view name, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    if (name == k) return true;
  }
  return false;
}

}  // namespace

// By the members left unread, usually few, rather than by keys.
void ObjectReader::IgnorePresent(std::initializer_list<std::string_view> keys) {
  ForEachUnread([&](const Node& member) {
    // The first member of that name, as Field reads it: a repeated JSON
    // key stays unread, and unknown.
    if (OneOf(member.key(), keys)) FindField(member.key());
  });
}

void ObjectReader::ForbidPresent(std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    if (const Node* v = Field(k)) findings_->Forbidden(PathOf(k), "not supported by qdirect yet", v);
  }
}

const Node* ObjectReader::NotArray(std::string_view key, const Node& v) {
  findings_->Invalid(PathOf(key), Describe(v),
                     absl::StrCat("must be an array, not ", JsonTypeName(v)), &v);
  return nullptr;
}

namespace {

// *out = text: clear and append, which skip assign's checks for text
// inside *out (never so here, where text views the source).
void SetText(std::string* out, std::string_view text) {
  out->clear();
  out->append(text.data(), text.size());
}

}  // namespace

bool ObjectReader::ReadString(std::string_view key, const Node& v, std::string* out) {
  if (v.IsString()) {
    SetText(out, v.GetString());
    return true;
  }
  // `name: 1234` in YAML: Kubernetes' typed decoding keeps the text.
  if (std::optional<std::string_view> text = v.plain_text()) {
    SetText(out, *text);
    return true;
  }
  findings_->Invalid(PathOf(key), Describe(v),
                     absl::StrCat("must be a string, not ", JsonTypeName(v)), &v);
  return false;
}

bool ObjectReader::NotBool(std::string_view key, const Node& v) {
  findings_->Invalid(PathOf(key), Describe(v),
                     absl::StrCat("must be a boolean, not ", JsonTypeName(v)), &v);
  return false;
}

namespace {

// An integral JSON number (1, or 1.0 as JSON writers sometimes emit).
bool AsInt64(const Node& v, int64_t* out) {
  if (v.IsInt64()) {
    *out = v.GetInt64();
    return true;
  }
  if (v.IsDouble()) {
    double d = v.GetDouble();
    if (std::isfinite(d) && d == std::floor(d) && d >= -9.2e18 && d <= 9.2e18) {
      *out = static_cast<int64_t>(d);
      return true;
    }
  }
  return false;
}

}  // namespace

bool ObjectReader::ReadInt64(std::string_view key, const Node& v, int64_t* out) {
  if (!AsInt64(v, out)) {
    findings_->Invalid(PathOf(key), Describe(v), "must be an integer", &v);
    return false;
  }
  return true;
}

bool ObjectReader::ReadUint32(std::string_view key, const Node& v, uint32_t* out) {
  int64_t i = 0;
  if (!AsInt64(v, &i) || i < 0 || i > UINT32_MAX) {
    findings_->Invalid(PathOf(key), Describe(v),
                       "must be an integer between 0 and 4294967295", &v);
    return false;
  }
  *out = static_cast<uint32_t>(i);
  return true;
}

bool ObjectReader::ReadQuantity(std::string_view key, const Node& v, spec::Quantity* out) {
  std::string number;  // a JSON number's text, spelled by Describe
  std::string_view text;
  if (v.IsString()) {
    text = v.GetString();
  } else if (std::optional<std::string_view> plain = v.plain_text()) {
    text = *plain;
  } else if (v.IsNumber()) {
    number = Describe(v);
    text = number;
  } else {
    findings_->Invalid(PathOf(key), Describe(v),
                       absl::StrCat("must be a quantity, not ", JsonTypeName(v)), &v);
    return false;
  }
  absl::StatusOr<spec::Quantity> q = ParseQuantity(text);
  if (!q.ok()) {
    std::string detail(q.status().message());
    // The message starts with the quoted text, already in the value.
    if (size_t colon = detail.find("\": "); colon != std::string::npos) {
      detail = detail.substr(colon + 3);
    }
    findings_->Invalid(PathOf(key), std::string(text), detail, &v);
    return false;
  }
  *out = std::move(*q);
  return true;
}

bool ObjectReader::ReadStringMap(std::string_view key, const Node& v,
                                 std::map<std::string, std::string>* out) {
  if (!v.IsObject()) {
    findings_->Invalid(PathOf(key), Describe(v),
                       absl::StrCat("must be an object, not ", JsonTypeName(v)), &v);
    return false;
  }
  for (const Node& m : v) {
    std::string name(m.key());
    if (m.IsString()) {
      (*out)[name].assign(m.GetString());
    } else if (std::optional<std::string_view> plain = m.plain_text()) {
      (*out)[name].assign(*plain);
    } else {
      findings_->Invalid(absl::StrCat(PathOf(key), ".", name), Describe(m),
                         absl::StrCat("must be a string, not ", JsonTypeName(m)), &m);
    }
  }
  return true;
}

}  // namespace qdirect::spec
