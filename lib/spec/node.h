#pragma once

// The value tree a manifest decodes from: one flat vector of nodes per
// stream, each knowing where it starts in the source. YAML builds it
// straight from scanner events, with texts viewing the stream's own copy of
// the input; JSON converts a parsed RapidJSON document (the slow path).
//
// One structure carries values, line and column, and the plain text of a
// YAML scalar that resolved to a number or bool, so a finding needs no side
// table and a string field can take `name: 1234` as "1234" the way
// Kubernetes' typed decoding does.

#include <cstdint>
#include <forward_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qdirect::spec {

// 1-based line and column of a value in the source text (0 when unknown).
struct SourcePosition {
  uint32_t line = 0;
  uint32_t column = 0;
};

// One value. The children of an array or object are contiguous nodes; an
// object's children carry their member key. Read-only once its tree is
// built, and read where the tree holds it (a copy cannot find its
// children).
class Node {
 public:
  enum class Type : uint8_t { kNull, kBool, kInt, kUint, kDouble, kString, kArray, kObject };

  Type type() const { return type_; }
  bool IsNull() const { return type_ == Type::kNull; }
  bool IsBool() const { return type_ == Type::kBool; }
  bool IsString() const { return type_ == Type::kString; }
  bool IsArray() const { return type_ == Type::kArray; }
  bool IsObject() const { return type_ == Type::kObject; }
  bool IsNumber() const {
    return type_ == Type::kInt || type_ == Type::kUint || type_ == Type::kDouble;
  }
  // A number that fits int64 (kUint holds only those beyond INT64_MAX).
  bool IsInt64() const { return type_ == Type::kInt; }
  bool IsDouble() const { return type_ == Type::kDouble; }

  bool GetBool() const { return number_.i != 0; }
  int64_t GetInt64() const { return number_.i; }
  uint64_t GetUint64() const { return static_cast<uint64_t>(number_.i); }
  double GetDouble() const { return number_.d; }
  std::string_view GetString() const { return text_; }

  // The source text of a plain YAML scalar that resolved to a bool or a
  // number; nullopt for every other node.
  std::optional<std::string_view> plain_text() const {
    if (plain_) return text_;
    return std::nullopt;
  }
  // The member key of an object's child ("" for other nodes).
  std::string_view key() const { return key_; }
  // Where the value starts; for an object's member, where its key starts.
  SourcePosition position() const { return {line_, column_}; }

  // Children of an array or object.
  size_t Size() const { return count_; }
  const Node& operator[](size_t i) const { return begin()[i]; }
  const Node* begin() const { return this + first_; }
  const Node* end() const { return begin() + count_; }
  // The member named key of an object (the first, if JSON repeats a key),
  // or null.
  const Node* FindMember(std::string_view key) const;

 private:
  friend class NodeTreeBuilder;

  Type type_ = Type::kNull;
  bool plain_ = false;  // text_ is a resolved plain scalar's source text
  uint32_t line_ = 0;
  uint32_t column_ = 0;
  // The children: while building, nodes [first_, first_ + count_) of the
  // tree; once finished, this + first_ onwards (nodes are read in place,
  // which keeps a node at 64 bytes with no pointer to fix up).
  int32_t first_ = 0;
  uint32_t count_ = 0;
  std::string_view key_;
  std::string_view text_;
  union {
    int64_t i;  // kBool (0/1), kInt, kUint (bit pattern)
    double d;   // kDouble
  } number_ = {0};
};

// The nodes of one stream and the texts they view.
struct NodeTree {
  std::vector<Node> nodes;
  // The input, for texts that are slices of it (empty when the caller keeps
  // the input alive: ReadStream's InputText::kOutlivesStream).
  std::string source;
  // Texts that are not (escapes, libyaml's): a list, whose elements stay
  // put and which allocates nothing while empty.
  std::forward_list<std::string> owned;
  std::shared_ptr<const void> keep_alive;  // a parsed JSON document's strings
  bool has_positions = true;               // false for JSON input
};

// Builds a NodeTree: the events of a stream, values bottom-up. Every value
// is built in place on a stack: a collection's node first, its children
// after it; when the collection ends its children move into the tree, side
// by side, and it stays on the stack as a child of its own parent.
class NodeTreeBuilder {
 public:
  // The stacks a builder works on. A caller that builds many small trees
  // can keep one and lend it to each builder in turn: reading a stream
  // then allocates its tree alone.
  struct Stacks {
    std::vector<Node> pending;
    std::vector<size_t> open;
  };
  // Stacks larger than this many nodes (64 KiB) are not kept for reuse.
  static constexpr size_t kMaxReusedNodes = 1024;

  explicit NodeTreeBuilder(NodeTree* tree) : tree_(tree) {}
  // Works on reuse's stacks and hands them back when done.
  NodeTreeBuilder(NodeTree* tree, Stacks* reuse)
      : tree_(tree), reuse_(reuse), pending_(std::move(reuse->pending)),
        open_(std::move(reuse->open)) {
    pending_.clear();
    open_.clear();
  }
  ~NodeTreeBuilder() {
    if (reuse_ != nullptr && pending_.capacity() <= kMaxReusedNodes) {
      reuse_->pending = std::move(pending_);
      reuse_->open = std::move(open_);
    }
  }
  NodeTreeBuilder(const NodeTreeBuilder&) = delete;
  NodeTreeBuilder& operator=(const NodeTreeBuilder&) = delete;

  static Node Null(SourcePosition pos);
  static Node String(std::string_view text, SourcePosition pos);
  // Turn a null (Null() or AddNull()) into a scalar in place. SetUint
  // makes a kInt when u fits int64.
  static void SetBool(Node* n, bool b) {
    n->type_ = Node::Type::kBool;
    n->number_.i = b ? 1 : 0;
  }
  static void SetInt(Node* n, int64_t i) {
    n->type_ = Node::Type::kInt;
    n->number_.i = i;
  }
  static void SetUint(Node* n, uint64_t u) {
    n->type_ = u <= static_cast<uint64_t>(INT64_MAX) ? Node::Type::kInt : Node::Type::kUint;
    n->number_.i = static_cast<int64_t>(u);
  }
  static void SetDouble(Node* n, double d) {
    n->type_ = Node::Type::kDouble;
    n->number_.d = d;
  }
  static void SetString(Node* n, std::string_view text) {
    n->type_ = Node::Type::kString;
    n->text_ = text;
  }
  // Marks a resolved plain scalar's source text.
  static void SetPlainText(Node* n, std::string_view text) {
    n->plain_ = true;
    n->text_ = text;
  }
  static void SetKey(Node* n, std::string_view key, SourcePosition key_pos) {
    n->key_ = key;
    n->line_ = key_pos.line;
    n->column_ = key_pos.column;
  }

  // Opens an array or object as the next value; its children are the
  // values added until End().
  [[gnu::always_inline]] void Begin(Node::Type type, SourcePosition pos) {
    if (pending_.capacity() == 0) Reserve();
    AddNull(pos).type_ = type;
    open_.push_back(pending_.size());
  }
  // Closes the innermost collection, which becomes Last().
  void End();
  // Adds a finished scalar as the next value.
  void Add(Node&& n) { pending_.push_back(std::move(n)); }
  // Adds a null at pos as the next value, to be set in place (SetBool ...):
  // scalars are built where they stay, not copied in from temporaries.
  Node& AddNull(SourcePosition pos) {
    Node& n = pending_.emplace_back();
    n.line_ = pos.line;
    n.column_ = pos.column;
    return n;
  }
  // The value added or ended last: a member's key is set on it.
  Node& Last() { return pending_.back(); }
  // Takes back the last value (a member whose key was already there).
  void DropLast() { pending_.pop_back(); }
  // With no collection open: moves the document's value into the tree and
  // returns its index.
  uint32_t TakeRoot();

  size_t depth() const { return open_.size(); }
  // The values added to the innermost open collection so far.
  size_t ChildCount() const { return pending_.size() - open_.back(); }
  const Node& Child(size_t i) const { return pending_[open_.back() + i]; }
  // Whether one of the first `count` of them has member key `key` (both
  // readers refuse a key a mapping has already).
  bool HasChildKey(std::string_view key, size_t count) const {
    const Node* child = &pending_[open_.back()];
    for (size_t i = 0; i < count; ++i) {
      // Most keys differ in length or first byte: no compare call for them.
      const std::string_view k = child[i].key_;
      if (k.size() == key.size() && (k.empty() || k[0] == key[0]) && k == key) return true;
    }
    return false;
  }
  // Forgets what is open (a new document).
  void Reset();

  // Turns child indices into offsets: after the last value.
  static void Finish(NodeTree* tree);

 private:
  // Room for a manifest's usual depth and members: no growth steps.
  void Reserve();

  NodeTree* tree_;
  Stacks* reuse_ = nullptr;
  std::vector<Node> pending_;  // open collections and their children so far
  std::vector<size_t> open_;   // where each open collection's children start
};

// The node at path under root ("spec.domain.devices.disks[1].bus"; keys
// may contain dots), or null.
const Node* FindNode(const Node& root, std::string_view path);

// A value as it would be shown in an error ("12", "true", "{...}").
std::string Describe(const Node& v);
std::string JsonTypeName(const Node& v);

}  // namespace qdirect::spec
