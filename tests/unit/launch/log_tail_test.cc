#include "launch/log_tail.h"

#include "gtest/gtest.h"
#include "test_files.h"

namespace qdirect::launch {
namespace {

using ::qdirect::launch::testing::TempDir;
using ::qdirect::launch::testing::WriteFile;

TEST(ReadLogTail, ShortFileIsQuotedWholeWithoutTrailingNewline) {
  TempDir dir;
  WriteFile(dir.File("log"), "qemu: bad option\n");
  EXPECT_EQ(ReadLogTail(dir.File("log"), 4096), "qemu: bad option");
}

TEST(ReadLogTail, LongFileIsCutAtALineBoundary) {
  TempDir dir;
  WriteFile(dir.File("log"), "first line\nsecond line\nthird\n");
  EXPECT_EQ(ReadLogTail(dir.File("log"), 15), "...\nthird");
}

TEST(ReadLogTail, MissingFileGivesEmptyText) {
  EXPECT_EQ(ReadLogTail("/nonexistent/log", 100), "");
}

}  // namespace
}  // namespace qdirect::launch
