// The block-YAML subset scanner (see yaml_fast.h). Every rule here mirrors
// what libyaml 0.2.5 does for the same input; where mirroring would need
// more than a few lines (folding, escapes, flow content, empty sequence
// items, anchors, tags...) the scanner gives up and libyaml reads the
// stream instead. The nodes it builds are those stream.cc builds from
// libyaml's events: a mapping's members are positioned at their key, a
// plain scalar resolves through yaml_plain.h.

#include "spec/yaml_fast.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/byte_flags.h"
#include "spec/yaml_plain.h"

namespace qdirect::spec {
namespace {

using B = NodeTreeBuilder;

SourcePosition Pos(size_t line, size_t col) {
  return {static_cast<uint32_t>(line + 1), static_cast<uint32_t>(col + 1)};
}

// Characters that start a YAML indicator.
constexpr std::array<bool, 256> kIndicator = [] {
  std::array<bool, 256> t{};
  for (char c : std::string_view("-?:,[]{}#&*!|>'\"%@`")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

class FastScanner {
 public:
  FastScanner(std::string_view text, const DecodeLimits& limits, NodeTree* tree,
              std::vector<FastDocument>* docs)
      : t_(text), limits_(limits), tree_(tree), docs_(docs), builder_(tree) {}

  bool Run() {
    if (!SplitLines()) return false;
    bool pending = false;  // a `---` opened a document with no content yet
    size_t pending_line = 0;
    while (true) {
      int n = 0;
      if (!NextContent(&n)) return false;
      if (n == -1) {
        if (pending && !CountDocument()) return false;  // an empty one: no root
        if (li_ >= lines_.size()) return true;
        pending = true;
        pending_line = li_;
        ++li_;
        continue;
      }
      SourcePosition start;
      if (pending) {
        start = Pos(pending_line, 0);
      } else {
        if (started_) return false;  // cannot happen: content ends at a marker
        start = Pos(li_, static_cast<size_t>(n));
      }
      if (!CountDocument()) return false;
      started_ = true;
      pending = false;
      if (!BlockNode(static_cast<size_t>(n))) return false;
      docs_->push_back({builder_.TakeRoot(), start});
      int after = 0;
      if (!NextContent(&after)) return false;
      if (after != -1) return false;
    }
  }

 private:
  struct Line {
    size_t begin, end;  // end excludes the line break
    bool terminated;    // has a line break
    size_t indent;      // leading spaces
  };

  // Inline: called once per line, its call cost was a third of its own.
  [[gnu::always_inline]] void AddLine(size_t begin, size_t end, bool terminated) {
    size_t i = begin;
    // Indents are spaces only: eight at a time (words may run past the
    // line, not past the text: the line break stops the count), then to
    // the first other.
    while (i + 8 <= t_.size()) {
      const uint64_t other = LoadWord(t_.data() + i) ^ (kByteOnes * ' ');
      if (other != 0) {
        i += static_cast<size_t>(std::countr_zero(other)) / 8;
        break;
      }
      i += 8;
    }
    while (i < end && t_[i] == ' ') ++i;
    i = std::min(i, end);
    lines_.push_back({begin, end, terminated, i - begin});
  }

  bool SplitLines() {
    lines_.reserve(t_.size() / 16 + 1);
    size_t begin = 0;
    size_t i = 0;
    while (i < t_.size()) {
      // Eight printable ASCII bytes (no break, tab or control among them)
      // at a time; else straight to the first byte below 0x20 or above 0x7e.
      if (i + 8 <= t_.size()) {
        const uint64_t x = LoadWord(t_.data() + i);
        const uint64_t special = ByteFlagsBelow(x, 0x20) | ByteFlagsAboveTilde(x);
        if (special == 0) {
          i += 8;
          continue;
        }
        i += static_cast<size_t>(std::countr_zero(special)) / 8;
      }
      unsigned char c = static_cast<unsigned char>(t_[i]);
      if (c == '\n') {
        AddLine(begin, i, true);
        begin = i + 1;
      } else if (c == '\r') {
        if (i + 1 >= t_.size() || t_[i + 1] != '\n') return false;
        AddLine(begin, i, true);
        ++i;
        begin = i + 1;
      } else if (c < 0x20 || c > 0x7e) {
        return false;  // tabs, controls, UTF-8 (columns count characters)
      }
      ++i;
    }
    if (begin < t_.size()) AddLine(begin, t_.size(), false);
    // Nodes: about one per line.
    tree_->nodes.reserve(tree_->nodes.size() + lines_.size() + 8);
    return true;
  }

  size_t Indent(const Line& l) const { return l.indent; }

  // The libyaml reader refuses documents past the limit: leave them to it.
  bool CountDocument() { return ++documents_ <= limits_.max_documents; }

  // Opens a collection at (line, col), unless it would nest deeper than the
  // libyaml reader allows.
  bool Open(Node::Type type, size_t line, size_t col) {
    if (builder_.depth() >= limits_.max_depth) return false;
    builder_.Begin(type, Pos(line, col));
    return true;
  }

  // Whether the open mapping has key already (which the libyaml reader
  // reports); a mapping this large is left to it too.
  bool DuplicateKey(std::string_view key) const {
    const size_t count = builder_.ChildCount();
    return count >= kMaxScannedKeys || builder_.HasChildKey(key, count);
  }

  bool TooLong(std::string_view text) const { return text.size() > limits_.max_string_bytes; }

  // Moves li_ to the next line with content; *indent is its indent, or -1
  // at the end or at a `---` line. False outside the subset.
  bool NextContent(int* indent) {
    while (li_ < lines_.size()) {
      const Line& l = lines_[li_];
      size_t sp = Indent(l);
      if (l.begin + sp == l.end || t_[l.begin + sp] == '#') {
        ++li_;
        continue;
      }
      std::string_view s = t_.substr(l.begin, l.end - l.begin);
      if (sp == 0 && (s.substr(0, 3) == "---" || s.substr(0, 3) == "...")) {
        if (s.substr(0, 3) == "...") return false;
        if (s.size() > 3) {
          if (s[3] != ' ') return false;
          size_t k = s.find_first_not_of(' ', 3);
          if (k != std::string_view::npos && s[k] != '#') return false;
        }
        *indent = -1;
        return true;
      }
      if (sp > 100000) return false;
      *indent = static_cast<int>(sp);
      return true;
    }
    *indent = -1;
    return true;
  }

  bool IsDash(size_t line, size_t col) const {
    const Line& l = lines_[line];
    size_t p = l.begin + col;
    return p < l.end && t_[p] == '-' && (p + 1 == l.end || t_[p + 1] == ' ');
  }

  // A single-line quoted scalar starting at p; *end is past the quote.
  bool Quoted(const Line& l, size_t p, std::string_view* text, size_t* end) {
    char q = t_[p];
    size_t i = p + 1;
    std::string owned;
    bool escaped = false;
    while (true) {
      if (i >= l.end) return false;  // multi-line
      char c = t_[i];
      if (q == '"' && c == '\\') return false;
      if (c == q) {
        if (q == '\'' && i + 1 < l.end && t_[i + 1] == '\'') {
          if (!escaped) owned.assign(t_.substr(p + 1, i - p - 1));
          escaped = true;
          owned.push_back('\'');
          i += 2;
          continue;
        }
        break;
      }
      if (escaped) owned.push_back(c);
      ++i;
    }
    if (escaped) {
      *text = tree_->owned.emplace_front(std::move(owned));
    } else {
      *text = t_.substr(p + 1, i - p - 1);
    }
    *end = i + 1;
    return true;
  }

  // The first ':' or '#' in [i, end), or end: eight bytes at a time, then
  // bytewise. Words may run past end (not past the text): most keys and
  // values are shorter than a word.
  size_t FindColonOrHash(size_t i, size_t end) const {
    while (i < end && i + 8 <= t_.size()) {
      const uint64_t x = LoadWord(t_.data() + i);
      const uint64_t found = ByteFlagsEqual(x, ':') | ByteFlagsEqual(x, '#');
      if (found != 0) return std::min(end, i + static_cast<size_t>(std::countr_zero(found)) / 8);
      i += 8;
    }
    if (i >= end) return end;
    while (i < end && t_[i] != ':' && t_[i] != '#') ++i;
    return i;
  }

  static bool Indicator(char c) { return kIndicator[static_cast<unsigned char>(c)]; }

  // A key at (li_, col) followed by ':'; *after is past the ':'.
  bool Key(size_t col, std::string_view* text, bool* plain, size_t* after) {
    const Line& l = lines_[li_];
    size_t p = l.begin + col;
    if (p >= l.end) return false;
    size_t i;
    if (t_[p] == '\'' || t_[p] == '"') {
      if (!Quoted(l, p, text, &i)) return false;
      while (i < l.end && t_[i] == ' ') ++i;
      if (i >= l.end || t_[i] != ':') return false;
      *plain = false;
    } else {
      char c = t_[p];
      if (Indicator(c) && !(c == '-' && p + 1 < l.end && t_[p + 1] != ' ')) return false;
      i = p;
      while (true) {
        // Only a ':' ends a key and only a '#' after a space starts a
        // comment: skip to the next of either.
        i = FindColonOrHash(i, l.end);
        if (i >= l.end) return false;
        if (t_[i] == '#' && t_[i - 1] == ' ') return false;
        if (t_[i] == ':' && (i + 1 == l.end || t_[i + 1] == ' ')) break;
        ++i;
      }
      size_t e = i;
      while (e > p && t_[e - 1] == ' ') --e;
      *text = t_.substr(p, e - p);
      *plain = true;
    }
    if (i + 1 < l.end && t_[i + 1] != ' ') return false;
    if (i - p > 1000) return false;  // libyaml's simple key length limit
    *after = i + 1;
    return true;
  }

  // A collection starting at (li_, col).
  bool BlockNode(size_t col) {
    if (++depth_ > limits_.max_depth) return false;
    bool ok;
    if (IsDash(li_, col)) {
      ok = Sequence(col, false);
    } else {
      ok = Mapping(col);
    }
    --depth_;
    return ok;
  }

  // A key Key() read already: a sequence item asks whether it is a
  // mapping's first key.
  struct ScannedKey {
    std::string_view text;
    bool plain = false;
    size_t after = 0;
  };

  // A mapping at (li_, col); first, when given, is its first key.
  bool Mapping(size_t col, const ScannedKey* first = nullptr) {
    if (!Open(Node::Type::kObject, li_, col)) return false;
    while (true) {
      std::string_view key;
      bool plain = false;
      size_t after = 0;
      if (first != nullptr) {
        key = first->text;
        plain = first->plain;
        after = first->after;
        first = nullptr;
      } else if (!Key(col, &key, &plain, &after)) {
        return false;
      }
      if (TooLong(key) || DuplicateKey(key)) return false;
      const SourcePosition key_pos = Pos(li_, col);
      const Line& l = lines_[li_];
      size_t p = after;
      while (p < l.end && t_[p] == ' ') ++p;
      if (p == l.end || t_[p] == '#') {
        ++li_;
        int n = 0;
        if (!NextContent(&n)) return false;
        if (n > static_cast<int>(col)) {
          if (!BlockNode(static_cast<size_t>(n))) return false;
        } else if (n == static_cast<int>(col) && IsDash(li_, col)) {
          if (++depth_ > limits_.max_depth) return false;
          if (!Sequence(col, true)) return false;
          --depth_;
        } else {
          builder_.AddNull({});  // an empty value
        }
      } else if (!InlineValue(p - l.begin, col)) {
        return false;
      }
      B::SetKey(&builder_.Last(), key, key_pos);
      int n = 0;
      if (!NextContent(&n)) return false;
      if (n < static_cast<int>(col)) break;
      if (n > static_cast<int>(col) || IsDash(li_, col)) return false;
    }
    builder_.End();
    return true;
  }

  bool Sequence(size_t col, bool indentless) {
    if (!Open(Node::Type::kArray, li_, col)) return false;
    while (true) {
      const Line& l = lines_[li_];
      size_t p = l.begin + col + 1;
      while (p < l.end && t_[p] == ' ') ++p;
      size_t q = p - l.begin;
      if (p == l.end || t_[p] == '#') {
        ++li_;
        int n = 0;
        if (!NextContent(&n)) return false;
        if (n <= static_cast<int>(col)) return false;  // an empty item
        if (!BlockNode(static_cast<size_t>(n))) return false;
      } else if (IsDash(li_, q)) {
        if (++depth_ > limits_.max_depth) return false;
        if (!Sequence(q, false)) return false;
        --depth_;
      } else {
        ScannedKey key;
        if (Key(q, &key.text, &key.plain, &key.after)) {
          if (++depth_ > limits_.max_depth) return false;
          if (!Mapping(q, &key)) return false;
          --depth_;
        } else if (!InlineValue(q, col)) {
          return false;
        }
      }
      int n = 0;
      if (!NextContent(&n)) return false;
      if (n < static_cast<int>(col)) break;
      if (n > static_cast<int>(col)) return false;
      if (!IsDash(li_, col)) {
        if (indentless) break;
        return false;
      }
    }
    builder_.End();
    return true;
  }

  // A value after "key: " or "- " at (li_, col); indent is the enclosing
  // block's. Leaves li_ on the next line to read.
  bool InlineValue(size_t col, size_t indent) {
    const Line& l = lines_[li_];
    size_t p = l.begin + col;
    char c = t_[p];
    size_t line = li_;
    if (c == '\'' || c == '"') {
      std::string_view text;
      size_t end = 0;
      if (!Quoted(l, p, &text, &end)) return false;
      if (end < l.end && t_[end] != ' ') return false;
      if (!RestIsComment(l, end)) return false;
      if (TooLong(text)) return false;
      B::SetString(&builder_.AddNull(Pos(line, col)), text);
      ++li_;
      return true;
    }
    if (c == '{' || c == '[') {
      if (p + 1 >= l.end || t_[p + 1] != (c == '{' ? '}' : ']')) return false;
      if (p + 2 < l.end && t_[p + 2] != ' ') return false;
      if (!RestIsComment(l, p + 2)) return false;
      if (!Open(c == '{' ? Node::Type::kObject : Node::Type::kArray, line, col)) return false;
      builder_.End();
      ++li_;
      return true;
    }
    if (c == '|') return Literal(col, indent);
    if (Indicator(c) && !(c == '-' && p + 1 < l.end && t_[p + 1] != ' ')) return false;
    // A ": " ends a key (not a plain value's business here), a " #" starts
    // a comment. The value's first character is neither ' ' nor '#'.
    size_t i = p;
    while (true) {
      i = FindColonOrHash(i, l.end);
      if (i == l.end) break;
      if (t_[i] == ':' && (i + 1 == l.end || t_[i + 1] == ' ')) return false;
      if (t_[i] == '#' && t_[i - 1] == ' ') {
        --i;
        break;
      }
      ++i;
    }
    size_t e = i;
    while (e > p && t_[e - 1] == ' ') --e;
    std::string_view text = t_.substr(p, e - p);
    Node& scalar = builder_.AddNull(Pos(line, col));
    SetPlainScalar(&scalar, text);
    if (scalar.IsString() && TooLong(text)) return false;
    ++li_;
    // A more indented line that is not a comment would continue the
    // scalar: both callers refuse a next content line indented past their
    // block (`indent`), so that case leaves the subset there.
    return true;
  }

  bool RestIsComment(const Line& l, size_t p) {
    while (p < l.end && t_[p] == ' ') ++p;
    return p == l.end || t_[p] == '#';
  }

  // A literal block scalar whose '|' is at (li_, col).
  bool Literal(size_t col, size_t indent) {
    const Line& l = lines_[li_];
    size_t p = l.begin + col + 1;
    int chomp = 0;  // -1 strip, 0 clip, 1 keep
    if (p < l.end && t_[p] == '-') {
      chomp = -1;
      ++p;
    } else if (p < l.end && t_[p] == '+') {
      chomp = 1;
      ++p;
    }
    if (p < l.end && t_[p] != ' ') return false;
    if (!RestIsComment(l, p)) return false;
    size_t header = li_;
    size_t j = li_ + 1;
    size_t max_blank = 0;
    for (; j < lines_.size(); ++j) {
      size_t sp = Indent(lines_[j]);
      if (lines_[j].begin + sp != lines_[j].end) break;
      max_blank = std::max(max_blank, sp);
    }
    if (j >= lines_.size()) return false;
    size_t ind = Indent(lines_[j]);
    if (ind <= indent || max_blank > ind) return false;
    std::string s;
    size_t breaks = 0;
    bool have = false, last_break = false;
    for (j = header + 1; j < lines_.size(); ++j) {
      const Line& n = lines_[j];
      size_t sp = Indent(n);
      bool blank = n.begin + sp == n.end;
      if (blank && sp <= ind) {
        if (n.terminated) ++breaks;
        continue;
      }
      if (sp < ind) break;
      if (have && last_break) s.push_back('\n');
      s.append(breaks, '\n');
      breaks = 0;
      s.append(t_.substr(n.begin + ind, n.end - n.begin - ind));
      have = true;
      last_break = n.terminated;
    }
    if (chomp >= 0 && last_break) s.push_back('\n');
    if (chomp == 1) s.append(breaks, '\n');
    if (TooLong(s)) return false;
    builder_.Add(B::String(tree_->owned.emplace_front(std::move(s)), Pos(header, col)));
    li_ = j;
    return true;
  }

  // Mappings with more keys than this (rare, and quadratic to check for
  // duplicates here) are left to libyaml.
  static constexpr size_t kMaxScannedKeys = 64;

  std::string_view t_;
  const DecodeLimits& limits_;
  NodeTree* tree_;
  std::vector<FastDocument>* docs_;
  NodeTreeBuilder builder_;
  std::vector<Line> lines_;
  size_t li_ = 0;
  size_t depth_ = 0;
  size_t documents_ = 0;
  bool started_ = false;
};

}  // namespace

bool FastYamlTree(std::string_view text, const DecodeLimits& limits, NodeTree* tree,
                  std::vector<FastDocument>* docs) {
  if (text.size() > limits.max_document_bytes) return false;
  return FastScanner(text, limits, tree, docs).Run();
}

}  // namespace qdirect::spec
