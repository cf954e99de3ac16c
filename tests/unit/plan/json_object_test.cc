#include "plan/json_object.h"

#include "gmock/gmock.h"
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

TEST(JsonObjectTest, ReplacingAValueKeepsLaterMembersReadable) {
  JsonObject obj;
  obj.Str("bus", "rp1").Str("id", "ua-disk").Str("addr", "0x0");
  obj.Str("bus", "a-much-longer-bus-name").Int("id", 7);
  EXPECT_EQ(obj.Render(), R"({"bus":"a-much-longer-bus-name","id":7,"addr":"0x0"})");
  EXPECT_EQ(obj.GetStr("bus"), "a-much-longer-bus-name");
  EXPECT_EQ(obj.GetStr("id"), "");
  EXPECT_EQ(obj.GetStr("addr"), "0x0");
  EXPECT_EQ(obj.KeyAt(2), "addr");
}

TEST(JsonObjectTest, EscapedKeysAndValuesReadBackUnescaped) {
  JsonObject obj;
  obj.Str("k\"ey", "v\\al").Str("plain", "text");
  EXPECT_EQ(obj.Render(), R"({"k\"ey":"v\\al","plain":"text"})");
  EXPECT_EQ(obj.KeyAt(0), "k\"ey");
  EXPECT_EQ(obj.GetStr("k\"ey"), "v\\al");
  EXPECT_EQ(obj.GetStr("plain"), "text");
}

TEST(JsonObjectTest, EscapesEveryPositionOfALongString) {
  // The escape check reads eight bytes at a time: try each byte of a word,
  // and bytes of 0x80 and above, which need none.
  for (char special : {'"', '\\', '\n', '\x1f'}) {
    for (size_t size = 1; size <= 20; ++size) {
      for (size_t at = 0; at < size; ++at) {
        std::string s(size, 'x');
        s[at] = special;
        EXPECT_EQ(JsonString(s).size(), s.size() + 2 + (special == '\x1f' ? 5 : 1))
            << size << " " << at;
      }
    }
  }
  const std::string utf8 = "\xc3\xa9\xc3\xa9\x7f\x80\xff\xfe\xc3\xa9 ~";
  EXPECT_EQ(JsonString(utf8), "\"" + utf8 + "\"");
}

TEST(JsonObjectTest, EscapesEveryPositionOfAValue) {
  // Values of four to seven bytes are checked as one word of two
  // overlapping halves: try each byte of each size.
  for (char special : {'"', '\\', '\n', '\x1f'}) {
    for (size_t size = 1; size <= 20; ++size) {
      for (size_t at = 0; at < size; ++at) {
        std::string s(size, 'x');
        s[at] = special;
        JsonObject obj;
        obj.Str("k", s);
        EXPECT_EQ(obj.Render(), "{\"k\":" + JsonString(s) + "}") << size << " " << at;
        EXPECT_EQ(obj.GetStr("k"), s) << size << " " << at;
      }
    }
  }
}

TEST(JsonObjectTest, EscapesEveryPositionOfAKey) {
  // Keys take the same word-wise check as values (one to three bytes are
  // gathered into one word): try each byte of each size, in both writers.
  for (char special : {'"', '\\', '\n', '\x1f'}) {
    for (size_t size = 1; size <= 12; ++size) {
      for (size_t at = 0; at < size; ++at) {
        std::string key(size, 'k');
        key[at] = special;
        const std::string want = "{" + JsonString(key) + ":1}";
        JsonObject obj;
        obj.Int(key, 1);
        EXPECT_EQ(obj.Render(), want) << size << " " << at;
        JsonWriter writer(16);
        writer.Int(key, 1);
        EXPECT_EQ(std::move(writer).Take(), want) << size << " " << at;
      }
    }
  }
}

TEST(JsonWriterTest, WritesWhatAJsonObjectRendersForTheSameMembers) {
  JsonObject obj;
  obj.Str("driver", "pcie-root-port").Int("port", -16).Bool("multifunction", true).Str("id", "");
  JsonWriter writer(8);  // less room than the object needs: it grows
  writer.Str("driver", "pcie-root-port").Int("port", -16).Bool("multifunction", true).Str("id", "");
  EXPECT_EQ(std::move(writer).Take(), obj.Render());
  EXPECT_EQ(JsonWriter(16).Take(), "{}");
}

// Values are copied by size class (1-3, 4-7, 8-16, longer bytes): every
// length comes out whole, in both builders.
TEST(JsonWriterTest, CopiesValuesOfEveryLength) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (size_t n = 0; n <= 40; ++n) {
    const std::string value = alphabet.substr(0, n);
    JsonWriter writer(16);
    writer.Int("n", static_cast<int64_t>(n)).Str("v", value);
    JsonObject obj;  // its first member goes through Set, the next inline
    obj.Int("n", static_cast<int64_t>(n)).Str("v", value);
    const std::string expected = "{\"n\":" + std::to_string(n) + ",\"v\":\"" + value + "\"}";
    EXPECT_EQ(std::move(writer).Take(), expected) << n;
    EXPECT_EQ(obj.Render(), expected) << n;
  }
}

TEST(JsonWriterTest, EscapesKeysAndValuesSoRapidJsonReadsThemBack) {
  const std::string nasty = "a\"b\\c\nd\te\x01f/\xc3\xa9";
  JsonWriter writer(64);
  writer.Str(nasty, nasty).Int("after", 1);
  const std::string json = std::move(writer).Take();
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  EXPECT_EQ(std::string(doc[nasty.c_str()].GetString()), nasty);
  EXPECT_EQ(doc["after"].GetInt(), 1);
}

}  // namespace
}  // namespace qdirect::plan
