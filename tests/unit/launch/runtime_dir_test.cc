#include "launch/runtime_dir.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace qdirect::launch {
namespace {

using ::qdirect::launch::testing::ReadFile;
using ::qdirect::launch::testing::TempDir;
using ::qdirect::launch::testing::WriteFile;
using ::testing::HasSubstr;

TEST(ValidateVmName, AcceptsDnsLabelsOnly) {
  const struct {
    std::string name;
    bool ok;
  } cases[] = {
      {"a", true},
      {"vm-1", true},
      {"0start", true},
      {std::string(63, 'a'), true},
      {std::string(64, 'a'), false},
      {"", false},
      {"-vm", false},
      {"vm-", false},
      {"VM", false},
      {"vm.example", false},
      {"vm_1", false},
      {"../etc", false},
      {"a/b", false},
      {"vm 1", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ValidateVmName(c.name).ok(), c.ok) << '"' << c.name << '"';
  }
}

TEST(ValidateVmName, ErrorNamesFieldAndValue) {
  absl::Status status = ValidateNamespace("Kube_System");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      status.message(),
      HasSubstr("namespace: Invalid value: \"Kube_System\": character 'K'"));
}

TEST(CheckSocketPath, RefusesPathsSunPathCannotHold) {
  EXPECT_TRUE(CheckSocketPath(std::string(107, 'x')).ok());
  const std::string long_path = "/run/" + std::string(103, 'x');
  absl::Status status = CheckSocketPath(long_path);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(long_path + " is 108 bytes long"));
  EXPECT_EQ(sizeof(sockaddr_un::sun_path), kMaxSocketPathLength + 1);
}

TEST(RuntimeRoot, ChosenFromEnvironmentAndUid) {
  EXPECT_EQ(RuntimeRootFor("/x", "/run/user/1000", 1000), "/x");
  EXPECT_EQ(RuntimeRootFor("", std::nullopt, 0), "/run/qdirect");
  EXPECT_EQ(RuntimeRootFor(std::nullopt, "/run/user/0", 0), "/run/qdirect");
  EXPECT_EQ(RuntimeRootFor(std::nullopt, "/run/user/1000", 1000),
            "/run/user/1000/qdirect");
  EXPECT_EQ(RuntimeRootFor(std::nullopt, std::nullopt, 1000),
            "/tmp/qdirect-1000");
}

TEST(VmRuntimeDir, CreatesPrivateDirWithPidFile) {
  TempDir temp;
  const std::string root = temp.File("root");
  absl::StatusOr<VmRuntimeDir> dir =
      VmRuntimeDir::Acquire(root, "default", "vm1");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(dir->path(), root + "/default_vm1");
  EXPECT_FALSE(dir->recovered());
  struct stat info;
  ASSERT_EQ(stat(dir->path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0700u);
  EXPECT_EQ(ReadFile(dir->path() + "/launcher.pid"),
            std::to_string(getpid()) + "\n");
  EXPECT_EQ(*dir->File("qmp.sock", true), dir->path() + "/qmp.sock");
}

TEST(VmRuntimeDir, RefusesInvalidNames) {
  TempDir temp;
  EXPECT_EQ(
      VmRuntimeDir::Acquire(temp.path(), "default", "../x").status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(VmRuntimeDir, SecondHolderIsRefusedWhileTheFirstLives) {
  TempDir temp;
  absl::StatusOr<VmRuntimeDir> first =
      VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<VmRuntimeDir> second =
      VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(second.status().message(),
              HasSubstr("in use by launcher pid " + std::to_string(getpid())));
}

TEST(VmRuntimeDir, StaleDirOfADeadLauncherIsRecovered) {
  TempDir temp;
  // A launcher in a child process acquires the dir, leaves files, dies.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<VmRuntimeDir> dir =
        VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
    if (!dir.ok()) _exit(1);
    WriteFile(dir->path() + "/qmp.sock", "stale");
    mkdir((dir->path() + "/sub").c_str(), 0700);
    WriteFile(dir->path() + "/sub/overlay.qcow2", "stale");
    _exit(0);  // no Remove(): a crash
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  absl::StatusOr<VmRuntimeDir> dir =
      VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(dir->recovered());
  EXPECT_NE(access((dir->path() + "/qmp.sock").c_str(), F_OK), 0);
  EXPECT_NE(access((dir->path() + "/sub").c_str(), F_OK), 0);
  EXPECT_EQ(ReadFile(dir->path() + "/launcher.pid"),
            std::to_string(getpid()) + "\n");
}

TEST(VmRuntimeDir, RefusesANonDirectory) {
  TempDir temp;
  WriteFile(temp.File("ns_vm"), "");
  absl::Status status = VmRuntimeDir::Acquire(temp.path(), "ns", "vm").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("not a directory"));
  ASSERT_EQ(symlink("/tmp", temp.File("ns_link").c_str()), 0);
  EXPECT_EQ(VmRuntimeDir::Acquire(temp.path(), "ns", "link").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(VmRuntimeDir, RefusesARootOthersCanWrite) {
  TempDir temp;
  ASSERT_EQ(chmod(temp.path().c_str(), 0777), 0);
  EXPECT_THAT(VmRuntimeDir::Acquire(temp.path(), "ns", "vm").status().message(),
              HasSubstr("writable by group or others"));
}

TEST(VmRuntimeDir, RemoveDeletesEverythingAndFreesTheName) {
  TempDir temp;
  absl::StatusOr<VmRuntimeDir> dir =
      VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
  ASSERT_TRUE(dir.ok());
  WriteFile(dir->path() + "/log", "x");
  ASSERT_TRUE(dir->Remove().ok());
  EXPECT_NE(access((temp.path() + "/ns_vm").c_str(), F_OK), 0);
  absl::StatusOr<VmRuntimeDir> again =
      VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->recovered());
}

TEST(VmRuntimeDirAsRoot, LetQemuInGivesGroupTraversalOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir temp;
  absl::StatusOr<VmRuntimeDir> dir =
      VmRuntimeDir::Acquire(temp.path(), "ns", "vm");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(
      dir->LetQemuIn(Credentials{.uid = 65534, .gid = 65534, .groups = {}})
          .ok());
  struct stat info;
  ASSERT_EQ(stat(dir->path().c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 0u);
  EXPECT_EQ(info.st_gid, 65534u);
  EXPECT_EQ(info.st_mode & 07777, 0710u);
  // A relaunch by root accepts the dir.
  dir = absl::InternalError("released");
  EXPECT_TRUE(VmRuntimeDir::Acquire(temp.path(), "ns", "vm").ok());
}

}  // namespace
}  // namespace qdirect::launch
