#include "plan/qcow2.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "file_test_util.h"

namespace qdirect {
namespace {

using plan_test::ReadFile;
using plan_test::Shell;
using plan_test::TempDir;
using plan_test::WriteFile;

using ::testing::HasSubstr;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

// A raw base of `size` bytes with a recognisable first sector.
std::string MakeRawBase(const TempDir& dir, int64_t size) {
  std::string path = dir / "base.raw";
  std::string data(static_cast<size_t>(size), '\0');
  for (size_t i = 0; i < 512 && i < data.size(); ++i) data[i] = 'B';
  WriteFile(path, data);
  return path;
}

TEST(ReadImageInfo, RawFileIsRawWithItsFileSize) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 3 * 4096);
  absl::StatusOr<ImageInfo> info = ReadImageInfo(base);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, "raw");
  EXPECT_EQ(info->virtual_size, 3 * 4096);
}

TEST(ReadImageInfo, Qcow2FromQemuImgIsQcow2WithItsVirtualSize) {
  TempDir dir;
  std::string base = dir / "base.qcow2";
  ASSERT_EQ(Shell("qemu-img create -q -f qcow2 " + base + " 5M").first, 0);
  absl::StatusOr<ImageInfo> info = ReadImageInfo(base);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, "qcow2");
  EXPECT_EQ(info->virtual_size, 5 << 20);
  EXPECT_EQ(info->backing_file, "");
}

TEST(ReadImageInfo, ReportsTheBackingFileAQcow2Names) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 1 << 20);
  std::string top = dir / "top.qcow2";
  ASSERT_EQ(
      Shell("qemu-img create -q -f qcow2 -F raw -b " + base + " " + top).first,
      0);
  absl::StatusOr<ImageInfo> info = ReadImageInfo(top);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->backing_file, base);
}

TEST(ReadImageInfo, MissingFileIsNotFound) {
  TempDir dir;
  EXPECT_EQ(ReadImageInfo(dir / "nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(CreateQcow2Overlay, PassesQemuImgCheck) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 1 << 20);
  std::string overlay = dir / "overlay.qcow2";
  ASSERT_TRUE(CreateQcow2Overlay(overlay, base, "raw").ok());
  auto [rc, out] = Shell("qemu-img check " + overlay);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("No errors were found"));
}

TEST(CreateQcow2Overlay, QemuImgInfoShowsBackingFormatAndRawBaseSize) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 3 << 20);
  std::string overlay = dir / "overlay.qcow2";
  ASSERT_TRUE(CreateQcow2Overlay(overlay, base, "raw").ok());
  auto [rc, out] = Shell("qemu-img info --output=json " + overlay);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"format\": \"qcow2\""));
  EXPECT_THAT(out, HasSubstr("\"backing-filename\": \"" + base + "\""));
  EXPECT_THAT(out, HasSubstr("\"backing-filename-format\": \"raw\""));
  EXPECT_THAT(out, HasSubstr("\"virtual-size\": " + std::to_string(3 << 20)));
}

TEST(CreateQcow2Overlay, SizeDefaultsToTheQcow2BaseVirtualSize) {
  TempDir dir;
  std::string base = dir / "base.qcow2";
  ASSERT_EQ(Shell("qemu-img create -q -f qcow2 " + base + " 7M").first, 0);
  std::string overlay = dir / "overlay.qcow2";
  ASSERT_TRUE(CreateQcow2Overlay(overlay, base, "qcow2").ok());
  auto [rc, out] = Shell("qemu-img info --output=json " + overlay);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("\"virtual-size\": " + std::to_string(7 << 20)));
  EXPECT_THAT(out, HasSubstr("\"backing-filename-format\": \"qcow2\""));
  EXPECT_EQ(Shell("qemu-img check " + overlay).first, 0);
}

TEST(CreateQcow2Overlay, ExplicitSizeIsRoundedUpTo512) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 4096);
  std::string overlay = dir / "overlay.qcow2";
  ASSERT_TRUE(CreateQcow2Overlay(overlay, base, "raw", 1000).ok());
  absl::StatusOr<ImageInfo> info = ReadImageInfo(overlay);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->virtual_size, 1024);
}

TEST(CreateQcow2Overlay, LargeVirtualSizeWithMultiClusterL1PassesCheck) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 4096);
  std::string overlay = dir / "overlay.qcow2";
  const int64_t ten_tib = int64_t{10} << 40;  // L1: 20480 entries, 3 clusters
  ASSERT_TRUE(CreateQcow2Overlay(overlay, base, "raw", ten_tib).ok());
  auto [rc, out] = Shell("qemu-img check " + overlay);
  EXPECT_EQ(rc, 0) << out;
  auto [info_rc, info] = Shell("qemu-img info --output=json " + overlay);
  EXPECT_THAT(info, HasSubstr("\"virtual-size\": " + std::to_string(ten_tib)));
}

TEST(CreateQcow2Overlay, QemuWritesThroughItAndTheBaseStaysUntouched) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 1 << 20);
  const std::string before = ReadFile(base);
  std::string overlay = dir / "overlay.qcow2";
  ASSERT_TRUE(CreateQcow2Overlay(overlay, base, "raw").ok());
  auto [wrc, wout] =
      Shell("qemu-io -f qcow2 -c 'write -P 0xab 65536 64k' " + overlay);
  ASSERT_EQ(wrc, 0) << wout;
  // The write reads back, and the base's sector 0 shows through unchanged.
  auto [rrc, rout] = Shell(
      "qemu-io -f qcow2 -c 'read -P 0xab 65536 64k' -c "
      "'read -P 0x42 0 512' " +
      overlay);
  EXPECT_EQ(rrc, 0) << rout;
  EXPECT_THAT(rout, ::testing::Not(HasSubstr("Pattern verification failed")));
  EXPECT_EQ(ReadFile(base), before);
  EXPECT_EQ(Shell("qemu-img check " + overlay).first, 0);
}

TEST(CreateQcow2Overlay, RelativeBackingPathIsRefused) {
  TempDir dir;
  absl::Status s = CreateQcow2Overlay(dir / "o.qcow2", "base.raw", "raw", 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("absolute"));
}

TEST(CreateQcow2Overlay, UnknownBackingFormatIsRefused) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 4096);
  absl::Status s = CreateQcow2Overlay(dir / "o.qcow2", base, "vmdk");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("vmdk"));
}

TEST(CreateQcow2Overlay, BackingFormatThatDisagreesWithTheFileIsRefused) {
  TempDir dir;
  std::string base = MakeRawBase(dir, 4096);
  absl::Status s = CreateQcow2Overlay(dir / "o.qcow2", base, "qcow2");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(CreateQcow2Overlay, FailureLeavesNoFileBehind) {
  TempDir dir;
  absl::Status s =
      CreateQcow2Overlay(dir / "o.qcow2", dir / "missing.raw", "raw");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ListDir(dir.path()), ::testing::IsEmpty());
}

TEST(CreateRawImage, IsSparseWithTheExactSize) {
  TempDir dir;
  std::string path = dir / "empty.img";
  const int64_t size = int64_t{1} << 30;
  ASSERT_TRUE(CreateRawImage(path, size).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, size);
  EXPECT_LT(st.st_blocks * 512, int64_t{1} << 20);  // nothing allocated
  EXPECT_THAT(ListDir(dir.path()), ::testing::ElementsAre("empty.img"));
}

TEST(CreateRawImage, NonPositiveSizeIsRefused) {
  TempDir dir;
  EXPECT_EQ(CreateRawImage(dir / "x.img", 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qdirect
