#include "plan/config_dir.h"

#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "file_test_util.h"

namespace qdirect::plan {
namespace {

using plan_test::Shell;
using plan_test::TempDir;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

void Sh(const std::string& command) {
  auto [rc, text] = Shell(command);
  ASSERT_EQ(rc, 0) << command << ": " << text;
}

TEST(ReadConfigDir, EveryKeyFileWithItsContentsNestedDirsIncluded) {
  TempDir dir;
  Sh("mkdir -p " + dir / "cm/sub && printf 'a=1\\n' > " + dir / "cm/app.conf" +
      " && printf '' > " + dir / "cm/empty" + " && printf x > " +
      dir / "cm/sub/inner" + " && printf h > " + dir / "cm/.hidden-key");
  auto files = ReadConfigDir(dir / "cm", "spec.volumes[0]");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ElementsAre(Pair(".hidden-key", "h"), Pair("app.conf", "a=1\n"),
                                  Pair("empty", ""), Pair("sub/inner", "x")));
}

// The kubelet's layout: key -> ..data/key, ..data -> ..<timestamp>/.
TEST(ReadConfigDir, KubeletAtomicWriterLayoutGivesTheKeysOnly) {
  TempDir dir;
  const std::string cm = dir / "cm";
  Sh("mkdir -p " + cm + "/..2026_12_03_08_00_00.1 && printf u > " + cm +
      "/..2026_12_03_08_00_00.1/userdata && printf n > " + cm +
      "/..2026_12_03_08_00_00.1/networkdata && ln -s ..2026_12_03_08_00_00.1 " + cm +
      "/..data && ln -s ..data/userdata " + cm + "/userdata && ln -s ..data/networkdata " +
      cm + "/networkdata");
  auto files = ReadConfigDir(cm, "here");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ElementsAre(Pair("networkdata", "n"), Pair("userdata", "u")));
}

TEST(ReadConfigDir, MissingDirectoryIsNotFoundNamingWhereAndTheDir) {
  TempDir dir;
  auto files = ReadConfigDir(dir / "nope", "spec.volumes[2] \"cfg\": configMap \"app\"");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(files.status().message()),
              HasSubstr("spec.volumes[2] \"cfg\": configMap \"app\": no directory " +
                        dir / "nope"));
}

TEST(ReadConfigDir, LinkOutOfTheDirectoryIsRefused) {
  TempDir dir;
  Sh("mkdir -p " + dir / "cm && printf secret > " + dir / "outside && ln -s " +
      dir / "outside " + dir / "cm/key");
  auto files = ReadConfigDir(dir / "cm", "here");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(files.status().message()), HasSubstr("outside"));
}

TEST(ReadConfigDir, DanglingLinkIsNotFound) {
  TempDir dir;
  Sh("mkdir -p " + dir / "cm && ln -s gone " + dir / "cm/key");
  auto files = ReadConfigDir(dir / "cm", "here");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(files.status().message()), HasSubstr("dangling"));
}

TEST(ReadConfigDir, MoreThanTheByteLimitIsRefusedBeforeReading) {
  TempDir dir;
  Sh("mkdir -p " + dir / "cm && truncate -s 17M " + dir / "cm/big");
  auto files = ReadConfigDir(dir / "cm", "here");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ReadConfigDir, MoreThanTheFileLimitIsRefused) {
  TempDir dir;
  Sh("mkdir -p " + dir / "cm && cd " + dir / "cm" + " && touch $(seq 1 " +
      std::to_string(kMaxConfigFiles + 1) + ")");
  auto files = ReadConfigDir(dir / "cm", "here");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ReadConfigDir, ADirectoryLinkLoopStopsAtTheDepthLimit) {
  TempDir dir;
  Sh("mkdir -p " + dir / "cm/a && ln -s . " + dir / "cm/a/loop");
  auto files = ReadConfigDir(dir / "cm", "here");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace qdirect::plan
