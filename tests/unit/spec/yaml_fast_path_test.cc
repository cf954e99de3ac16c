// The fast YAML scanner against libyaml: for every input both paths must
// give the same documents, positions, plain texts and errors.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "spec/stream.h"
#include "spec/yaml_plain.h"
#include "stream_dump.h"

namespace qdirect::spec {
namespace {


// Returns whether the fast path read text; fails the test on a difference.
bool Same(const std::string& text, const DecodeLimits& limits = {}) {
  bool slow_fast = true, used_fast = false;
  Stream slow = ReadStreamForTest(text, limits, false, &slow_fast);
  Stream fast = ReadStreamForTest(text, limits, true, &used_fast);
  EXPECT_FALSE(slow_fast);
  EXPECT_EQ(DumpStream(slow), DumpStream(fast)) << "input:\n" << text;
  EXPECT_EQ(slow.errors, fast.errors);
  return used_fast;
}

DecodeLimits Tight() {
  DecodeLimits l;
  l.max_documents = 2;
  l.max_depth = 3;
  l.max_string_bytes = 5;
  return l;
}

std::vector<std::string> FilesIn(const char* env) {
  std::vector<std::string> out;
  const char* dir = std::getenv(env);
  if (dir == nullptr || !std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

void CheckDir(const char* env, bool require) {
  std::vector<std::string> files = FilesIn(env);
  if (require) {
    ASSERT_FALSE(files.empty()) << env;
  }
  size_t fast = 0;
  for (const std::string& text : files) {
    fast += Same(text);
    Same(text, Tight());
  }
  std::printf("%s: %zu files, %zu read by the fast path\n", env, files.size(), fast);
}

TEST(YamlFastPathTest, Manifests) { CheckDir("QDIRECT_MANIFESTS", true); }
TEST(YamlFastPathTest, SeedExamples) { CheckDir("QDIRECT_SEED_EXAMPLES", false); }
TEST(YamlFastPathTest, FuzzCorpus) { CheckDir("QDIRECT_DECODE_CORPUS", true); }

TEST(YamlFastPathTest, PerformanceVmTakesTheFastPath) {
  std::ifstream f(std::string(std::getenv("QDIRECT_MANIFESTS")) +
                  "/10-virtualmachine-performance-vm.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  ASSERT_FALSE(ss.str().empty());
  EXPECT_TRUE(Same(ss.str()));
}

TEST(YamlFastPathTest, InsideTheSubset) {
  const char* inputs[] = {
      "a: 1\n",
      "a: 1",
      "a: b\r\nc: d\r\n",
      "key:  value  # c\nother: x\n",
      "a:\nb: 2\n",
      "a:   \n  # c\nb:\n",
      "a:\n- x\n- y\nb: 2\n",
      "a:\n  - x\n  - y\n",
      "a:\n- name: x\n  bus: virtio\n- name: y\nb: 1\n",
      "- a\n- - b\n  - c\n- d: e\n  f: g\n",
      "-\n  a: 1\n-   b: 2\n",
      "n: [0755, 1e3, .5, -0, 0x1F, yes, No, ~, null]\n",
      "a: 0755\nb: 1e3\nc: .5\nd: -0\ne: 0x1F\nf: yes\ng: No\nh: ~\ni: null\nj: 1_000\nk: +1\n",
      "a: 'x: y'\nb: \"p: q\"\nc: 'it''s'\nd: ''\ne: \"\"\n",
      "'quoted key': 1\n\"dq\": 2\n'a''b'  : 3\n",
      "a: b   \nc: d \n",
      "a: {}\nb: []\nc:\n- {}\n- []\n",
      "a: x#y\nb: x # y\nc: a:b\nd: http://x/y\n",
      "a: |\n  line1\n  line2\nb: 1\n",
      "a: |-\n  line1\n\n  line2\n\n\nb: 1\n",
      "a: |+\n  line1\n  line2\n\n\nb: 1\n",
      "a: |\n    indented\n  less\n",
      "a: |  # c\n  x\n     y\n   \n  z\n",
      "a: |\n\n  x\n",
      "a: |\n  x",
      "a: |+\n  x\n  ",
      "a: |\n  x\n    \n",
      "- |\n  x\n- y\n",
      "---\na: 1\n---\nb: 2\n",
      "---\n---\n",
      "---\n",
      "# only a comment\n",
      "",
      "\n\n",
      "a: 1\n---\n",
      "--- # c\na: 1\n",
      "  a: 1\n  b: 2\n",
      "a: 1\na: 2\n",
      "kind: List\nitems:\n- a: 1\n- b: 2\n",
      "a:\n  b:\n    c:\n      d: 1\n",
      "a: ---\nb: - x\n",
      "a: [x]\n",
      "- -1\n- -x\n",
      "a: 123456789012345678901234567890\nb: 0xffffffffffffffffff\n",
      "a: 1.5e400\n",
      "a: true\nb: off\nc: Y\n",
      // Scanned in one pass: each kind of line where the text ends, with
      // and without a break.
      "a: 'x''y''z'\nb: 'p'''\n", "a: true\nb: false\nc: TRUE\nd: 12345\ne: 0\nf: 007\n",
      "a: b # c", "a:  # c", "- x # c", "--- # c", "a: |\n  x\n# c", "a: b\n   ", "a: b\n# c",
      "a:\n  b: 1\n  c:\n  - d\n  # e\nf: 2\n", "a: {}  # c\nb: []",
      "- a: 1\n  b: 2\n- c\n- - d\n  - e: 3\n",
  };
  size_t fast = 0;
  for (const char* in : inputs) {
    fast += Same(in);
    Same(in, Tight());
  }
  // All but the few flow and "- x" values above, and the duplicate key
  // (reported by the libyaml reader), stay on the fast path.
  EXPECT_GE(fast, std::size(inputs) - 5);
  EXPECT_TRUE(Same("a: 1\nb:\n- c: 'x'\n  d: |\n    y\n"));
  EXPECT_TRUE(Same("a: 1\r\nb: 'x'"));
}

TEST(YamlFastPathTest, OutsideTheSubsetFallsBack) {
  const char* inputs[] = {
      "a: &x 1\nb: *x\n",  "a: !!str 1\n",        "a: >\n  x\n",      "? a\n: b\n",
      "a:\tb\n",           "%YAML 1.1\n---\na: 1\n", "\357\273\277a: 1\n",
      "a: b\n  c\n",       "a: \"x\\ny\"\n",      "a: 'x\n  y'\n",    "a: {bus: virtio}\n",
      "a: 1\n...\n",       "x\n",                 "a: b: c\n",        "a: 1\n b: 2\n",
      "- \n- a\n",         "a: |2\n  x\n",        "a\rb: 1\n",        "a: [1, 2]\n",
      "a: 1\n- b\n",       "--- a\n",             "a: b\n\n  c: d\n",
      // Lines are scanned eight bytes at a time: a bad byte inside a word.
      "name: abcdefgh\tijkl\n", "name: abcdefghij\177k\n", "name: abcdefgh\303\251\n",
      "name: abcdefghijklmno\rp: 1\n",
      // Every byte is checked by the scan that passes it: comments, markers,
      // quoted and literal text, breaks.
      "a: 1 # c\tc\n", "# \303\251\na: 1\n", "--- # \001\na: 1\n", "a: 'x\ty'\n",
      "'k\177': 1\n", "a: |\n  x\ty\n", "a: |\n  x\r  y\n", "a: 1\r", "a:\r\n  b: 1\rc: 2\n",
      "a: b\n\t\n", "- \001\n",
  };
  for (const char* in : inputs) EXPECT_FALSE(Same(in)) << in;
}

// SetPlainScalar's inline cases (bool words, short decimal counts, string
// first bytes) against its general path: both readers use SetPlainScalar,
// so the differential fuzzer cannot see a difference between the two.
TEST(YamlPlainTest, InlineCasesResolveAsTheGeneralPath) {
  for (const char* text :
       {"", "true", "false", "True", "TRUE", "False", "yes", "no", "on", "off", "y", "n", "null",
        "Null", "~", "trueish", "falsey", "truE", "0", "1", "4", "12", "012", "09", "0x1f", "0o17",
        "1_000", "123456789012345678", "1234567890123456789", "9223372036854775807",
        "9223372036854775808", "18446744073709551616", "-5", "+5", "1.5", "1e3", "1.", ".5",
        ".inf", "-.inf", ".nan", "1a", "12:30", "1Gi", "8Gi", "500m", "a", "virtio", "q35",
        "-", "+", ".", "1 2", "1-2", "7z"}) {
    Node fast = NodeTreeBuilder::Null({1, 1});
    Node general = NodeTreeBuilder::Null({1, 1});
    SetPlainScalar(&fast, text);
    if (*text != '\0') yaml_plain_internal::ResolvePlainScalar(&general, text);
    EXPECT_EQ(fast.type(), general.type()) << text;
    EXPECT_EQ(fast.GetString(), general.GetString()) << text;
    EXPECT_EQ(fast.plain_text(), general.plain_text()) << text;
    EXPECT_EQ(fast.GetInt64(), general.GetInt64()) << text;
  }
}

}  // namespace
}  // namespace qdirect::spec
