#include "plan/json_object.h"

#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace qdirect::plan {
namespace {

TEST(JsonObjectTest, KeepsInsertionOrderAndReplacesInPlace) {
  JsonObject obj;
  obj.Str("driver", "virtio-blk-pci").Int("n", 1).Bool("b", true).Int("n", 2);
  EXPECT_EQ(obj.Render(), R"({"driver":"virtio-blk-pci","n":2,"b":true})");
  EXPECT_EQ(obj.GetStr("driver"), "virtio-blk-pci");
  EXPECT_EQ(obj.GetStr("n"), "");
}

TEST(JsonObjectTest, EscapesStringsSoRapidJsonReadsThemBack) {
  const std::string nasty = "a\"b\\c\nd\te\x01f/é";
  JsonObject obj;
  obj.Str("serial", nasty);
  rapidjson::Document doc;
  doc.Parse(obj.Render().c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(std::string(doc["serial"].GetString()), nasty);
}

TEST(JsonObjectTest, NestsObjectsAndArrays) {
  JsonObject fwd;
  fwd.Str("str", "tcp::22-:22");
  JsonObject obj;
  obj.Array("hostfwd", {fwd, fwd}).Object("cache", JsonObject().Bool("direct", true)).Null("x");
  EXPECT_EQ(obj.Render(),
            R"({"hostfwd":[{"str":"tcp::22-:22"},{"str":"tcp::22-:22"}],"cache":{"direct":true},"x":null})");
}

}  // namespace
}  // namespace qdirect::plan
