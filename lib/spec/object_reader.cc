#include "spec/object_reader.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::spec {

void Findings::Place(FieldError* e) const {
  if (doc_ == nullptr || e->line != 0) return;
  SourcePosition p = FindPosition(*doc_, e->path);
  e->line = p.line;
  e->column = p.column;
}

void Findings::PlaceAt(FieldError* e, const std::string& source_path) const {
  if (doc_ == nullptr) return;
  SourcePosition p = FindPosition(*doc_, source_path);
  e->line = p.line;
  e->column = p.column;
}

void Findings::Error(FieldError e) {
  Place(&e);
  errors.push_back(std::move(e));
}

void Findings::Warn(FieldError e) {
  Place(&e);
  (strict_ ? errors : warnings).push_back(std::move(e));
}

void Findings::Invalid(std::string path, std::string value, std::string detail) {
  FieldError e;
  e.type = FieldError::Type::kInvalid;
  e.path = std::move(path);
  e.value = std::move(value);
  e.detail = std::move(detail);
  Error(std::move(e));
}

void Findings::Forbidden(std::string path, std::string detail) {
  FieldError e;
  e.type = FieldError::Type::kForbidden;
  e.path = std::move(path);
  e.detail = std::move(detail);
  Error(std::move(e));
}

std::optional<std::string_view> Findings::PlainText(const std::string& path) const {
  if (doc_ == nullptr || !doc_->positions) return std::nullopt;
  PositionTable::Found found;
  if (!doc_->positions->Find(doc_->path_prefix + path, &found)) return std::nullopt;
  return found.plain_text;
}

std::string JsonTypeName(const rapidjson::Value& v) {
  if (v.IsObject()) return "object";
  if (v.IsArray()) return "array";
  if (v.IsString()) return "string";
  if (v.IsBool()) return "boolean";
  if (v.IsNumber()) return "number";
  return "null";
}

std::string Describe(const rapidjson::Value& v) {
  if (v.IsObject()) return "{...}";
  if (v.IsArray()) return "[...]";
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
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

ObjectReader::ObjectReader(Findings* findings, const rapidjson::Value* value, std::string path)
    : findings_(findings), path_(std::move(path)) {
  Init(value);
}

ObjectReader::ObjectReader(const ObjectReader& parent, const rapidjson::Value* value,
                           std::string_view key)
    : findings_(parent.findings_), parent_(&parent), key_(key) {
  Init(value);
}

ObjectReader::ObjectReader(const ObjectReader& parent, const rapidjson::Value* value,
                           std::string_view key, size_t index)
    : findings_(parent.findings_), parent_(&parent), key_(key), index_(index) {
  Init(value);
}

void ObjectReader::Init(const rapidjson::Value* value) {
  if (value == nullptr || value->IsNull()) return;
  if (!value->IsObject()) {
    findings_->Invalid(path(), Describe(*value),
                       absl::StrCat("must be an object, not ", JsonTypeName(*value)));
    return;
  }
  value_ = value;
  if (value->MemberCount() > 64) used_more_.assign(value->MemberCount() - 64, false);
  for (const auto& m : value->GetObject()) {
    present_ |= KeyBit(std::string_view(m.name.GetString(), m.name.GetStringLength()));
  }
}

void ObjectReader::AppendPath(std::string* out) const {
  if (parent_ == nullptr) {
    out->append(path_);
    return;
  }
  const size_t start = out->size();
  parent_->AppendPath(out);
  if (out->size() != start) out->push_back('.');
  out->append(key_);
  if (index_ != kNoIndex) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), index_);
    (void)ec;  // 24 digits hold any size_t
    out->push_back('[');
    out->append(digits, end).push_back(']');
  }
}

std::string ObjectReader::path() const {
  std::string out;
  out.reserve(64);
  AppendPath(&out);
  return out;
}

ObjectReader::~ObjectReader() {
  if (value_ == nullptr) return;
  size_t i = 0;
  for (const auto& m : value_->GetObject()) {
    if (!Used(i++)) {
      FieldError e;
      e.type = FieldError::Type::kUnknown;
      e.path = PathOf(std::string_view(m.name.GetString(), m.name.GetStringLength()));
      findings_->Warn(std::move(e));
    }
  }
}

std::string ObjectReader::PathOf(std::string_view key) const {
  std::string out;
  out.reserve(64);
  AppendPath(&out);
  if (!out.empty()) out.push_back('.');
  out.append(key);
  return out;
}

const rapidjson::Value* ObjectReader::Field(std::string_view key) {
  if (value_ == nullptr) return nullptr;
  // Most keys asked for are absent: their bit is usually clear.
  if ((present_ & KeyBit(key)) == 0) return nullptr;
  // Lengths and first characters rule out most members before a memcmp
  // (keys are unique, see stream.cc).
  const auto begin = value_->MemberBegin();
  const auto end = value_->MemberEnd();
  for (auto it = begin; it != end; ++it) {
    const rapidjson::Value& name = it->name;
    if (name.GetStringLength() != key.size()) continue;
    const char* text = name.GetString();
    if (!key.empty() && (text[0] != key[0] || std::memcmp(text, key.data(), key.size()) != 0)) {
      continue;
    }
    MarkUsed(static_cast<size_t>(it - begin));
    if (it->value.IsNull()) return nullptr;
    return &it->value;
  }
  return nullptr;
}

void ObjectReader::Ignore(std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) Field(k);
}

void ObjectReader::Forbid(std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    if (Field(k) != nullptr) findings_->Forbidden(PathOf(k), "not supported by qdirect yet");
  }
}

const rapidjson::Value* ObjectReader::Array(std::string_view key) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return nullptr;
  if (!v->IsArray()) {
    findings_->Invalid(PathOf(key), Describe(*v),
                       absl::StrCat("must be an array, not ", JsonTypeName(*v)));
    return nullptr;
  }
  return v;
}

bool ObjectReader::String(std::string_view key, std::string* out) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return false;
  if (v->IsString()) {
    out->assign(v->GetString(), v->GetStringLength());
    return true;
  }
  // `name: 1234` in YAML: Kubernetes' typed decoding keeps the text.
  if (std::optional<std::string_view> text = findings_->PlainText(PathOf(key))) {
    out->assign(*text);
    return true;
  }
  findings_->Invalid(PathOf(key), Describe(*v),
                     absl::StrCat("must be a string, not ", JsonTypeName(*v)));
  return false;
}

bool ObjectReader::Bool(std::string_view key, bool* out) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return false;
  if (!v->IsBool()) {
    findings_->Invalid(PathOf(key), Describe(*v),
                       absl::StrCat("must be a boolean, not ", JsonTypeName(*v)));
    return false;
  }
  *out = v->GetBool();
  return true;
}

namespace {

// An integral JSON number (1, or 1.0 as JSON writers sometimes emit).
bool AsInt64(const rapidjson::Value& v, int64_t* out) {
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

bool ObjectReader::Int64(std::string_view key, int64_t* out) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return false;
  if (!AsInt64(*v, out)) {
    findings_->Invalid(PathOf(key), Describe(*v), "must be an integer");
    return false;
  }
  return true;
}

bool ObjectReader::Uint32(std::string_view key, uint32_t* out) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return false;
  int64_t i = 0;
  if (!AsInt64(*v, &i) || i < 0 || i > UINT32_MAX) {
    findings_->Invalid(PathOf(key), Describe(*v),
                       "must be an integer between 0 and 4294967295");
    return false;
  }
  *out = static_cast<uint32_t>(i);
  return true;
}

bool ObjectReader::Uint32(std::string_view key, std::optional<uint32_t>* out) {
  uint32_t v = 0;
  if (!Uint32(key, &v)) return false;
  *out = v;
  return true;
}

bool ObjectReader::Quantity(std::string_view key, spec::Quantity* out) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return false;
  std::string text;
  if (v->IsString()) {
    text.assign(v->GetString(), v->GetStringLength());
  } else if (std::optional<std::string_view> plain = findings_->PlainText(PathOf(key))) {
    text.assign(*plain);
  } else if (v->IsNumber()) {
    text = Describe(*v);
  } else {
    findings_->Invalid(PathOf(key), Describe(*v),
                       absl::StrCat("must be a quantity, not ", JsonTypeName(*v)));
    return false;
  }
  absl::StatusOr<spec::Quantity> q = ParseQuantity(text);
  if (!q.ok()) {
    std::string detail(q.status().message());
    // The message starts with the quoted text, already in the value.
    if (size_t colon = detail.find("\": "); colon != std::string::npos) {
      detail = detail.substr(colon + 3);
    }
    findings_->Invalid(PathOf(key), text, detail);
    return false;
  }
  *out = std::move(*q);
  return true;
}

bool ObjectReader::StringMap(std::string_view key, std::map<std::string, std::string>* out) {
  const rapidjson::Value* v = Field(key);
  if (v == nullptr) return false;
  if (!v->IsObject()) {
    findings_->Invalid(PathOf(key), Describe(*v),
                       absl::StrCat("must be an object, not ", JsonTypeName(*v)));
    return false;
  }
  std::string base = PathOf(key);
  for (const auto& m : v->GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsString()) {
      (*out)[name].assign(m.value.GetString(), m.value.GetStringLength());
    } else if (std::optional<std::string_view> plain =
                   findings_->PlainText(absl::StrCat(base, ".", name))) {
      (*out)[name].assign(*plain);
    } else {
      findings_->Invalid(absl::StrCat(base, ".", name), Describe(m.value),
                         absl::StrCat("must be a string, not ", JsonTypeName(m.value)));
    }
  }
  return true;
}

}  // namespace qdirect::spec
