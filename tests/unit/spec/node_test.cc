// The node tree a stream reads into: field paths find the node they name
// (keys with dots, items, the latest of two paths spelled alike), a missing
// path falls back to its nearest present parent, plain scalars keep their
// text, and a list's items are documents of their own.

#include <string>

#include "gtest/gtest.h"
#include "spec/node.h"
#include "spec/stream.h"

namespace qdirect::spec {
namespace {

constexpr char kYaml[] =
    "a:\n"                 // 1
    "  b:\n"               // 2
    "  - x\n"              // 3
    "  - c: 0x10\n"        // 4
    "    d: 'quoted'\n"    // 5
    "a.b: 3\n"             // 6: spells the same path as a.b
    "labels:\n"            // 7
    "  kubevirt.io/os: linux\n"  // 8
    "flag: yes\n";         // 9

Stream Read(std::string_view text) {
  Stream s = ReadStream(text, DecodeLimits{});
  EXPECT_TRUE(s.errors.empty()) << s.errors.front().ToString();
  return s;
}

TEST(NodeTest, BuildsValuesWithTheirPositions) {
  Stream s = Read(kYaml);
  ASSERT_EQ(s.documents.size(), 1u);
  const Node& root = *s.documents[0].value;
  ASSERT_TRUE(root.IsObject());
  ASSERT_EQ(root.Size(), 4u);
  EXPECT_EQ(root[0].key(), "a");
  EXPECT_EQ(root[0].position().line, 1u);
  const Node* b = root[0].FindMember("b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->IsArray());
  ASSERT_EQ(b->Size(), 2u);
  EXPECT_EQ((*b)[0].GetString(), "x");
  EXPECT_EQ((*b)[0].position().line, 3u);
  EXPECT_EQ((*b)[0].position().column, 5u);
  const Node* c = (*b)[1].FindMember("c");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->IsInt64());
  EXPECT_EQ(c->GetInt64(), 16);
  EXPECT_EQ(c->plain_text(), "0x10");
  const Node* d = (*b)[1].FindMember("d");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->GetString(), "quoted");
  EXPECT_EQ(d->plain_text(), std::nullopt);
  const Node* flag = root.FindMember("flag");
  ASSERT_NE(flag, nullptr);
  EXPECT_TRUE(flag->IsBool());
  EXPECT_TRUE(flag->GetBool());
  EXPECT_EQ(flag->plain_text(), "yes");
}

TEST(NodeTest, FindsFieldPaths) {
  Stream s = Read(kYaml);
  const StreamDocument& doc = s.documents[0];
  EXPECT_EQ(FindPosition(doc, "a").line, 1u);
  EXPECT_EQ(FindPosition(doc, "a.b[0]").line, 3u);
  EXPECT_EQ(FindPosition(doc, "a.b[1].d").line, 5u);
  EXPECT_EQ(FindPosition(doc, "a.b[1].d").column, 5u);
  // Two spellings of one path: the later member wins.
  EXPECT_EQ(FindPosition(doc, "a.b").line, 6u);
  EXPECT_EQ(FindPosition(doc, "labels.kubevirt.io/os").line, 8u);
  const Node* os = FindNode(*doc.value, "labels.kubevirt.io/os");
  ASSERT_NE(os, nullptr);
  EXPECT_EQ(os->GetString(), "linux");
  EXPECT_EQ(FindNode(*doc.value, "a.b[2]"), nullptr);
  EXPECT_EQ(FindNode(*doc.value, "b"), nullptr);
  EXPECT_EQ(FindNode(*doc.value, "a."), nullptr);
  EXPECT_EQ(FindNode(*doc.value, "a.b[x]"), nullptr);
}

TEST(NodeTest, MissingPathFallsBackToItsNearestParent) {
  Stream s = Read(kYaml);
  const StreamDocument& doc = s.documents[0];
  // a.b[1] is the item on line 4; it has no "cache".
  EXPECT_EQ(FindPosition(doc, "a.b[1].cache").line, 4u);
  EXPECT_EQ(FindPosition(doc, "labels.kubevirt.io/arch").line, 7u);
  EXPECT_EQ(FindPosition(doc, "nothing.here").line, 1u);
}

TEST(NodeTest, ListItemsAreDocumentsWithTheirOwnPaths) {
  Stream s = Read(
      "kind: List\n"
      "items:\n"
      "- kind: A\n"
      "  spec: {}\n"
      "- kind: B\n"
      "  spec:\n"
      "    x: 1\n");
  ASSERT_EQ(s.documents.size(), 2u);
  EXPECT_EQ(s.documents[1].path_prefix, "items[1].");
  EXPECT_EQ(s.documents[1].start.line, 5u);
  EXPECT_EQ(FindPosition(s.documents[1], "spec.x").line, 7u);
  EXPECT_EQ(FindPosition(s.documents[0], "spec").line, 4u);
}

TEST(NodeTest, JsonHasNoPositionsButTheDocumentStart) {
  Stream s = Read(R"({"a": {"b": [1, "two", 3.5, 18446744073709551615]}})");
  ASSERT_EQ(s.documents.size(), 1u);
  const Node* b = FindNode(*s.documents[0].value, "a.b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->Size(), 4u);
  EXPECT_EQ(Describe((*b)[0]), "1");
  EXPECT_EQ(Describe((*b)[1]), "two");
  EXPECT_EQ(Describe((*b)[2]), "3.5");
  EXPECT_EQ(Describe((*b)[3]), "18446744073709551615");
  EXPECT_EQ(JsonTypeName((*b)[3]), "number");
  EXPECT_EQ((*b)[0].plain_text(), std::nullopt);
  EXPECT_EQ(FindPosition(s.documents[0], "a.b[1]").line, 1u);
}

TEST(NodeTest, TextsOutliveTheInput) {
  Stream s;
  {
    std::string text = "name: 'it''s'\nother: plain\n";
    s = Read(text);
    text.assign(text.size(), 'x');
  }
  EXPECT_EQ(s.documents[0].value->FindMember("name")->GetString(), "it's");
  EXPECT_EQ(s.documents[0].value->FindMember("other")->GetString(), "plain");
}

}  // namespace
}  // namespace qdirect::spec
