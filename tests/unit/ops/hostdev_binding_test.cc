#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/hostdev.h"
#include "fake_sysfs.h"

namespace qdirect::hostdev {
namespace {

using hostdev_test::FakeSysfs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A GPU on the host's nvidia driver and its audio on snd_hda_intel, group 12.
void AddHostOwnedGpu(FakeSysfs& sysfs) {
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "nvidia", .group = 12});
  sysfs.AddPci({.address = "0000:65:00.1", .class_code = 0x040300,
                .driver = "snd_hda_intel", .group = 12});
}

std::vector<SysfsWrite> ExpectedBindWrites(const FakeSysfs& sysfs) {
  const std::string r = sysfs.root();
  return {
      {r + "/bus/pci/devices/0000:65:00.0/driver_override", "vfio-pci"},
      {r + "/bus/pci/drivers/nvidia/unbind", "0000:65:00.0"},
      {r + "/bus/pci/drivers_probe", "0000:65:00.0"},
      {r + "/bus/pci/devices/0000:65:00.1/driver_override", "vfio-pci"},
      {r + "/bus/pci/drivers/snd_hda_intel/unbind", "0000:65:00.1"},
      {r + "/bus/pci/drivers_probe", "0000:65:00.1"},
  };
}

PrepareOptions Options(const FakeSysfs& sysfs) {
  PrepareOptions options;
  options.sysfs_root = sysfs.root();
  options.dev_root = sysfs.dev_root();
  return options;
}

TEST(HostdevBinding, DryRunListsTheWritesAndWritesNothing) {
  FakeSysfs sysfs;
  AddHostOwnedGpu(sysfs);
  PrepareOptions options = Options(sysfs);
  options.bind = true;
  options.dry_run = true;
  absl::StatusOr<PreparedDevice> prepared = PrepareVfioDevice("65:00.0", options);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->writes, ExpectedBindWrites(sysfs));
  EXPECT_EQ(prepared->iommu_group, 12);
  EXPECT_EQ(prepared->group_device, sysfs.dev_root() + "/vfio/12");
  EXPECT_EQ(sysfs.Read("bus/pci/devices/0000:65:00.0/driver_override"), "(null)\n");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers_probe"), "");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers/nvidia/unbind"), "");
}

TEST(HostdevBinding, BindWritesReachTheSysfsFiles) {
  FakeSysfs sysfs;
  AddHostOwnedGpu(sysfs);
  PrepareOptions options = Options(sysfs);
  options.bind = true;
  absl::StatusOr<PreparedDevice> prepared =
      PrepareVfioDevice("0000:65:00.0", options);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->writes, ExpectedBindWrites(sysfs));
  EXPECT_EQ(sysfs.Read("bus/pci/devices/0000:65:00.0/driver_override"), "vfio-pci");
  EXPECT_EQ(sysfs.Read("bus/pci/devices/0000:65:00.1/driver_override"), "vfio-pci");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers/nvidia/unbind"), "0000:65:00.0");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers/snd_hda_intel/unbind"), "0000:65:00.1");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers_probe"), "0000:65:00.1");  // the last
  EXPECT_EQ(prepared->original_drivers,
            (std::map<std::string, std::string>{{"0000:65:00.0", "nvidia"},
                                                {"0000:65:00.1", "snd_hda_intel"}}));
}

TEST(HostdevBinding, ReleaseGivesEachFunctionBackToItsDriver) {
  FakeSysfs sysfs;
  AddHostOwnedGpu(sysfs);
  PrepareOptions options = Options(sysfs);
  options.bind = true;
  absl::StatusOr<PreparedDevice> prepared =
      PrepareVfioDevice("0000:65:00.0", options);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  absl::StatusOr<std::vector<SysfsWrite>> writes =
      ReleaseVfioDevice(*prepared, options);
  ASSERT_TRUE(writes.ok()) << writes.status();
  const std::string r = sysfs.root();
  EXPECT_THAT(*writes,
              ElementsAre(
                  SysfsWrite{r + "/bus/pci/drivers/vfio-pci/unbind", "0000:65:00.0"},
                  SysfsWrite{r + "/bus/pci/devices/0000:65:00.0/driver_override", "\n"},
                  SysfsWrite{r + "/bus/pci/drivers/nvidia/bind", "0000:65:00.0"},
                  SysfsWrite{r + "/bus/pci/drivers/vfio-pci/unbind", "0000:65:00.1"},
                  SysfsWrite{r + "/bus/pci/devices/0000:65:00.1/driver_override", "\n"},
                  SysfsWrite{r + "/bus/pci/drivers/snd_hda_intel/bind", "0000:65:00.1"}));
  EXPECT_EQ(sysfs.Read("bus/pci/drivers/nvidia/bind"), "0000:65:00.0");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers/snd_hda_intel/bind"), "0000:65:00.1");
  EXPECT_EQ(sysfs.Read("bus/pci/devices/0000:65:00.0/driver_override"), "\n");
}

TEST(HostdevBinding, AlreadyOnVfioPciNeedsNoWrite) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 12});
  sysfs.AddPci({.address = "0000:65:00.1", .class_code = 0x040300,
                .driver = "", .group = 12});
  PrepareOptions options = Options(sysfs);
  absl::StatusOr<PreparedDevice> prepared =
      PrepareVfioDevice("0000:65:00.0", options);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_THAT(prepared->writes, IsEmpty());
  EXPECT_THAT(prepared->original_drivers, IsEmpty());
}

TEST(HostdevBinding, ForeignGroupMemberRefusesBeforeAnyWrite) {
  FakeSysfs sysfs;
  AddHostOwnedGpu(sysfs);
  // Another slot in the same group, held by a NIC driver: not ours to take.
  sysfs.AddPci({.address = "0000:66:00.0", .class_code = 0x020000,
                .driver = "igb", .group = 12});
  PrepareOptions options = Options(sysfs);
  options.bind = true;
  absl::StatusOr<PreparedDevice> prepared =
      PrepareVfioDevice("0000:65:00.0", options);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prepared.status().message(), HasSubstr("IOMMU group 12"));
  EXPECT_THAT(prepared.status().message(), HasSubstr("0000:66:00.0 (igb)"));
  EXPECT_EQ(sysfs.Read("bus/pci/devices/0000:65:00.0/driver_override"), "(null)\n");
  EXPECT_EQ(sysfs.Read("bus/pci/drivers/nvidia/unbind"), "");
}

TEST(HostdevBinding, WithoutBindAHostOwnedDeviceIsRefused) {
  FakeSysfs sysfs;
  AddHostOwnedGpu(sysfs);
  absl::StatusOr<PreparedDevice> prepared =
      PrepareVfioDevice("0000:65:00.0", Options(sysfs));
  ASSERT_FALSE(prepared.ok());
  EXPECT_THAT(prepared.status().message(), HasSubstr("not viable"));
  EXPECT_THAT(prepared.status().message(), HasSubstr("0000:65:00.0 (nvidia)"));
}

TEST(HostdevBinding, GroupDeviceGoesToTheQemuUserAndBack) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another uid needs root";
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 12});
  PrepareOptions options = Options(sysfs);
  options.qemu_uid = 12345;
  options.qemu_gid = 12346;
  absl::StatusOr<PreparedDevice> prepared =
      PrepareVfioDevice("0000:65:00.0", options);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  struct stat st;
  ASSERT_EQ(::stat((sysfs.dev_root() + "/vfio/12").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 12345u);
  EXPECT_EQ(st.st_gid, 12346u);
  ASSERT_TRUE(ReleaseVfioDevice(*prepared, options).ok());
  ASSERT_EQ(::stat((sysfs.dev_root() + "/vfio/12").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST(HostdevBinding, MdevGroupDeviceIsFoundFromItsUuid) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030200,
                .driver = "nvidia", .group = 12});
  sysfs.AddMdevType("0000:65:00.0", "nvidia-222", "GRID T4-1B", 15);
  sysfs.AddMdev("11111111-2222-3333-4444-555555555555", "0000:65:00.0",
                "nvidia-222", 40);
  absl::StatusOr<PreparedDevice> prepared = PrepareMdevDevice(
      "11111111-2222-3333-4444-555555555555", Options(sysfs));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->iommu_group, 40);
  EXPECT_EQ(prepared->group_device, sysfs.dev_root() + "/vfio/40");
  EXPECT_THAT(prepared->writes, IsEmpty());
}

TEST(HostdevBinding, UnknownMdevIsNotFound) {
  FakeSysfs sysfs;
  absl::StatusOr<PreparedDevice> prepared =
      PrepareMdevDevice("11111111-2222-3333-4444-555555555555", Options(sysfs));
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(prepared.status().message(), HasSubstr("bus/mdev/devices"));
}

TEST(HostdevBinding, FailedWriteNamesThePathAndValue) {
  absl::Status st = ApplySysfsWrites({{"/nonexistent/driver_override", "vfio-pci"}});
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("/nonexistent/driver_override"));
  EXPECT_THAT(st.message(), HasSubstr("vfio-pci"));
}

}  // namespace
}  // namespace qdirect::hostdev
