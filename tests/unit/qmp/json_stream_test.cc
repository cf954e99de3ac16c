#include "qmp/json_stream.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace qdirect::qmp {
namespace {

const std::string kTwo = R"({"return": {"status": "running", "s": "a } \" { \\"}, "id": "qd-1"})"
                         "\n"
                         R"({"event": "STOP", "data": {"x": [1, {"y": []}]}})";

TEST(JsonStream, SplitAtEveryByteBoundaryYieldsTheSameMessages) {
  for (size_t cut = 0; cut <= kTwo.size(); ++cut) {
    JsonStream stream;
    std::vector<std::string> out;
    ASSERT_TRUE(stream.Feed(std::string_view(kTwo).substr(0, cut), &out).ok());
    ASSERT_TRUE(stream.Feed(std::string_view(kTwo).substr(cut), &out).ok());
    ASSERT_EQ(out.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(out[0], kTwo.substr(0, kTwo.find('\n')));
    EXPECT_EQ(out[1], kTwo.substr(kTwo.find('\n') + 1));
  }
}

TEST(JsonStream, ByteByByte) {
  JsonStream stream;
  std::vector<std::string> out;
  for (char c : kTwo) ASSERT_TRUE(stream.Feed(std::string_view(&c, 1), &out).ok());
  EXPECT_EQ(out.size(), 2u);
  EXPECT_FALSE(stream.in_message());
}

TEST(JsonStream, ManyPerReadWithoutNewlines) {
  JsonStream stream;
  std::vector<std::string> out;
  ASSERT_TRUE(stream.Feed(R"({"a":1}{"b":"}"} {"c":[]})", &out).ok());
  EXPECT_EQ(out, (std::vector<std::string>{R"({"a":1})", R"({"b":"}"})", R"({"c":[]})"}));
}

TEST(JsonStream, SizeCapExceeded) {
  JsonStream stream(/*max_message_bytes=*/16);
  std::vector<std::string> out;
  ASSERT_TRUE(stream.Feed(R"({"a":"0123456)", &out).ok());
  absl::Status st = stream.Feed(R"(789"})", &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("longer than 16"), std::string::npos) << st;
  // Stays failed.
  EXPECT_FALSE(stream.Feed("{}", &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(JsonStream, DefaultCapIsTenMiB) {
  JsonStream stream;
  std::vector<std::string> out;
  std::string big = R"({"a":")" + std::string(10 * 1024 * 1024, 'x') + R"("})";
  EXPECT_FALSE(stream.Feed(big, &out).ok());
  JsonStream ok_stream;
  std::string fits = R"({"a":")" + std::string(10 * 1024 * 1024 - 16, 'x') + R"("})";
  EXPECT_TRUE(ok_stream.Feed(fits, &out).ok());
  EXPECT_EQ(out.size(), 1u);
}

TEST(JsonStream, DepthCap) {
  JsonStream stream(JsonStream::kDefaultMaxMessageBytes, /*max_depth=*/4);
  std::vector<std::string> out;
  EXPECT_TRUE(stream.Feed(R"({"a":[{"b":[]}]})", &out).ok());
  EXPECT_EQ(stream.Feed(R"({"a":[{"b":[{}]}]})", &out).code(), absl::StatusCode::kDataLoss);
}

TEST(JsonStream, BracesInsideStringsDoNotCountTowardsDepth) {
  JsonStream stream(JsonStream::kDefaultMaxMessageBytes, /*max_depth=*/2);
  std::vector<std::string> out;
  EXPECT_TRUE(stream.Feed(R"({"a":"{{{{[[[[", "b":{}})", &out).ok());
  EXPECT_EQ(out.size(), 1u);
}

TEST(JsonStream, GarbageBetweenObjectsIsAnError) {
  JsonStream stream;
  std::vector<std::string> out;
  absl::Status st = stream.Feed("{} x {}", &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("0x78"), std::string::npos) << st;
  EXPECT_EQ(out.size(), 1u);  // the object before the garbage was complete
}

TEST(JsonStream, TopLevelArrayIsAnError) {
  JsonStream stream;
  std::vector<std::string> out;
  EXPECT_FALSE(stream.Feed("[1]", &out).ok());
}

TEST(ParseMessage, AcceptsAnObject) {
  auto doc = ParseMessage(R"({"return": {"running": true}, "id": "qd-3"})");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE((*doc)["return"]["running"].GetBool());
}

TEST(ParseMessage, RejectsInvalidUtf8) {
  std::string bad = "{\"a\":\"\xc3\x28\"}";
  auto doc = ParseMessage(bad);
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kDataLoss);
}

TEST(ParseMessage, AcceptsValidUtf8) { EXPECT_TRUE(ParseMessage("{\"a\":\"caf\xc3\xa9\"}").ok()); }

TEST(ParseMessage, RejectsMalformedJson) {
  EXPECT_FALSE(ParseMessage(R"({"a":})").ok());
  EXPECT_FALSE(ParseMessage(R"({"a":1,})").ok());
}

}  // namespace
}  // namespace qdirect::qmp
