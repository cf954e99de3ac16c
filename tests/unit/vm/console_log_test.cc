#include "vm/console_log.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::vm {
namespace {

using ::testing::HasSubstr;

class ConsoleLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") +
                       "/qdirect-console-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/console.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::string path_;
};

TEST_F(ConsoleLogTest, KeepsEverythingBelowTheCap) {
  absl::StatusOr<ConsoleLog> log = ConsoleLog::Open(path_, 1024);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE(log->Append("Booting Linux\n").ok());
  ASSERT_TRUE(log->Append("login: ").ok());
  absl::StatusOr<std::string> all = log->ReadAll();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, "Booting Linux\nlogin: ");
}

TEST_F(ConsoleLogTest, BoundedAndKeepsTheNewestHalfCap) {
  constexpr int64_t kCap = 100;
  absl::StatusOr<ConsoleLog> log = ConsoleLog::Open(path_, kCap);
  ASSERT_TRUE(log.ok()) << log.status();
  std::string written;
  for (int i = 0; i < 200; ++i) {
    std::string chunk = "line " + std::to_string(i) + "\n";
    written += chunk;
    ASSERT_TRUE(log->Append(chunk).ok());
    absl::StatusOr<std::string> all = log->ReadAll();
    ASSERT_TRUE(all.ok()) << all.status();
    ASSERT_LE(static_cast<int64_t>(all->size()), kCap);
    // What is retained is exactly the newest bytes, at least half the cap.
    const size_t want = std::min(written.size(), static_cast<size_t>(kCap / 2));
    ASSERT_GE(all->size(), want);
    ASSERT_EQ(*all, written.substr(written.size() - all->size()));
  }
}

TEST_F(ConsoleLogTest, HugeChunkKeepsItsTail) {
  absl::StatusOr<ConsoleLog> log = ConsoleLog::Open(path_, 10);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Append("0123456789abcdefghijXYZ").ok());
  absl::StatusOr<std::string> all = log->ReadAll();
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->empty());
  EXPECT_LE(all->size(), 10u);
  EXPECT_EQ(all->back(), 'Z');
  EXPECT_EQ(*all, std::string("0123456789abcdefghijXYZ").substr(23 - all->size()));
}

TEST_F(ConsoleLogTest, ReopenAppendsToWhatIsThere) {
  {
    absl::StatusOr<ConsoleLog> log = ConsoleLog::Open(path_, 1024);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(log->Append("first run\n").ok());
  }
  absl::StatusOr<ConsoleLog> log = ConsoleLog::Open(path_, 1024);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Append("second run\n").ok());
  absl::StatusOr<std::string> all = ReadConsoleLog(path_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, "first run\nsecond run\n");
}

TEST_F(ConsoleLogTest, ReadingAMissingLogIsNotFound) {
  absl::StatusOr<std::string> all = ReadConsoleLog(dir_ + "/nope.log");
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(all.status().message(), HasSubstr("nope.log"));
}

TEST_F(ConsoleLogTest, OpenInMissingDirectoryNamesThePath) {
  absl::StatusOr<ConsoleLog> log =
      ConsoleLog::Open(dir_ + "/no/such/dir/console.log", 1024);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr("no/such/dir/console.log"));
}

TEST_F(ConsoleLogTest, TinyCapIsRejected) {
  absl::StatusOr<ConsoleLog> log = ConsoleLog::Open(path_, 1);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConsolePattern, SubstringAcrossChunks) {
  ConsolePattern p = ConsolePattern::Substring("login:");
  EXPECT_FALSE(p.Feed("Debian GNU/Linux 12 qdirect ttyS0\r\n\r\nqdirect lo"));
  EXPECT_FALSE(p.Feed("g"));
  EXPECT_TRUE(p.Feed("in: "));
  EXPECT_TRUE(p.matched());
  EXPECT_EQ(p.match(), "login:");
  EXPECT_TRUE(p.Feed("anything"));  // sticky
}

TEST(ConsolePattern, SubstringIgnoresCarriageReturns) {
  ConsolePattern p = ConsolePattern::Substring("ready\n");
  EXPECT_FALSE(p.Feed("rea"));
  EXPECT_TRUE(p.Feed("dy\r\n"));
}

TEST(ConsolePattern, SubstringNotPresent) {
  ConsolePattern p = ConsolePattern::Substring("Kernel panic");
  EXPECT_FALSE(p.Feed("Kernel pa"));
  EXPECT_FALSE(p.Feed("ssed init"));
  EXPECT_FALSE(p.matched());
}

TEST(ConsolePattern, RegexAcrossChunksOnOneLine) {
  absl::StatusOr<ConsolePattern> p =
      ConsolePattern::Regex("Linux version [0-9]+\\.[0-9]+");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->Feed("[    0.000000] Linux vers"));
  EXPECT_FALSE(p->Feed("ion "));
  EXPECT_TRUE(p->Feed("6.1.0-13-cloud-amd64 (debian-kernel@lists.debian.org)\n"));
  EXPECT_EQ(p->match(), "Linux version 6.1");
}

TEST(ConsolePattern, RegexAnchorsApplyPerLine) {
  absl::StatusOr<ConsolePattern> p = ConsolePattern::Regex("^init: ok$");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->Feed("noise init: ok\n"));
  EXPECT_FALSE(p->Feed("init: o"));
  EXPECT_TRUE(p->Feed("k\r\n"));
}

TEST(ConsolePattern, RegexMatchesUnfinishedPrompt) {
  absl::StatusOr<ConsolePattern> p = ConsolePattern::Regex("[a-z]+ login: $");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->Feed("\nqdirect login: "));
  EXPECT_EQ(p->match(), "qdirect login: ");
}

TEST(ConsolePattern, BadRegexIsInvalidArgument) {
  absl::StatusOr<ConsolePattern> p = ConsolePattern::Regex("([unclosed");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("([unclosed"));
}

}  // namespace
}  // namespace qdirect::vm
