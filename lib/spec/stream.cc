// YAML and JSON streams into RapidJSON documents.
//
// YAML is read as libyaml events built straight into RapidJSON values (no
// intermediate tree). Plain scalars resolve as Kubernetes' YAML (go-yaml
// v2, YAML 1.1) does: null/~/empty, true/false/yes/no/on/off, integers
// (decimal, 0x, 0o, leading-0 octal, '_' separators), floats; quoted and
// block scalars are strings. The source text of a plain scalar that did not
// resolve to a string is kept in the position table, so a string field can
// take `name: 1234` as "1234" as Kubernetes' typed decoding does.
//
// Aliases are refused (anchors alone are harmless and ignored): expanding
// them is the billion-laughs attack, and Kubernetes manifests do not need
// them.

#include "spec/stream.h"

#include <yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "spec/yaml_fast.h"

namespace qdirect::spec {
namespace {

using rapidjson::Value;

FieldError SyntaxError(SourcePosition pos, std::string detail) {
  FieldError e;
  e.type = FieldError::Type::kSyntax;
  e.path = absl::StrCat("line ", pos.line, ", column ", pos.column);
  e.detail = std::move(detail);
  e.line = pos.line;
  e.column = pos.column;
  return e;
}

FieldError LimitError(FieldError::Type type, std::string path, std::string value,
                      std::string detail, SourcePosition pos = {}) {
  FieldError e;
  e.type = type;
  e.path = std::move(path);
  e.value = std::move(value);
  e.detail = std::move(detail);
  e.line = pos.line;
  e.column = pos.column;
  return e;
}

SourcePosition Pos(const yaml_mark_t& mark) {
  return {static_cast<uint32_t>(mark.line + 1), static_cast<uint32_t>(mark.column + 1)};
}

bool OneOf(std::string_view s, std::initializer_list<std::string_view> options) {
  for (std::string_view o : options) {
    if (s == o) return true;
  }
  return false;
}

// Integers as go-yaml v2 reads them (strconv.ParseInt with base 0 after
// removing '_').
bool ResolveInt(std::string_view s, Value* out) {
  std::string clean;
  for (char c : s) {
    if (c != '_') clean.push_back(c);
  }
  std::string_view t = clean;
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
    out->SetDouble(std::strtod(std::string(s).c_str(), nullptr));
    return true;
  }
  if (ec != std::errc()) return false;
  if (!negative) {
    if (magnitude <= static_cast<uint64_t>(INT64_MAX)) {
      out->SetInt64(static_cast<int64_t>(magnitude));
    } else {
      out->SetUint64(magnitude);
    }
  } else if (magnitude <= static_cast<uint64_t>(INT64_MAX) + 1) {
    out->SetInt64(static_cast<int64_t>(0 - magnitude));
  } else {
    out->SetDouble(-static_cast<double>(magnitude));
  }
  return true;
}

bool ResolveFloat(std::string_view s, Value* out) {
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
  out->SetDouble(d);
  return true;
}

// Resolves a plain scalar; returns false when it is a string.
bool ResolvePlain(std::string_view s, Value* out) {
  // The null and boolean words are five characters at most.
  if (s.size() <= 5) {
    if (OneOf(s, {"", "~", "null", "Null", "NULL"})) {
      out->SetNull();
      return true;
    }
    if (OneOf(s, {"true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON"})) {
      out->SetBool(true);
      return true;
    }
    if (OneOf(s, {"false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF"})) {
      out->SetBool(false);
      return true;
    }
  }
  if (s.size() > 64) return false;
  char c = s[0];
  if (!(c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'))) return false;
  return ResolveInt(s, out) || ResolveFloat(s, out);
}

// Paths are built for every node: plain appends, no formatting.
std::string ChildPath(const std::string& parent, std::string_view key) {
  std::string path;
  if (parent.empty()) {
    path.assign(key);
    return path;
  }
  path.reserve(parent.size() + 1 + key.size());
  path.append(parent).push_back('.');
  path.append(key);
  return path;
}

std::string ItemPath(const std::string& parent, size_t index) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), index);
  (void)ec;  // 24 digits hold any size_t
  std::string path;
  path.reserve(parent.size() + 2 + static_cast<size_t>(end - digits));
  path.append(parent).push_back('[');
  path.append(digits, end).push_back(']');
  return path;
}

// A document whose allocator's first chunk lives beside it: a manifest's
// values fit, where rapidjson's default allocator would take 64 KiB of heap
// (and hand it back, with a heap consolidation) per document.
struct InlineDocument {
  // User-provided: make_shared must not zero the chunk.
  InlineDocument() {}
  static constexpr size_t kFirstChunk = 16 * 1024;
  alignas(16) char first_chunk[kFirstChunk];
  rapidjson::MemoryPoolAllocator<> allocator{first_chunk, kFirstChunk, kFirstChunk};
  rapidjson::Document document{&allocator};
};

std::shared_ptr<rapidjson::Document> NewDocument() {
  auto holder = std::make_shared<InlineDocument>();
  rapidjson::Document* document = &holder->document;
  return std::shared_ptr<rapidjson::Document>(std::move(holder), document);
}

// Mappings with fewer keys than this find duplicates by scanning their
// members; larger ones (rare in manifests) switch to a hash set.
constexpr size_t kLinearKeyLimit = 32;

class YamlReader {
 public:
  YamlReader(std::string_view text, const DecodeLimits& limits, Stream* out)
      : text_(text), limits_(limits), out_(out) {}

  void Run(bool allow_fast, bool* used_fast) {
    if (used_fast) *used_fast = false;
    if (allow_fast) {
      YamlEvents fast;
      if (FastYamlEvents(text_, limits_, &fast)) {
        if (used_fast) *used_fast = true;
        // The input is no longer than one document may be, so the size
        // check in Handle cannot fire: offsets are left 0.
        for (const YamlEvent& e : fast.events) {
          if (!Handle(e, 0, 0)) break;
        }
        return;
      }
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
      out_->errors.push_back(SyntaxError({1, 1}, "cannot initialise the YAML parser"));
      return;
    }
    yaml_parser_set_input_string(
        &parser, reinterpret_cast<const unsigned char*>(text_.data()), text_.size());
    bool done = false;
    while (!done) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser, &event)) {
        std::string detail = parser.problem ? parser.problem : "invalid YAML";
        if (parser.context) detail = absl::StrCat(detail, " (", parser.context, ")");
        out_->errors.push_back(SyntaxError(Pos(parser.problem_mark), detail));
        break;
      }
      done = !HandleLibyaml(event);
      yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
  }

 private:
  struct Frame {
    Value value;
    uint32_t node = 0;  // in positions_
    bool is_map = false;
    bool have_key = false;
    std::string key;
    SourcePosition key_pos;
    // Made only past kLinearKeyLimit members (see DuplicateKey): frames
    // move on every nesting level.
    std::unique_ptr<std::unordered_set<std::string>> keys;
    size_t index = 0;
  };

  // Translates a libyaml event; returns false to stop reading the stream.
  bool HandleLibyaml(const yaml_event_t& event) {
    YamlEvent e;
    SourcePosition pos = Pos(event.start_mark);
    e.line = pos.line;
    e.column = pos.column;
    switch (event.type) {
      case YAML_STREAM_START_EVENT:
        return true;
      case YAML_STREAM_END_EVENT:
      case YAML_NO_EVENT:
        return false;
      case YAML_ALIAS_EVENT:
        out_->errors.push_back(SyntaxError(
            pos, "aliases (*name) are not supported: write the value out"));
        return false;
      case YAML_DOCUMENT_START_EVENT:
        e.type = YamlEvent::Type::kDocumentStart;
        break;
      case YAML_DOCUMENT_END_EVENT:
        e.type = YamlEvent::Type::kDocumentEnd;
        break;
      case YAML_SEQUENCE_START_EVENT:
        e.type = YamlEvent::Type::kSequenceStart;
        break;
      case YAML_SEQUENCE_END_EVENT:
        e.type = YamlEvent::Type::kSequenceEnd;
        break;
      case YAML_MAPPING_START_EVENT:
        e.type = YamlEvent::Type::kMappingStart;
        break;
      case YAML_MAPPING_END_EVENT:
        e.type = YamlEvent::Type::kMappingEnd;
        break;
      case YAML_SCALAR_EVENT: {
        e.type = YamlEvent::Type::kScalar;
        e.text = std::string_view(reinterpret_cast<const char*>(event.data.scalar.value),
                                  event.data.scalar.length);
        std::string_view tag =
            event.data.scalar.tag ? reinterpret_cast<const char*>(event.data.scalar.tag) : "";
        // A !!str tag makes a plain scalar a string.
        e.plain = event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                  tag != "tag:yaml.org,2002:str";
        break;
      }
    }
    return Handle(e, event.start_mark.index, event.end_mark.index);
  }

  // Returns false to stop reading the stream.
  bool Handle(const YamlEvent& event, size_t start_index, size_t end_index) {
    SourcePosition pos{event.line, event.column};
    if (in_document_ && end_index - doc_start_index_ > limits_.max_document_bytes) {
      out_->errors.push_back(LimitError(
          FieldError::Type::kTooLong, absl::StrCat("document ", doc_count_), "",
          absl::StrCat("must have at most ", limits_.max_document_bytes, " bytes"),
          doc_start_));
      return false;
    }
    switch (event.type) {
      case YamlEvent::Type::kDocumentStart:
        if (doc_count_ >= limits_.max_documents) {
          out_->errors.push_back(LimitError(
              FieldError::Type::kTooMany, "documents", std::to_string(doc_count_ + 1),
              absl::StrCat("must have at most ", limits_.max_documents, " items"), pos));
          return false;
        }
        ++doc_count_;
        in_document_ = true;
        doc_start_index_ = start_index;
        doc_start_ = pos;
        doc_ = NewDocument();
        positions_ = std::make_shared<PositionTable>();
        root_.SetNull();
        have_root_ = false;
        frames_.clear();
        frames_.reserve(16);
        return true;
      case YamlEvent::Type::kDocumentEnd: {
        in_document_ = false;
        if (!have_root_ || root_.IsNull()) return true;  // empty document
        static_cast<Value&>(*doc_).Swap(root_);
        StreamDocument d;
        d.owner = doc_;
        d.value = doc_.get();
        d.positions = positions_;
        d.start = doc_start_;
        out_->documents.push_back(std::move(d));
        return true;
      }
      case YamlEvent::Type::kScalar:
        return Scalar(event, pos);
      case YamlEvent::Type::kSequenceStart:
      case YamlEvent::Type::kMappingStart: {
        uint32_t node = 0;
        if (!BeginNode(pos, &node)) return false;
        if (frames_.size() >= limits_.max_depth) {
          std::string path = positions_->PathOf(node);
          out_->errors.push_back(LimitError(
              FieldError::Type::kTooMany, path.empty() ? "document" : path,
              std::to_string(frames_.size() + 1),
              absl::StrCat("nesting must be at most ", limits_.max_depth, " levels deep"),
              pos));
          return false;
        }
        Frame f;
        f.is_map = event.type == YamlEvent::Type::kMappingStart;
        if (f.is_map) {
          f.value.SetObject();
        } else {
          f.value.SetArray();
        }
        f.node = node;
        frames_.push_back(std::move(f));
        return true;
      }
      case YamlEvent::Type::kSequenceEnd:
      case YamlEvent::Type::kMappingEnd: {
        Frame f = std::move(frames_.back());
        frames_.pop_back();
        Attach(std::move(f.value));
        return true;
      }
    }
    return true;
  }

  // Records the position of a value that starts at pos under the node it
  // belongs to; refuses a key that is not a scalar.
  bool BeginNode(SourcePosition pos, uint32_t* node) {
    if (frames_.empty()) {
      *node = positions_->AddRoot(pos);
      return true;
    }
    Frame& top = frames_.back();
    if (top.is_map) {
      if (!top.have_key) {
        out_->errors.push_back(SyntaxError(pos, "mapping keys must be scalars"));
        return false;
      }
      *node = positions_->AddMember(top.node, top.key, top.key_pos);
    } else {
      *node = positions_->AddItem(top.node, top.index, pos);
    }
    return true;
  }

  bool Scalar(const YamlEvent& event, SourcePosition pos) {
    std::string_view text = event.text;
    // A mapping key.
    if (!frames_.empty() && frames_.back().is_map && !frames_.back().have_key) {
      Frame& top = frames_.back();
      if (text.size() > limits_.max_string_bytes) {
        std::string path = positions_->PathOf(top.node);
        out_->errors.push_back(LimitError(
            FieldError::Type::kTooLong, path.empty() ? "document" : path, "",
            absl::StrCat("a key must have at most ", limits_.max_string_bytes, " bytes"),
            pos));
        return false;
      }
      top.key.assign(text);
      top.key_pos = pos;
      top.have_key = true;
      return true;
    }
    uint32_t node = 0;
    if (!BeginNode(pos, &node)) return false;
    Value v;
    if (event.plain && ResolvePlain(text, &v)) {
      if (!v.IsNull()) positions_->SetPlainText(node, text);
    } else if (text.size() > limits_.max_string_bytes) {
      std::string path = positions_->PathOf(node);
      out_->errors.push_back(LimitError(
          FieldError::Type::kTooLong, path.empty() ? "document" : path, "",
          absl::StrCat("must have at most ", limits_.max_string_bytes, " bytes"), pos));
      v.SetString("", 0);
    } else {
      v.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()),
                  doc_->GetAllocator());
    }
    Attach(std::move(v));
    return true;
  }

  // True when top.key is already a member of top's mapping.
  static bool DuplicateKey(Frame& top) {
    const Value& obj = top.value;
    if (obj.MemberCount() < kLinearKeyLimit) {
      for (const auto& m : obj.GetObject()) {
        if (std::string_view(m.name.GetString(), m.name.GetStringLength()) == top.key) {
          return true;
        }
      }
      return false;
    }
    if (top.keys == nullptr) {
      top.keys = std::make_unique<std::unordered_set<std::string>>();
      for (const auto& m : obj.GetObject()) {
        top.keys->emplace(m.name.GetString(), m.name.GetStringLength());
      }
    }
    return !top.keys->insert(top.key).second;
  }

  void Attach(Value&& v) {
    if (frames_.empty()) {
      root_ = std::move(v);
      have_root_ = true;
      return;
    }
    Frame& top = frames_.back();
    auto& alloc = doc_->GetAllocator();
    if (!top.is_map) {
      top.value.PushBack(v, alloc);
      ++top.index;
      return;
    }
    top.have_key = false;
    if (DuplicateKey(top)) {
      // Kubernetes refuses duplicate keys; keep the first.
      out_->errors.push_back(SyntaxError(
          top.key_pos, absl::StrCat("mapping key \"", top.key, "\" already defined")));
      return;
    }
    Value key(top.key.data(), static_cast<rapidjson::SizeType>(top.key.size()), alloc);
    top.value.AddMember(key, v, alloc);
  }

  std::string_view text_;
  const DecodeLimits& limits_;
  Stream* out_;
  bool in_document_ = false;
  size_t doc_count_ = 0;
  size_t doc_start_index_ = 0;
  SourcePosition doc_start_;
  std::shared_ptr<rapidjson::Document> doc_;
  std::shared_ptr<PositionTable> positions_;
  Value root_;
  bool have_root_ = false;
  std::vector<Frame> frames_;
};

// Checks JSON input against the depth and string limits, without recursion.
void CheckJsonLimits(const Value& root, const DecodeLimits& limits, Stream* out) {
  struct Item {
    const Value* v;
    size_t depth;
  };
  std::vector<Item> stack = {{&root, 1}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    if ((it.v->IsObject() || it.v->IsArray()) && it.depth > limits.max_depth) {
      out->errors.push_back(LimitError(
          FieldError::Type::kTooMany, "document", std::to_string(it.depth),
          absl::StrCat("nesting must be at most ", limits.max_depth, " levels deep")));
      return;
    }
    if (it.v->IsString() && it.v->GetStringLength() > limits.max_string_bytes) {
      out->errors.push_back(LimitError(
          FieldError::Type::kTooLong, "document", "",
          absl::StrCat("a string must have at most ", limits.max_string_bytes, " bytes")));
      return;
    }
    if (it.v->IsObject()) {
      for (const auto& m : it.v->GetObject()) {
        if (m.name.GetStringLength() > limits.max_string_bytes) {
          out->errors.push_back(LimitError(
              FieldError::Type::kTooLong, "document", "",
              absl::StrCat("a key must have at most ", limits.max_string_bytes, " bytes")));
          return;
        }
        stack.push_back({&m.value, it.depth + 1});
      }
    } else if (it.v->IsArray()) {
      for (const auto& e : it.v->GetArray()) stack.push_back({&e, it.depth + 1});
    }
  }
}

SourcePosition OffsetToPosition(std::string_view text, size_t offset) {
  SourcePosition p{1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else {
      ++p.column;
    }
  }
  return p;
}

void ReadJson(std::string_view text, const DecodeLimits& limits, Stream* out) {
  auto doc = std::make_shared<rapidjson::Document>();
  // Iterative parsing: deep nesting must not exhaust the stack.
  doc->Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc->HasParseError()) {
    out->errors.push_back(SyntaxError(OffsetToPosition(text, doc->GetErrorOffset()),
                                      rapidjson::GetParseError_En(doc->GetParseError())));
    return;
  }
  CheckJsonLimits(*doc, limits, out);
  if (!out->errors.empty()) return;
  StreamDocument d;
  d.owner = doc;
  d.value = doc.get();
  d.positions = std::make_shared<PositionTable>();
  d.start = {1, 1};
  out->documents.push_back(std::move(d));
}

bool IsList(const Value& v) {
  if (!v.IsObject()) return false;
  auto kind = v.FindMember("kind");
  auto items = v.FindMember("items");
  return kind != v.MemberEnd() && kind->value.IsString() &&
         std::string_view(kind->value.GetString()) == "List" && items != v.MemberEnd() &&
         items->value.IsArray();
}

// Replaces each list (a top-level array, or `kind: List`) by its items.
void ExpandLists(const DecodeLimits& limits, Stream* out) {
  std::vector<StreamDocument> expanded;
  for (StreamDocument& d : out->documents) {
    const Value* items = nullptr;
    std::string prefix;
    if (d.value->IsArray()) {
      items = d.value;
    } else if (IsList(*d.value)) {
      items = &(*d.value)["items"];
      prefix = "items";
    }
    if (items == nullptr) {
      expanded.push_back(std::move(d));
      continue;
    }
    size_t i = 0;
    for (const Value& item : items->GetArray()) {
      if (expanded.size() >= limits.max_documents) {
        out->errors.push_back(LimitError(
            FieldError::Type::kTooMany, "documents", std::to_string(items->Size()),
            absl::StrCat("must have at most ", limits.max_documents, " items")));
        break;
      }
      StreamDocument e = d;
      e.value = &item;
      e.path_prefix = absl::StrCat(prefix, "[", i, "].");
      e.start = FindPosition(e, "");
      expanded.push_back(std::move(e));
      ++i;
    }
  }
  out->documents = std::move(expanded);
}

}  // namespace

Stream ReadStream(std::string_view text, const DecodeLimits& limits) {
  return ReadStreamForTest(text, limits, /*allow_fast=*/kYamlFastPathEnabled, nullptr);
}

Stream ReadStreamForTest(std::string_view text, const DecodeLimits& limits, bool allow_fast,
                         bool* used_fast) {
  if (used_fast) *used_fast = false;
  Stream out;
  if (text.size() > limits.max_document_bytes * limits.max_documents) {
    out.errors.push_back(LimitError(
        FieldError::Type::kTooLong, "input", "",
        absl::StrCat("must have at most ", limits.max_document_bytes * limits.max_documents,
                     " bytes")));
    return out;
  }
  size_t first = text.find_first_not_of(" \t\r\n");
  bool json = first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
  if (json) {
    if (text.size() > limits.max_document_bytes) {
      out.errors.push_back(LimitError(
          FieldError::Type::kTooLong, "input", "",
          absl::StrCat("must have at most ", limits.max_document_bytes, " bytes")));
      return out;
    }
    ReadJson(text, limits, &out);
  } else {
    YamlReader(text, limits, &out).Run(allow_fast, used_fast);
  }
  ExpandLists(limits, &out);
  return out;
}

namespace {

// FNV-1a, which extends a path's hash by a suffix without the path.
constexpr uint64_t kFnvOffset = 14695981039346656037u;
constexpr uint64_t kFnvPrime = 1099511628211u;

uint64_t ExtendHash(uint64_t hash, std::string_view suffix) {
  for (char c : suffix) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

// "[index]", in buf.
std::string_view IndexSuffix(size_t index, char (&buf)[24]) {
  buf[0] = '[';
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 1, index);
  (void)ec;  // 22 digits hold any size_t
  *end++ = ']';
  return std::string_view(buf, static_cast<size_t>(end - buf));
}

}  // namespace

uint32_t PositionTable::Add(Node node, std::string_view separator, std::string_view suffix) {
  if (nodes_.empty()) {
    // A manifest's worth: a few growth steps at most.
    nodes_.reserve(128);
    text_.reserve(1024);
  }
  entries_.clear();
  sorted_.clear();
  const uint64_t parent_hash =
      node.parent == kNoParent ? kFnvOffset : nodes_[node.parent].path_hash;
  node.path_hash = ExtendHash(ExtendHash(parent_hash, separator), suffix);
  nodes_.push_back(std::move(node));
  return static_cast<uint32_t>(nodes_.size() - 1);
}

uint32_t PositionTable::AddRoot(SourcePosition pos) {
  Node node;
  node.position = pos;
  return Add(std::move(node), "", "");
}

uint32_t PositionTable::AddMember(uint32_t parent, std::string_view key, SourcePosition pos) {
  const bool parent_path_empty = nodes_[parent].path_empty;
  Node node;
  node.parent = parent;
  node.key_offset = static_cast<uint32_t>(text_.size());
  node.key_size = static_cast<uint32_t>(key.size());
  node.path_empty = parent_path_empty && key.empty();
  node.position = pos;
  text_.append(key);
  return Add(std::move(node), parent_path_empty ? "" : ".", key);
}

uint32_t PositionTable::AddItem(uint32_t parent, size_t index, SourcePosition pos) {
  Node node;
  node.parent = parent;
  node.key_offset = static_cast<uint32_t>(index);
  node.is_item = true;
  node.path_empty = false;
  node.position = pos;
  char buf[24];
  return Add(std::move(node), "", IndexSuffix(index, buf));
}

void PositionTable::SetPlainText(uint32_t node, std::string_view text) {
  nodes_[node].plain_offset = static_cast<uint32_t>(text_.size());
  nodes_[node].plain_size = static_cast<uint32_t>(text.size());
  text_.append(text);
  entries_.clear();
}

std::string PositionTable::PathOf(uint32_t node) const {
  const Node& n = nodes_[node];
  if (n.parent == kNoParent) return "";
  std::string parent = PathOf(n.parent);
  if (n.is_item) return ItemPath(parent, n.key_offset);
  return ChildPath(parent, std::string_view(text_).substr(n.key_offset, n.key_size));
}

bool PositionTable::PathIs(uint32_t node, std::string_view path) const {
  // PathOf(node) is PathOf(parent) followed by "[index]", ".key", or just
  // "key" when the parent's path is empty.
  while (nodes_[node].parent != kNoParent) {
    const Node& n = nodes_[node];
    if (n.is_item) {
      char buf[24];
      std::string_view suffix = IndexSuffix(n.key_offset, buf);
      if (!path.ends_with(suffix)) return false;
      path.remove_suffix(suffix.size());
    } else {
      std::string_view key = std::string_view(text_).substr(n.key_offset, n.key_size);
      if (!path.ends_with(key)) return false;
      path.remove_suffix(key.size());
      if (!nodes_[n.parent].path_empty) {
        if (!path.ends_with('.')) return false;
        path.remove_suffix(1);
      }
    }
    node = n.parent;
  }
  return path.empty();
}

const std::vector<std::pair<std::string, SourceEntry>>& PositionTable::entries() const {
  if (entries_.size() == nodes_.size()) return entries_;
  entries_.clear();
  entries_.reserve(nodes_.size());
  for (const Node& n : nodes_) {
    std::string path;
    if (n.parent != kNoParent) {
      const std::string& parent = entries_[n.parent].first;
      path = n.is_item ? ItemPath(parent, n.key_offset)
                       : ChildPath(parent, std::string_view(text_).substr(n.key_offset, n.key_size));
    }
    entries_.emplace_back(
        std::move(path),
        SourceEntry{n.position, text_.substr(n.plain_offset, n.plain_size)});
  }
  return entries_;
}

bool PositionTable::Find(std::string_view path, Found* found) const {
  // Matches are visited latest first.
  bool any = false;
  auto visit = [&](const Node& n) {
    if (!any) found->position = n.position;
    any = true;
    if (!found->plain_text && n.plain_size != 0) {
      found->plain_text = std::string_view(text_).substr(n.plain_offset, n.plain_size);
    }
  };
  found->plain_text.reset();
  // A manifest has a few hundred nodes at most and few findings: a scan
  // beats building any index.
  constexpr size_t kScanLimit = 256;
  if (nodes_.size() <= kScanLimit) {
    const uint64_t hash = ExtendHash(kFnvOffset, path);
    for (size_t i = nodes_.size(); i-- > 0;) {
      if (nodes_[i].path_hash == hash && PathIs(static_cast<uint32_t>(i), path)) {
        visit(nodes_[i]);
      }
    }
    return any;
  }
  const auto& entries = this->entries();
  if (sorted_.empty()) {
    sorted_.resize(entries.size());
    for (size_t i = 0; i < sorted_.size(); ++i) sorted_[i] = static_cast<uint32_t>(i);
    std::stable_sort(sorted_.begin(), sorted_.end(), [&entries](uint32_t a, uint32_t b) {
      return entries[a].first < entries[b].first;
    });
  }
  auto first = std::lower_bound(
      sorted_.begin(), sorted_.end(), path,
      [&entries](uint32_t i, std::string_view p) { return entries[i].first < p; });
  auto last = first;
  while (last != sorted_.end() && entries[*last].first == path) ++last;
  while (last != first) visit(nodes_[*--last]);
  return any;
}

SourcePosition FindPosition(const StreamDocument& doc, std::string_view path) {
  if (!doc.positions) return {};
  // Spelled out only under a list's prefix; parents are prefixes of it.
  std::string joined;
  if (!doc.path_prefix.empty()) joined = doc.path_prefix + std::string(path);
  std::string_view full = doc.path_prefix.empty() ? path : std::string_view(joined);
  if (!full.empty() && full.back() == '.') full.remove_suffix(1);
  while (true) {
    PositionTable::Found found;
    if (doc.positions->Find(full, &found)) return found.position;
    if (full.empty()) return doc.start;
    size_t cut = full.find_last_of(".[");
    full = cut == std::string_view::npos ? std::string_view() : full.substr(0, cut);
  }
}

}  // namespace qdirect::spec
