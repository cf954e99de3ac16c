// YAML and JSON streams into node trees (node.h).
//
// YAML is built into the tree by the fast scanner (yaml_fast.h) when the
// stream is inside its subset, else from libyaml's events. Plain scalars
// resolve as yaml_plain.h says.
//
// Aliases are refused (anchors alone are harmless and ignored): expanding
// them is the billion-laughs attack, and Kubernetes manifests do not need
// them.

#include "spec/stream.h"

#include <yaml.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "spec/yaml_fast.h"
#include "spec/yaml_plain.h"

namespace qdirect::spec {
namespace {

using rapidjson::Value;
using B = NodeTreeBuilder;

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


// The subset of a libyaml event the reader reads.
struct YamlEvent {
  enum class Type {
    kDocumentStart,
    kDocumentEnd,
    kScalar,
    kSequenceStart,
    kSequenceEnd,
    kMappingStart,
    kMappingEnd
  };
  Type type = Type::kScalar;
  uint32_t line = 0;  // 1-based start
  uint32_t column = 0;
  std::string_view text;  // scalars
  bool plain = false;     // plain scalar style
};

// Mappings with fewer keys than this find duplicates by scanning their
// members; larger ones (rare in manifests) switch to a hash set.
constexpr size_t kLinearKeyLimit = 32;

class YamlReader {
 public:
  YamlReader(std::string_view text, const DecodeLimits& limits, bool borrow, Stream* out)
      : limits_(limits), out_(out), tree_(std::make_shared<NodeTree>()), builder_(tree_.get()) {
    // Unless the caller's text outlives the stream, the tree keeps its own
    // copy: nodes view it, whoever owns text.
    if (borrow) {
      text_ = text;
    } else {
      tree_->source.assign(text);
      text_ = tree_->source;
    }
  }

  void Run(bool allow_fast, bool* used_fast) {
    if (used_fast) *used_fast = false;
    if (allow_fast) {
      std::vector<FastDocument> docs;
      if (FastYamlTree(text_, limits_, tree_.get(), &docs)) {
        if (used_fast) *used_fast = true;
        for (const FastDocument& d : docs) roots_.push_back({d.root, d.start});
        Finish();
        return;
      }
      // Outside the subset: libyaml reads it all again.
      tree_->nodes.clear();
      tree_->owned.clear();
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
    Finish();
  }

 private:
  // How a collection hangs in its parent, for error paths.
  struct Link {
    std::string_view key;
    size_t index = 0;
    bool is_item = false;
    bool is_root = true;
  };
  // An open collection (the builder holds its node and children).
  struct Frame {
    Link link;
    bool is_map = false;
    bool have_key = false;
    std::string_view key;
    SourcePosition key_pos;
    // Made only past kLinearKeyLimit members (see DuplicateKey).
    std::unique_ptr<std::unordered_set<std::string_view>> keys;
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
        // libyaml frees the event's text: the tree keeps a copy.
        e.text = tree_->owned.emplace_front(reinterpret_cast<const char*>(event.data.scalar.value),
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
        have_root_ = false;
        root_is_null_ = true;
        frames_.clear();
        builder_.Reset();
        return true;
      case YamlEvent::Type::kDocumentEnd:
        in_document_ = false;
        if (!have_root_ || root_is_null_) return true;  // empty document
        roots_.push_back({root_, doc_start_});
        return true;
      case YamlEvent::Type::kScalar:
        return Scalar(event, pos);
      case YamlEvent::Type::kSequenceStart:
      case YamlEvent::Type::kMappingStart: {
        Link link;
        if (!LinkHere(pos, &link)) return false;
        if (frames_.size() >= limits_.max_depth) {
          std::string path = PathTo(&link);
          out_->errors.push_back(LimitError(
              FieldError::Type::kTooMany, path.empty() ? "document" : path,
              std::to_string(frames_.size() + 1),
              absl::StrCat("nesting must be at most ", limits_.max_depth, " levels deep"),
              pos));
          return false;
        }
        Frame f;
        f.link = link;
        f.is_map = event.type == YamlEvent::Type::kMappingStart;
        frames_.push_back(std::move(f));
        builder_.Begin(frames_.back().is_map ? Node::Type::kObject : Node::Type::kArray, pos);
        return true;
      }
      case YamlEvent::Type::kSequenceEnd:
      case YamlEvent::Type::kMappingEnd:
        frames_.pop_back();
        builder_.End();
        AttachLast();
        return true;
    }
    return true;
  }

  // How a collection starting at pos hangs in the open one; refuses a key
  // that is not a scalar.
  bool LinkHere(SourcePosition pos, Link* link) {
    if (frames_.empty()) return true;
    const Frame& top = frames_.back();
    link->is_root = false;
    if (top.is_map) {
      if (!top.have_key) {
        out_->errors.push_back(SyntaxError(pos, "mapping keys must be scalars"));
        return false;
      }
      link->key = top.key;
    } else {
      link->is_item = true;
      link->index = top.index;
    }
    return true;
  }

  // The field path of the open collections, then of `last` under them when
  // given: for error messages only.
  std::string PathTo(const Link* last) const {
    std::string path;
    auto append = [&path](const Link& l) {
      if (l.is_root) return;
      if (l.is_item) {
        absl::StrAppend(&path, "[", l.index, "]");
      } else {
        if (!path.empty()) path.push_back('.');
        path.append(l.key);
      }
    };
    for (const Frame& f : frames_) append(f.link);
    if (last != nullptr) append(*last);
    return path;
  }

  bool Scalar(const YamlEvent& event, SourcePosition pos) {
    std::string_view text = event.text;
    // A mapping key.
    if (!frames_.empty() && frames_.back().is_map && !frames_.back().have_key) {
      Frame& top = frames_.back();
      if (text.size() > limits_.max_string_bytes) {
        std::string path = PathTo(nullptr);
        out_->errors.push_back(LimitError(
            FieldError::Type::kTooLong, path.empty() ? "document" : path, "",
            absl::StrCat("a key must have at most ", limits_.max_string_bytes, " bytes"),
            pos));
        return false;
      }
      top.key = text;
      top.key_pos = pos;
      top.have_key = true;
      return true;
    }
    Node n = event.plain ? PlainScalar(text, pos) : B::String(text, pos);
    if (n.IsString() && text.size() > limits_.max_string_bytes) {
      Link link;
      LinkHere(pos, &link);
      std::string path = PathTo(&link);
      out_->errors.push_back(LimitError(
          FieldError::Type::kTooLong, path.empty() ? "document" : path, "",
          absl::StrCat("must have at most ", limits_.max_string_bytes, " bytes"), pos));
      n = B::String("", pos);
    }
    Attach(std::move(n));
    return true;
  }

  // True when top.key is already the key of one of the first `count`
  // members of top's mapping.
  bool DuplicateKey(Frame& top, size_t count) const {
    if (count < kLinearKeyLimit) return builder_.HasChildKey(top.key, count);
    if (top.keys == nullptr) {
      top.keys = std::make_unique<std::unordered_set<std::string_view>>();
      for (size_t i = 0; i < count; ++i) top.keys->insert(builder_.Child(i).key());
    }
    return !top.keys->insert(top.key).second;
  }

  // Adds scalar n where the open collections put it.
  void Attach(Node&& n) {
    if (frames_.empty()) {
      root_is_null_ = n.IsNull();
      builder_.Add(std::move(n));
      root_ = builder_.TakeRoot();
      have_root_ = true;
      return;
    }
    Frame& top = frames_.back();
    if (!top.is_map) {
      builder_.Add(std::move(n));
      ++top.index;
      return;
    }
    top.have_key = false;
    if (DuplicateKey(top, builder_.ChildCount())) {
      DuplicateKeyError(top);
      return;
    }
    B::SetKey(&n, top.key, top.key_pos);
    builder_.Add(std::move(n));
  }

  // Places the collection that just ended (the builder's last value).
  void AttachLast() {
    if (frames_.empty()) {
      root_is_null_ = false;
      root_ = builder_.TakeRoot();
      have_root_ = true;
      return;
    }
    Frame& top = frames_.back();
    if (!top.is_map) {
      ++top.index;
      return;
    }
    top.have_key = false;
    // The collection is a child already: compare the members before it.
    if (DuplicateKey(top, builder_.ChildCount() - 1)) {
      DuplicateKeyError(top);
      builder_.DropLast();
      return;
    }
    B::SetKey(&builder_.Last(), top.key, top.key_pos);
  }

  // Kubernetes refuses duplicate keys; the first is kept.
  void DuplicateKeyError(const Frame& top) {
    out_->errors.push_back(SyntaxError(
        top.key_pos, absl::StrCat("mapping key \"", std::string(top.key), "\" already defined")));
  }

  // Hands the documents out, once every node is in place.
  void Finish() {
    B::Finish(tree_.get());
    for (const auto& [root, start] : roots_) {
      StreamDocument d;
      d.tree = tree_;
      d.value = &tree_->nodes[root];
      d.start = start;
      out_->documents.push_back(std::move(d));
    }
  }

  std::string_view text_;
  const DecodeLimits& limits_;
  Stream* out_;
  std::shared_ptr<NodeTree> tree_;
  NodeTreeBuilder builder_;
  bool in_document_ = false;
  size_t doc_count_ = 0;
  size_t doc_start_index_ = 0;
  SourcePosition doc_start_;
  uint32_t root_ = 0;
  bool have_root_ = false;
  bool root_is_null_ = true;
  std::vector<std::pair<uint32_t, SourcePosition>> roots_;
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

std::string_view View(const Value& s) {
  return std::string_view(s.GetString(), s.GetStringLength());
}

// Adds a parsed JSON value as nodes (depth already checked, so recursion
// is bounded); strings view the document.
void Convert(const Value& v, NodeTreeBuilder* b) {
  if (v.IsObject()) {
    b->Begin(Node::Type::kObject, {});
    for (const auto& m : v.GetObject()) {
      Convert(m.value, b);
      B::SetKey(&b->Last(), View(m.name), {});
    }
    b->End();
  } else if (v.IsArray()) {
    b->Begin(Node::Type::kArray, {});
    for (const Value& item : v.GetArray()) Convert(item, b);
    b->End();
  } else if (v.IsString()) {
    b->Add(B::String(View(v), {}));
  } else if (v.IsBool()) {
    B::SetBool(&b->AddNull({}), v.GetBool());
  } else if (v.IsInt64()) {
    B::SetInt(&b->AddNull({}), v.GetInt64());
  } else if (v.IsUint64()) {
    B::SetUint(&b->AddNull({}), v.GetUint64());
  } else if (v.IsNumber()) {
    B::SetDouble(&b->AddNull({}), v.GetDouble());
  } else {
    b->AddNull({});
  }
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
  auto tree = std::make_shared<NodeTree>();
  tree->has_positions = false;
  NodeTreeBuilder builder(tree.get());
  Convert(*doc, &builder);
  uint32_t root = builder.TakeRoot();
  B::Finish(tree.get());
  tree->keep_alive = std::move(doc);
  StreamDocument d;
  d.value = &tree->nodes[root];
  d.tree = std::move(tree);
  d.start = {1, 1};
  out->documents.push_back(std::move(d));
}

bool IsList(const Node& v) {
  const Node* kind = v.FindMember("kind");
  if (kind == nullptr || !kind->IsString() || kind->GetString() != "List") return false;
  const Node* items = v.FindMember("items");
  return items != nullptr && items->IsArray();
}

// Replaces each list (a top-level array, or `kind: List`) by its items.
void ExpandLists(const DecodeLimits& limits, Stream* out) {
  // Most streams hold no list: their documents stay as they are, with no
  // second vector.
  if (std::none_of(out->documents.begin(), out->documents.end(), [](const StreamDocument& d) {
        return d.value->IsArray() || IsList(*d.value);
      })) {
    return;
  }
  std::vector<StreamDocument> expanded;
  for (StreamDocument& d : out->documents) {
    const Node* items = nullptr;
    std::string prefix;
    if (d.value->IsArray()) {
      items = d.value;
    } else if (IsList(*d.value)) {
      items = d.value->FindMember("items");
      prefix = "items";
    }
    if (items == nullptr) {
      expanded.push_back(std::move(d));
      continue;
    }
    size_t i = 0;
    for (const Node& item : *items) {
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

Stream ReadStreamImpl(std::string_view text, const DecodeLimits& limits, bool allow_fast,
                      bool* used_fast, bool borrow) {
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
    YamlReader(text, limits, borrow, &out).Run(allow_fast, used_fast);
  }
  ExpandLists(limits, &out);
  return out;
}

}  // namespace

Stream ReadStream(std::string_view text, const DecodeLimits& limits, InputText input) {
  return ReadStreamImpl(text, limits, /*allow_fast=*/kYamlFastPathEnabled, nullptr,
                        /*borrow=*/input == InputText::kOutlivesStream);
}

Stream ReadStreamForTest(std::string_view text, const DecodeLimits& limits, bool allow_fast,
                         bool* used_fast) {
  return ReadStreamImpl(text, limits, allow_fast, used_fast, /*borrow=*/false);
}

SourcePosition FindPosition(const StreamDocument& doc, std::string_view path) {
  if (doc.value == nullptr || doc.tree == nullptr) return {};
  if (!doc.tree->has_positions) return doc.start;
  if (!path.empty() && path.back() == '.') path.remove_suffix(1);
  while (true) {
    if (const Node* n = FindNode(*doc.value, path)) return n->position();
    if (path.empty()) return doc.start;
    size_t cut = path.find_last_of(".[");
    path = cut == std::string_view::npos ? std::string_view() : path.substr(0, cut);
  }
}

}  // namespace qdirect::spec
