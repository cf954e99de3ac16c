#include "plan/iso.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <map>
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

using ::testing::ElementsAre;
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
  std::sort(names.begin(), names.end());
  return names;
}

// The volume identifier of the primary volume descriptor (what blkid
// reports as LABEL), trailing spaces trimmed.
std::string VolumeLabel(const std::string& iso) {
  std::string data = ReadFile(iso);
  if (data.size() < 32768 + 72) return "<short>";
  std::string id = data.substr(32768 + 40, 32);
  while (!id.empty() && id.back() == ' ') id.pop_back();
  return id;
}

// Extracts the whole image with osirrox (Rock Ridge names) into dir/out.
std::string Extract(const TempDir& dir, const std::string& iso) {
  std::string out = dir / "out";
  auto [rc, text] = Shell("osirrox -indev " + iso + " -extract / " + out);
  EXPECT_EQ(rc, 0) << text;
  return out;
}

TEST(BuildIso, NoCloudNamesAndContentsComeBackExactly) {
  TempDir dir;
  std::string iso = dir / "cidata.iso";
  const std::string user_data = "#cloud-config\npassword: s3cret\n";
  const std::string meta_data = "instance-id: vm1\nlocal-hostname: vm1\n";
  ASSERT_TRUE(BuildIso(iso, "cidata",
                       {{"user-data", user_data}, {"meta-data", meta_data}})
                  .ok());
  std::string out = Extract(dir, iso);
  EXPECT_THAT(ListDir(out), ElementsAre("meta-data", "user-data"));
  EXPECT_EQ(ReadFile(out + "/user-data"), user_data);
  EXPECT_EQ(ReadFile(out + "/meta-data"), meta_data);
}

TEST(BuildIso, VolumeLabelIsInThePrimaryVolumeDescriptor) {
  TempDir dir;
  std::string iso = dir / "cidata.iso";
  ASSERT_TRUE(BuildIso(iso, "cidata", {{"user-data", "x"}}).ok());
  EXPECT_EQ(VolumeLabel(iso), "cidata");
}

TEST(BuildIso, BlkidReadsTheLabelAndType) {
  TempDir dir;
  std::string iso = dir / "cfg.iso";
  ASSERT_TRUE(BuildIso(iso, "config-2", {{"a", "b"}}).ok());
  auto [rc, out] = Shell("blkid -p -o value -s LABEL -s TYPE " + iso);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_THAT(out, HasSubstr("config-2"));
  EXPECT_THAT(out, HasSubstr("iso9660"));
}

TEST(BuildIso, ConfigDriveNestedDirectoriesComeBack) {
  TempDir dir;
  std::string iso = dir / "configdrive.iso";
  const std::string meta = R"({"uuid": "1234", "hostname": "vm1"})";
  ASSERT_TRUE(BuildIso(iso, "config-2",
                       {{"openstack/latest/meta_data.json", meta},
                        {"openstack/latest/user_data", "#cloud-config\n"},
                        {"openstack/latest/network_data.json", "{}"}})
                  .ok());
  std::string out = Extract(dir, iso);
  EXPECT_THAT(ListDir(out + "/openstack/latest"),
              ElementsAre("meta_data.json", "network_data.json", "user_data"));
  EXPECT_EQ(ReadFile(out + "/openstack/latest/meta_data.json"), meta);
}

TEST(BuildIso, HasAJolietVolumeDescriptor) {
  TempDir dir;
  std::string iso = dir / "j.iso";
  ASSERT_TRUE(BuildIso(iso, "cidata", {{"network-config", "v: 2\n"}}).ok());
  // Volume descriptors follow the primary one from sector 17: a
  // supplementary one (type 2) with a UCS-2 escape sequence is Joliet, the
  // tree Windows guests (cloudbase-init) read.
  std::string data = ReadFile(iso);
  bool joliet = false;
  for (size_t sector = 17; (sector + 1) * 2048 <= data.size(); ++sector) {
    std::string vd = data.substr(sector * 2048, 2048);
    if (vd.compare(1, 5, "CD001") != 0 || vd[0] == '\xff') break;
    if (vd[0] == 2 && vd.compare(88, 2, "%/") == 0) joliet = true;
  }
  EXPECT_TRUE(joliet);
}

TEST(BuildIso, EmptyAndBinaryContentsSurvive) {
  TempDir dir;
  std::string iso = dir / "b.iso";
  std::string binary;
  for (int i = 0; i < 70000; ++i) binary.push_back(static_cast<char>(i * 7));
  ASSERT_TRUE(BuildIso(iso, "data", {{"empty", ""}, {"blob", binary}}).ok());
  std::string out = Extract(dir, iso);
  EXPECT_EQ(ReadFile(out + "/empty"), "");
  EXPECT_EQ(ReadFile(out + "/blob"), binary);
}

TEST(BuildIso, ReplacesAnExistingImageAndLeavesNoTempFile) {
  TempDir dir;
  std::string iso = dir / "cidata.iso";
  ASSERT_TRUE(BuildIso(iso, "cidata", {{"user-data", "old"}}).ok());
  ASSERT_TRUE(BuildIso(iso, "cidata", {{"user-data", "new"}}).ok());
  EXPECT_THAT(ListDir(dir.path()), ElementsAre("cidata.iso"));
  std::string out = Extract(dir, iso);
  EXPECT_EQ(ReadFile(out + "/user-data"), "new");
}

TEST(BuildIso, DotDotComponentIsRefused) {
  TempDir dir;
  absl::Status s = BuildIso(dir / "x.iso", "cidata", {{"a/../b", "x"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("a/../b"));
  EXPECT_THAT(ListDir(dir.path()), ::testing::IsEmpty());
}

TEST(BuildIso, AbsoluteFileNameIsRefused) {
  TempDir dir;
  EXPECT_EQ(BuildIso(dir / "x.iso", "cidata", {{"/etc/passwd", "x"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BuildIso, NameThatIsBothFileAndDirectoryIsRefused) {
  TempDir dir;
  absl::Status s =
      BuildIso(dir / "x.iso", "cidata", {{"a", "file"}, {"a/b", "nested"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("both a file and a directory"));
}

TEST(BuildIso, OverlongLabelIsRefused) {
  TempDir dir;
  EXPECT_EQ(BuildIso(dir / "x.iso", std::string(33, 'L'), {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BuildIso, MissingDirectoryIsAnError) {
  TempDir dir;
  absl::Status s = BuildIso(dir / "no/such/x.iso", "cidata", {{"a", "b"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace qdirect
