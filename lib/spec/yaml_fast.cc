// The block-YAML subset scanner (see yaml_fast.h). Every rule here mirrors
// what libyaml 0.2.5 does for the same input; where mirroring would need
// more than a few lines (folding, escapes, flow content, empty sequence
// items, anchors, tags...) the scanner gives up and libyaml reads the
// stream instead. The nodes it builds are those stream.cc builds from
// libyaml's events: a mapping's members are positioned at their key, a
// plain scalar resolves through yaml_plain.h.
//
// One cursor walks the text a line at a time, with no line table: each
// byte is checked (printable ASCII, "\n" or "\r\n" breaks) by the scan that
// passes it, and every byte is passed before the scanner says yes.

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

// Bytes outside printable ASCII: the line break, or a byte outside the
// subset (tabs, controls, UTF-8, whose columns count characters).
[[gnu::always_inline]] inline bool Unprintable(char c) {
  return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e;
}

// Where a plain key or value can stop: ':' (a key's end), '#' (a comment)
// and the bytes Unprintable() names.
[[gnu::always_inline]] inline uint64_t PlainStops(uint64_t x) {
  return ByteFlagsUnprintable(x) | ByteFlagsEqual(x, ':') | ByteFlagsEqual(x, '#');
}
[[gnu::always_inline]] inline bool PlainStop(char c) {
  return c == ':' || c == '#' || Unprintable(c);
}

// First bytes of a line's content that need none of NextContent's care (a
// break, a comment, and at the line's start a `---` or `...` marker).
constexpr std::array<bool, 256> kPlainLineStart = [] {
  std::array<bool, 256> t{};
  t.fill(true);
  for (char c : std::string_view("\n\r#-.")) t[static_cast<unsigned char>(c)] = false;
  return t;
}();

class FastScanner {
 public:
  FastScanner(std::string_view text, const DecodeLimits& limits, NodeTree* tree,
              std::vector<FastDocument>* docs)
      : t_(text.data()), n_(text.size()), limits_(limits), tree_(tree), docs_(docs),
        builder_(tree, &stacks_) {}

  bool Run() {
    // Nodes: a manifest has about one per 20 bytes.
    tree_->nodes.reserve(tree_->nodes.size() + n_ / 16 + 16);
    bool pending = false;  // a `---` opened a document with no content yet
    size_t pending_line = 0;
    while (true) {
      int n = 0;
      if (!NextContent(&n)) return false;
      if (n == -1) {
        if (pending && !CountDocument()) return false;  // an empty one: no root
        if (line_ >= n_) return true;
        pending = true;
        pending_line = line_no_;
        if (!NextLine(marker_end_)) return false;
        continue;
      }
      SourcePosition start;
      if (pending) {
        start = Pos(pending_line, 0);
      } else {
        if (started_) return false;  // cannot happen: content ends at a marker
        start = Pos(line_no_, static_cast<size_t>(n));
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
  // The byte at i, with the end of the text read as a line break.
  char At(size_t i) const { return i < n_ ? t_[i] : '\n'; }
  static bool IsBreak(char c) { return c == '\n' || c == '\r'; }
  // Whether a key's ':' or a "-" item's dash at i - 1 ends there.
  bool SpaceOrBreak(size_t i) const {
    const char c = At(i);
    return c == ' ' || IsBreak(c);
  }

  // The first byte from i that is not a space (n_ at the end): eight at a
  // time, for indents.
  [[gnu::always_inline]] size_t SkipIndent(size_t i) const {
    while (i + 8 <= n_) {
      const uint64_t other = LoadWord(t_ + i) ^ (kByteOnes * ' ');
      if (other != 0) return i + static_cast<size_t>(std::countr_zero(other)) / 8;
      i += 8;
    }
    while (i < n_ && t_[i] == ' ') ++i;
    return i;
  }
  // The same for the few spaces after a ':' or a '-'.
  [[gnu::always_inline]] size_t SkipSpaces(size_t i) const {
    while (i < n_ && t_[i] == ' ') ++i;
    return i;
  }

  // The first byte from i where flags (a ByteFlags function) or stop (the
  // same test on one byte) holds, or n_: eight bytes at a time, then the
  // last few of the text one by one.
  template <typename Flags, typename Stop>
  [[gnu::always_inline]] size_t Find(size_t i, Flags flags, Stop stop) const {
    while (i + 8 <= n_) {
      const uint64_t found = flags(LoadWord(t_ + i));
      if (found != 0) return i + static_cast<size_t>(std::countr_zero(found)) / 8;
      i += 8;
    }
    while (i < n_ && !stop(t_[i])) ++i;
    return i;
  }

  // The end of the line holding i (its break, or n_), checking the bytes
  // up to it; false at a byte outside the subset.
  bool LineEnd(size_t i, size_t* end) const {
    i = Find(
        i, [](uint64_t x) { return ByteFlagsUnprintable(x); }, [](char c) { return Unprintable(c); });
    if (i < n_ && !IsBreak(t_[i])) return false;
    *end = i;
    return true;
  }

  // Moves the cursor past the line break at end (or to the end of the
  // text); a '\r' must start a "\r\n".
  [[gnu::always_inline]] bool NextLine(size_t end) {
    if (end >= n_) {
      line_ = n_;
      return true;
    }
    if (t_[end] == '\r') {
      if (end + 1 >= n_ || t_[end + 1] != '\n') return false;
      ++end;
    }
    line_ = end + 1;
    ++line_no_;
    return true;
  }

  // Moves past the rest of the line from i, which holds spaces and maybe a
  // comment; false if it holds anything else.
  [[gnu::always_inline]] bool SkipRestOfLine(size_t i) {
    i = SkipSpaces(i);
    size_t end = i;
    if (At(i) == '#') {
      if (!LineEnd(i, &end)) return false;
    } else if (!IsBreak(At(i))) {
      return false;
    }
    return NextLine(end);
  }

  // The libyaml reader refuses documents past the limit: leave them to it.
  bool CountDocument() { return ++documents_ <= limits_.max_documents; }

  // Opens a collection at (line, col), unless it would nest deeper than the
  // libyaml reader allows (which also bounds this scanner's recursion).
  [[gnu::always_inline]] bool Open(Node::Type type, size_t line, size_t col) {
    if (builder_.depth() >= limits_.max_depth) return false;
    builder_.Begin(type, Pos(line, col));
    return true;
  }

  // Whether the open mapping has key already (which the libyaml reader
  // reports); a mapping this large is left to it too. *seen holds a bit
  // per key's length and first byte: the members are compared only when
  // an earlier key set the same bit.
  bool DuplicateKey(std::string_view key, uint64_t* seen) const {
    const size_t count = builder_.ChildCount();
    if (count >= kMaxScannedKeys) return true;
    const uint64_t bit = uint64_t{1}
                         << ((key.size() * 7 + (key.empty() ? 0 : static_cast<size_t>(key[0]))) & 63);
    if ((*seen & bit) == 0) {
      *seen |= bit;
      return false;
    }
    return builder_.HasChildKey(key, count);
  }

  bool TooLong(std::string_view text) const { return text.size() > limits_.max_string_bytes; }

  // Moves the cursor to the next line with content; *indent is its indent,
  // or -1 at the end or at a `---` line (whose end is then marker_end_).
  // False outside the subset. Stays put on a content line.
  [[gnu::always_inline]] bool NextContent(int* indent) {
    // A collection's end and its parent both ask about the same line.
    if (line_ == content_line_) {
      *indent = content_indent_;
      return true;
    }
    // Most lines hold content (not a break, comment or marker) right away.
    if (line_ < n_) {
      const size_t p = SkipIndent(line_);
      if (p < n_) {
        const char c = t_[p];
        const size_t sp = p - line_;
        if ((kPlainLineStart[static_cast<unsigned char>(c)] || (sp != 0 && (c == '-' || c == '.'))) &&
            sp <= 100000) {
          *indent = static_cast<int>(sp);
          content_line_ = line_;
          content_indent_ = *indent;
          return true;
        }
      }
    }
    return SkipToContent(indent);
  }

  // NextContent past blank and comment lines, and at markers.
  [[gnu::noinline]] bool SkipToContent(int* indent) {
    while (line_ < n_) {
      const size_t p = SkipIndent(line_);
      const char c = At(p);
      if (IsBreak(c)) {
        if (!NextLine(p)) return false;
        continue;
      }
      if (c == '#') {
        size_t end = 0;
        if (!LineEnd(p, &end) || !NextLine(end)) return false;
        continue;
      }
      const size_t sp = p - line_;
      if (sp == 0 && (c == '-' || c == '.') && p + 3 <= n_ && t_[p + 1] == c && t_[p + 2] == c) {
        if (c == '.') return false;
        if (!SpaceOrBreak(p + 3)) return false;
        const size_t q = SkipSpaces(p + 3);
        marker_end_ = q;
        if (At(q) == '#') {
          if (!LineEnd(q, &marker_end_)) return false;
        } else if (!IsBreak(At(q))) {
          return false;
        }
        *indent = -1;
        return true;
      }
      if (sp > 100000) return false;
      *indent = static_cast<int>(sp);
      content_line_ = line_;
      content_indent_ = *indent;
      return true;
    }
    *indent = -1;
    return true;
  }

  // Whether the current line has a "-" item's dash at col.
  [[gnu::always_inline]] bool IsDash(size_t col) const {
    const size_t p = line_ + col;
    return p < n_ && t_[p] == '-' && SpaceOrBreak(p + 1);
  }

  // A single-line quoted scalar starting at p; *end is past the quote.
  bool Quoted(size_t p, std::string_view* text, size_t* end) {
    const char q = t_[p];
    size_t i = p + 1;
    size_t run = i;  // where the text not yet in owned starts
    std::string owned;
    bool escaped = false;
    while (true) {
      if (q == '"') {
        i = Find(
            i,
            [](uint64_t x) {
              return ByteFlagsUnprintable(x) | ByteFlagsEqual(x, '"') | ByteFlagsEqual(x, '\\');
            },
            [](char c) { return Unprintable(c) || c == '"' || c == '\\'; });
      } else {
        i = Find(
            i, [](uint64_t x) { return ByteFlagsUnprintable(x) | ByteFlagsEqual(x, '\''); },
            [](char c) { return Unprintable(c) || c == '\''; });
      }
      // A break (multi-line), a byte outside the subset, an escape.
      if (i >= n_ || t_[i] != q) return false;
      if (q == '\'' && i + 1 < n_ && t_[i + 1] == '\'') {
        owned.append(t_ + run, i + 1 - run);  // the text and one quote
        escaped = true;
        i += 2;
        run = i;
        continue;
      }
      break;
    }
    if (escaped) {
      owned.append(t_ + run, i - run);
      *text = tree_->owned.emplace_front(std::move(owned));
    } else {
      *text = std::string_view(t_ + p + 1, i - p - 1);
    }
    *end = i + 1;
    return true;
  }

  static bool Indicator(char c) { return kIndicator[static_cast<unsigned char>(c)]; }

  // Whether a plain scalar may start with c at p ("-x" may, "- x" is an item).
  bool PlainStart(char c, size_t p) const {
    return !Indicator(c) || (c == '-' && p + 1 < n_ && !SpaceOrBreak(p + 1));
  }

  // A key at col of the current line followed by ':'; *after is past the
  // ':'.
  [[gnu::always_inline]] bool Key(size_t col, std::string_view* text, bool* plain,
                                  size_t* after) {
    const size_t p = line_ + col;
    const char c = t_[p];  // a content line's: not a space, '#' or break
    size_t i;
    if (c == '\'' || c == '"') {
      if (!Quoted(p, text, &i)) return false;
      i = SkipSpaces(i);
      if (At(i) != ':' || !SpaceOrBreak(i + 1)) return false;
      *plain = false;
    } else {
      if (!PlainStart(c, p)) return false;
      i = p;
      while (true) {
        // Only a ':' before a space or break ends a key and only a '#'
        // after a space starts a comment: skip to the next of either.
        i = Find(
          i, [](uint64_t x) { return PlainStops(x); }, [](char c) { return PlainStop(c); });
        const char s = At(i);
        if (s == ':') {
          if (SpaceOrBreak(i + 1)) break;
        } else if (s != '#' || t_[i - 1] == ' ') {
          return false;  // a comment, the line's end, a byte outside the subset
        }
        ++i;
      }
      size_t e = i;
      while (t_[e - 1] == ' ') --e;  // a plain key starts with no space
      *text = std::string_view(t_ + p, e - p);
      *plain = true;
    }
    if (i - p > 1000) return false;  // libyaml's simple key length limit
    *after = i + 1;
    return true;
  }

  // A collection starting at col of the current line.
  bool BlockNode(size_t col) {
    if (IsDash(col)) return Sequence(col, false);
    return Mapping(col);
  }

  // A key Key() read already: a sequence item asks whether it is a
  // mapping's first key.
  struct ScannedKey {
    std::string_view text;
    bool plain = false;
    size_t after = 0;
  };

  // A mapping at col of the current line; first, when given, is its first
  // key.
  bool Mapping(size_t col, const ScannedKey* first = nullptr) {
    if (!Open(Node::Type::kObject, line_no_, col)) return false;
    uint64_t seen_keys = 0;  // for DuplicateKey
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
      if (TooLong(key) || DuplicateKey(key, &seen_keys)) return false;
      const SourcePosition key_pos = Pos(line_no_, col);
      const size_t p = SkipSpaces(after);
      const char c = At(p);
      if (IsBreak(c) || c == '#') {
        if (!SkipRestOfLine(p)) return false;
        int n = 0;
        if (!NextContent(&n)) return false;
        if (n > static_cast<int>(col)) {
          if (!BlockNode(static_cast<size_t>(n))) return false;
        } else if (n == static_cast<int>(col) && IsDash(col)) {
          if (!Sequence(col, true)) return false;
        } else {
          builder_.AddNull({});  // an empty value
        }
      } else if (!InlineValue(p - line_, col)) {
        return false;
      }
      B::SetKey(&builder_.Last(), key, key_pos);
      int n = 0;
      if (!NextContent(&n)) return false;
      if (n < static_cast<int>(col)) break;
      if (n > static_cast<int>(col) || IsDash(col)) return false;
    }
    builder_.End();
    return true;
  }

  bool Sequence(size_t col, bool indentless) {
    if (!Open(Node::Type::kArray, line_no_, col)) return false;
    while (true) {
      const size_t p = SkipSpaces(line_ + col + 1);
      const size_t q = p - line_;
      const char c = At(p);
      if (IsBreak(c) || c == '#') {
        if (!SkipRestOfLine(p)) return false;
        int n = 0;
        if (!NextContent(&n)) return false;
        if (n <= static_cast<int>(col)) return false;  // an empty item
        if (!BlockNode(static_cast<size_t>(n))) return false;
      } else if (IsDash(q)) {
        if (!Sequence(q, false)) return false;
      } else {
        ScannedKey key;
        if (Key(q, &key.text, &key.plain, &key.after)) {
          if (!Mapping(q, &key)) return false;
        } else if (!InlineValue(q, col)) {
          return false;
        }
      }
      int n = 0;
      if (!NextContent(&n)) return false;
      if (n < static_cast<int>(col)) break;
      if (n > static_cast<int>(col)) return false;
      if (!IsDash(col)) {
        if (indentless) break;
        return false;
      }
    }
    builder_.End();
    return true;
  }

  // A value after "key: " or "- " at col of the current line; indent is the
  // enclosing block's. Leaves the cursor on the next line.
  [[gnu::always_inline]] bool InlineValue(size_t col, size_t indent) {
    const size_t p = line_ + col;
    const char c = t_[p];
    if (c == '\'' || c == '"') {
      std::string_view text;
      size_t end = 0;
      if (!Quoted(p, &text, &end)) return false;
      if (!SpaceOrBreak(end)) return false;
      if (TooLong(text)) return false;
      B::SetString(&builder_.AddNull(Pos(line_no_, col)), text);
      return SkipRestOfLine(end);
    }
    if (c == '{' || c == '[') {
      if (At(p + 1) != (c == '{' ? '}' : ']')) return false;
      if (!SpaceOrBreak(p + 2)) return false;
      if (!Open(c == '{' ? Node::Type::kObject : Node::Type::kArray, line_no_, col)) return false;
      builder_.End();
      return SkipRestOfLine(p + 2);
    }
    if (c == '|') return Literal(col, indent);
    if (!PlainStart(c, p)) return false;
    // A ": " ends a key (not a plain value's business here), a " #" starts
    // a comment. The value's first character is neither ' ' nor '#'.
    size_t i = p;
    size_t end = 0;  // the line's
    while (true) {
      i = Find(
          i, [](uint64_t x) { return PlainStops(x); }, [](char c) { return PlainStop(c); });
      const char s = At(i);
      if (s == ':') {
        if (SpaceOrBreak(i + 1)) return false;
      } else if (s == '#') {
        if (t_[i - 1] == ' ') {
          if (!LineEnd(i, &end)) return false;
          --i;
          break;
        }
      } else {
        if (!IsBreak(s)) return false;  // a byte outside the subset
        end = i;
        break;
      }
      ++i;
    }
    size_t e = i;
    while (t_[e - 1] == ' ') --e;  // the value starts with no space
    const std::string_view text(t_ + p, e - p);
    Node& scalar = builder_.AddNull(Pos(line_no_, col));
    SetPlainScalar(&scalar, text);
    if (scalar.IsString() && TooLong(text)) return false;
    // A more indented line that is not a comment would continue the
    // scalar: both callers refuse a next content line indented past their
    // block (`indent`), so that case leaves the subset there.
    return NextLine(end);
  }

  // One line of a literal block: where it starts, its indent, where it
  // ends (its break or n_) and whether it has a break.
  struct BlockLine {
    size_t begin = 0, indent = 0, end = 0;
    bool terminated = false;
    bool blank() const { return begin + indent == end; }
  };

  bool ScanLine(size_t begin, BlockLine* l) const {
    l->begin = begin;
    l->indent = SkipIndent(begin) - begin;
    if (!LineEnd(begin + l->indent, &l->end)) return false;
    l->terminated = l->end < n_;
    return true;
  }

  // A literal block scalar whose '|' is at col of the current line.
  bool Literal(size_t col, size_t indent) {
    const size_t header = line_no_;
    size_t p = line_ + col + 1;
    int chomp = 0;  // -1 strip, 0 clip, 1 keep
    if (At(p) == '-') {
      chomp = -1;
      ++p;
    } else if (At(p) == '+') {
      chomp = 1;
      ++p;
    }
    if (!SpaceOrBreak(p)) return false;
    if (!SkipRestOfLine(p)) return false;
    // The first line that is not blank sets the block's indent.
    size_t max_blank = 0;
    size_t begin = line_;
    BlockLine l;
    while (true) {
      if (begin >= n_) return false;
      if (!ScanLine(begin, &l)) return false;
      if (!l.blank()) break;
      max_blank = std::max(max_blank, l.indent);
      begin = l.end + (At(l.end) == '\r' ? 2 : 1);  // checked by NextLine below
    }
    const size_t ind = l.indent;
    if (ind <= indent || max_blank > ind) return false;
    std::string s;
    size_t breaks = 0;
    bool have = false, last_break = false;
    while (line_ < n_) {
      if (!ScanLine(line_, &l)) return false;
      if (l.blank() && l.indent <= ind) {
        if (l.terminated) ++breaks;
      } else if (l.indent < ind) {
        break;
      } else {
        if (have && last_break) s.push_back('\n');
        s.append(breaks, '\n');
        breaks = 0;
        s.append(t_ + l.begin + ind, l.end - l.begin - ind);
        have = true;
        last_break = l.terminated;
      }
      if (!NextLine(l.end)) return false;
    }
    if (chomp >= 0 && last_break) s.push_back('\n');
    if (chomp == 1) s.append(breaks, '\n');
    if (TooLong(s)) return false;
    builder_.Add(B::String(tree_->owned.emplace_front(std::move(s)), Pos(header, col)));
    return true;
  }

  // The builder's stacks, kept from one stream to the next on each thread
  // (at most NodeTreeBuilder::kMaxReusedNodes nodes): reading a manifest
  // then allocates its tree alone.
  static thread_local NodeTreeBuilder::Stacks stacks_;

  // Mappings with more keys than this (rare, and quadratic to check for
  // duplicates here) are left to libyaml.
  static constexpr size_t kMaxScannedKeys = 64;

  const char* t_;
  size_t n_;
  const DecodeLimits& limits_;
  NodeTree* tree_;
  std::vector<FastDocument>* docs_;
  NodeTreeBuilder builder_;
  size_t line_ = 0;        // where the cursor's line starts (n_ at the end)
  size_t line_no_ = 0;     // its 0-based number
  size_t marker_end_ = 0;  // the end of the `---` line NextContent stopped at
  // The content line NextContent found last, and its indent.
  size_t content_line_ = SIZE_MAX;
  int content_indent_ = 0;
  size_t documents_ = 0;
  bool started_ = false;
};

thread_local NodeTreeBuilder::Stacks FastScanner::stacks_;

}  // namespace

bool FastYamlTree(std::string_view text, const DecodeLimits& limits, NodeTree* tree,
                  std::vector<FastDocument>* docs) {
  if (text.size() > limits.max_document_bytes) return false;
  return FastScanner(text, limits, tree, docs).Run();
}

}  // namespace qdirect::spec
