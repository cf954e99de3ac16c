#include "plan/files.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan/qcow2.h"
#include "file_test_util.h"

namespace qdirect {
namespace {

using plan_test::ReadFile;
using plan_test::Shell;
using plan_test::TempDir;
using plan_test::WriteFile;

using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

FileToCreate NoCloud(const std::string& path, const std::string& user_data) {
  FileToCreate f;
  f.kind = FileToCreate::Kind::kNoCloudIso;
  f.path = path;
  f.label = "cidata";
  f.iso_files = {{"user-data", user_data}, {"meta-data", "instance-id: a\n"}};
  return f;
}

FileToCreate Overlay(const std::string& path, const std::string& base) {
  FileToCreate f;
  f.kind = FileToCreate::Kind::kQcow2Overlay;
  f.path = path;
  f.backing_path = base;
  f.backing_format = "raw";
  return f;
}

FileToCreate Raw(const std::string& path, int64_t size) {
  FileToCreate f;
  f.kind = FileToCreate::Kind::kRawImage;
  f.path = path;
  f.size_bytes = size;
  return f;
}

TEST(CreatePlanFiles, CreatesEveryKindWithPrivateParentDirectories) {
  TempDir dir;
  std::string base = dir / "base.raw";
  WriteFile(base, std::string(1 << 20, 'B'));
  std::string vm = dir / "vms/vm1";
  Plan plan;
  plan.files = {NoCloud(vm + "/cloudinit.iso", "#cloud-config\n"),
                Overlay(vm + "/os.qcow2", base),
                Raw(vm + "/scratch.img", 4096)};
  ASSERT_TRUE(CreatePlanFiles(plan).ok());

  struct stat st;
  ASSERT_EQ(stat(vm.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(ReadFile(vm + "/cloudinit.iso").compare(32769, 5, "CD001"), 0);
  absl::StatusOr<ImageInfo> overlay = ReadImageInfo(vm + "/os.qcow2");
  ASSERT_TRUE(overlay.ok()) << overlay.status();
  EXPECT_EQ(overlay->backing_file, base);
  ASSERT_EQ(stat((vm + "/scratch.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4096);
}

TEST(CreatePlanFiles, KeepsAnExistingOverlayOfTheSameBase) {
  TempDir dir;
  std::string base = dir / "base.raw";
  WriteFile(base, std::string(1 << 20, 'B'));
  Plan plan;
  plan.files = {Overlay(dir / "os.qcow2", base)};
  ASSERT_TRUE(CreatePlanFiles(plan).ok());
  ASSERT_EQ(
      Shell("qemu-io -f qcow2 -c 'write -P 0xab 0 64k' " + dir / "os.qcow2")
          .first,
      0);

  ASSERT_TRUE(CreatePlanFiles(plan).ok());  // a restart

  auto [rc, out] =
      Shell("qemu-io -f qcow2 -c 'read -P 0xab 0 64k' " + dir / "os.qcow2");
  EXPECT_EQ(rc, 0) << out;  // the guest's write survived
}

TEST(CreatePlanFiles, RefusesAnOverlayOfAnotherBase) {
  TempDir dir;
  std::string base = dir / "base.raw";
  WriteFile(base, std::string(4096, 'B'));
  std::string other = dir / "other.raw";
  WriteFile(other, std::string(4096, 'O'));
  ASSERT_TRUE(CreateQcow2Overlay(dir / "os.qcow2", other, "raw").ok());
  const std::string before = ReadFile(dir / "os.qcow2");
  Plan plan;
  plan.files = {Overlay(dir / "os.qcow2", base)};

  absl::Status s = CreatePlanFiles(plan);

  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr(dir / "os.qcow2"));
  EXPECT_EQ(ReadFile(dir / "os.qcow2"), before);
}

TEST(CreatePlanFiles, RefusesToReplaceAFileThatIsNotAnIso) {
  TempDir dir;
  WriteFile(dir / "cloudinit.iso", "precious data");
  Plan plan;
  plan.files = {NoCloud(dir / "cloudinit.iso", "x")};

  absl::Status s = CreatePlanFiles(plan);

  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(dir / "cloudinit.iso"), "precious data");
}

TEST(CreatePlanFiles, RefusesASymlinkAtThePath) {
  TempDir dir;
  WriteFile(dir / "target", "not ours");
  ASSERT_EQ(symlink((dir / "target").c_str(), (dir / "scratch.img").c_str()),
            0);
  Plan plan;
  plan.files = {Raw(dir / "scratch.img", 8)};

  absl::Status s = CreatePlanFiles(plan);

  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(dir / "target"), "not ours");
}

TEST(CreatePlanFiles, RebuildsAnExistingIsoWithTheNewContents) {
  TempDir dir;
  Plan plan;
  plan.files = {NoCloud(dir / "cloudinit.iso", "old-user-data")};
  ASSERT_TRUE(CreatePlanFiles(plan).ok());
  plan.files = {NoCloud(dir / "cloudinit.iso", "new-user-data")};

  ASSERT_TRUE(CreatePlanFiles(plan).ok());

  std::string iso = ReadFile(dir / "cloudinit.iso");
  EXPECT_NE(iso.find("new-user-data"), std::string::npos);
  EXPECT_EQ(iso.find("old-user-data"), std::string::npos);
}

TEST(CreatePlanFiles, KeepsARawImageOfTheSameSize) {
  TempDir dir;
  Plan plan;
  plan.files = {Raw(dir / "scratch.img", 4096)};
  ASSERT_TRUE(CreatePlanFiles(plan).ok());
  std::string data(4096, 'G');
  WriteFile(dir / "scratch.img", data);  // guest data, same size

  ASSERT_TRUE(CreatePlanFiles(plan).ok());

  EXPECT_EQ(ReadFile(dir / "scratch.img"), data);
}

TEST(CreatePlanFiles, RefusesARawImageOfAnotherSize) {
  TempDir dir;
  WriteFile(dir / "scratch.img", "small");
  Plan plan;
  plan.files = {Raw(dir / "scratch.img", 4096)};

  absl::Status s = CreatePlanFiles(plan);

  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(dir / "scratch.img"), "small");
}

TEST(CreatePlanFiles, RelativePathIsRefused) {
  Plan plan;
  plan.files = {Raw("relative.img", 4096)};
  EXPECT_EQ(CreatePlanFiles(plan).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Exists("relative.img"));
}

TEST(CreatePlanFiles, GivesFilesAndCreatedDirectoriesToTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "chown needs root";
  TempDir dir;
  std::string vm = dir / "vm";
  Plan plan;
  plan.files = {NoCloud(vm + "/ci.iso", "x"), Raw(vm + "/e.img", 512)};

  ASSERT_TRUE(CreatePlanFiles(plan, {.uid = 65534, .gid = 65533}).ok());

  for (const std::string& path : {vm, vm + "/ci.iso", vm + "/e.img"}) {
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_uid, 65534u) << path;
    EXPECT_EQ(st.st_gid, 65533u) << path;
  }
  struct stat top;
  ASSERT_EQ(stat((dir / "").c_str(), &top), 0);
  EXPECT_EQ(top.st_uid, 0u);  // existing directories are left alone
}

TEST(RemovePlanFiles, RemovesIsosOverlaysAndRawImagesInTheStateDir) {
  TempDir dir;
  std::string base = dir / "base.raw";
  WriteFile(base, std::string(4096, 'B'));
  std::string vm = dir / "vm";
  Plan plan;
  plan.files = {NoCloud(vm + "/ci.iso", "x"), Overlay(vm + "/os.qcow2", base),
                Raw(vm + "/empty.img", 4096)};
  ASSERT_TRUE(CreatePlanFiles(plan).ok());

  ASSERT_TRUE(RemovePlanFiles(plan, vm).ok());

  EXPECT_FALSE(Exists(vm + "/ci.iso"));
  EXPECT_FALSE(Exists(vm + "/os.qcow2"));
  EXPECT_FALSE(Exists(vm + "/empty.img"));
  EXPECT_TRUE(Exists(base));
}

TEST(RemovePlanFiles, KeepsRawImagesOutsideTheStateDir) {
  TempDir dir;
  Plan plan;
  plan.files = {Raw(dir / "data/host.img", 4096)};  // hostDisk DiskOrCreate
  ASSERT_TRUE(CreatePlanFiles(plan).ok());

  ASSERT_TRUE(RemovePlanFiles(plan, dir / "vm").ok());

  EXPECT_TRUE(Exists(dir / "data/host.img"));
}

TEST(RemovePlanFiles, MissingFilesAreFine) {
  TempDir dir;
  Plan plan;
  plan.files = {NoCloud(dir / "never-created.iso", "x")};
  EXPECT_TRUE(RemovePlanFiles(plan).ok());
}

TEST(StagedFile, UncommittedFileIsRemoved) {
  TempDir dir;
  std::string temp;
  {
    absl::StatusOr<StagedFile> staged = StagedFile::Create(dir / "f");
    ASSERT_TRUE(staged.ok()) << staged.status();
    temp = staged->temp_path();
    EXPECT_TRUE(Exists(temp));
  }
  EXPECT_FALSE(Exists(temp));
  EXPECT_FALSE(Exists(dir / "f"));
}

TEST(StagedFile, CommitWithoutReplaceKeepsAnExistingFile) {
  TempDir dir;
  WriteFile(dir / "f", "first");
  absl::StatusOr<StagedFile> staged = StagedFile::Create(dir / "f");
  ASSERT_TRUE(staged.ok()) << staged.status();
  ASSERT_TRUE(WriteAllAt(staged->fd(), "second", 6, 0, "test").ok());

  EXPECT_EQ(staged->Commit(/*replace=*/false).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(dir / "f"), "first");
}

}  // namespace
}  // namespace qdirect
