// PositionTable: paths are never stored, so every lookup must agree with
// the paths entries() spells out, in small (scanned) and large (indexed)
// tables, for members, items, duplicates and empty keys.

#include <string>

#include "gtest/gtest.h"
#include "spec/stream.h"

namespace qdirect::spec {
namespace {

SourcePosition At(uint32_t line) { return {line, 1}; }

// root{a: {b: [x, {c: 1}]}, "": {d: 2}, a.b: 3}
PositionTable SmallTable() {
  PositionTable t;
  uint32_t root = t.AddRoot(At(1));
  uint32_t a = t.AddMember(root, "a", At(2));
  uint32_t b = t.AddMember(a, "b", At(3));
  t.AddItem(b, 0, At(4));
  uint32_t item = t.AddItem(b, 1, At(5));
  t.SetPlainText(t.AddMember(item, "c", At(6)), "1");
  uint32_t empty = t.AddMember(root, "", At(7));
  t.SetPlainText(t.AddMember(empty, "d", At(8)), "2");
  t.AddMember(root, "a.b", At(9));  // spells the same path as a.b
  return t;
}

TEST(PositionTableTest, SpellsPathsAsFieldPaths) {
  PositionTable t = SmallTable();
  std::vector<std::string> paths;
  for (const auto& [path, entry] : t.entries()) paths.push_back(path);
  EXPECT_EQ(paths, (std::vector<std::string>{"", "a", "a.b", "a.b[0]", "a.b[1]",
                                             "a.b[1].c", "", "d", "a.b"}));
  EXPECT_EQ(t.PathOf(5), "a.b[1].c");
  EXPECT_EQ(t.entries()[5].second.plain_text, "1");
}

TEST(PositionTableTest, FindsEveryPathItsEntriesSpell) {
  PositionTable t = SmallTable();
  for (const auto& [path, entry] : t.entries()) {
    PositionTable::Found found;
    ASSERT_TRUE(t.Find(path, &found)) << path;
    // The latest entry of a path wins.
    uint32_t latest = 0;
    for (uint32_t i = 0; i < t.entries().size(); ++i) {
      if (t.entries()[i].first == path) latest = t.entries()[i].second.position.line;
    }
    EXPECT_EQ(found.position.line, latest) << path;
  }
  PositionTable::Found found;
  EXPECT_FALSE(t.Find("a.b[2]", &found));
  EXPECT_FALSE(t.Find("b", &found));
  EXPECT_FALSE(t.Find(".d", &found));
  ASSERT_TRUE(t.Find("d", &found));
  EXPECT_EQ(found.plain_text, "2");
}

TEST(PositionTableTest, LargeTableFindsWhatASmallOneFinds) {
  PositionTable t;
  uint32_t root = t.AddRoot(At(1));
  uint32_t list = t.AddMember(root, "items", At(2));
  for (uint32_t i = 0; i < 300; ++i) {
    uint32_t item = t.AddItem(list, i, At(3 + 2 * i));
    t.SetPlainText(t.AddMember(item, "n", At(4 + 2 * i)), std::to_string(i));
  }
  PositionTable::Found found;
  ASSERT_TRUE(t.Find("items[123].n", &found));
  EXPECT_EQ(found.position.line, 4u + 2 * 123);
  EXPECT_EQ(found.plain_text, "123");
  EXPECT_FALSE(t.Find("items[300]", &found));
}

}  // namespace
}  // namespace qdirect::spec
