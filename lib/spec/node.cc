#include "spec/node.h"

#include <charconv>
#include <utility>

#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::spec {

// Nodes are copied a few times while a tree is built: keep them small.
static_assert(sizeof(Node) == 64);

const Node* Node::FindMember(std::string_view key) const {
  if (!IsObject()) return nullptr;
  for (const Node& m : *this) {
    if (m.key_ == key) return &m;
  }
  return nullptr;
}

Node NodeTreeBuilder::Null(SourcePosition pos) {
  Node n;
  n.line_ = pos.line;
  n.column_ = pos.column;
  return n;
}

Node NodeTreeBuilder::String(std::string_view text, SourcePosition pos) {
  Node n = Null(pos);
  SetString(&n, text);
  return n;
}

void NodeTreeBuilder::Reserve() {
  pending_.reserve(64);
  open_.reserve(16);
}

void NodeTreeBuilder::End() {
  const size_t mark = open_.back();
  open_.pop_back();
  std::vector<Node>& nodes = tree_->nodes;
  const size_t count = pending_.size() - mark;
  Node& n = pending_[mark - 1];
  n.first_ = static_cast<int32_t>(nodes.size());
  n.count_ = static_cast<uint32_t>(count);
  nodes.insert(nodes.end(), pending_.begin() + static_cast<ptrdiff_t>(mark), pending_.end());
  pending_.resize(mark);
}

uint32_t NodeTreeBuilder::TakeRoot() {
  tree_->nodes.push_back(std::move(pending_.back()));
  pending_.pop_back();
  return static_cast<uint32_t>(tree_->nodes.size() - 1);
}

void NodeTreeBuilder::Reset() {
  pending_.clear();
  open_.clear();
}

void NodeTreeBuilder::Finish(NodeTree* tree) {
  // Absolute child indices become offsets from each node.
  int32_t index = 0;
  for (Node& n : tree->nodes) {
    if (n.count_ != 0) n.first_ -= index;
    ++index;
  }
}

namespace {

// Matches path under n: "[i]" for an array item, "key" for a member (keys
// may hold dots, so each member whose key prefixes path is tried, latest
// first), each followed by "." and more, or by "[i]".
const Node* Walk(const Node& n, std::string_view path) {
  if (path.empty()) return &n;
  if (n.IsArray()) {
    if (path[0] != '[') return nullptr;
    size_t index = 0;
    auto [end, ec] = std::from_chars(path.data() + 1, path.data() + path.size(), index);
    if (ec != std::errc() || end == path.data() + path.size() || *end != ']') return nullptr;
    if (index >= n.Size()) return nullptr;
    std::string_view rest = path.substr(static_cast<size_t>(end - path.data()) + 1);
    if (!rest.empty() && rest[0] == '.') {
      rest.remove_prefix(1);
      if (rest.empty()) return nullptr;
    }
    return Walk(n[index], rest);
  }
  if (!n.IsObject()) return nullptr;
  for (size_t i = n.Size(); i-- > 0;) {
    std::string_view key = n[i].key();
    // Most members differ at their key's first byte: no compare call for
    // them (path is not empty here).
    if (!key.empty() && key[0] != path[0]) continue;
    if (!path.starts_with(key)) continue;
    std::string_view rest = path.substr(key.size());
    if (!rest.empty() && rest[0] != '.' && rest[0] != '[') continue;
    if (!rest.empty() && rest[0] == '.') {
      rest.remove_prefix(1);
      if (rest.empty()) continue;
    }
    if (const Node* found = Walk(n[i], rest)) return found;
  }
  return nullptr;
}

}  // namespace

const Node* FindNode(const Node& root, std::string_view path) { return Walk(root, path); }

std::string JsonTypeName(const Node& v) {
  switch (v.type()) {
    case Node::Type::kObject: return "object";
    case Node::Type::kArray: return "array";
    case Node::Type::kString: return "string";
    case Node::Type::kBool: return "boolean";
    case Node::Type::kInt:
    case Node::Type::kUint:
    case Node::Type::kDouble: return "number";
    case Node::Type::kNull: break;
  }
  return "null";
}

std::string Describe(const Node& v) {
  switch (v.type()) {
    case Node::Type::kObject: return "{...}";
    case Node::Type::kArray: return "[...]";
    case Node::Type::kString: return std::string(v.GetString());
    case Node::Type::kBool: return v.GetBool() ? "true" : "false";
    case Node::Type::kInt: return std::to_string(v.GetInt64());
    case Node::Type::kUint: return std::to_string(v.GetUint64());
    case Node::Type::kDouble: {
      // As a JSON writer spells it (shortest round trip, "1e30", "0.5").
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      w.Double(v.GetDouble());
      return std::string(buf.GetString(), buf.GetSize());
    }
    case Node::Type::kNull: break;
  }
  return "null";
}

}  // namespace qdirect::spec
