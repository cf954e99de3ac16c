#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/hostdev.h"
#include "fake_sysfs.h"

namespace qdirect::hostdev {
namespace {

using hostdev_test::FakePci;
using hostdev_test::FakeSysfs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// An NVIDIA GPU with its HDMI audio function in IOMMU group 12.
void AddGpuWithAudio(FakeSysfs& sysfs, const std::string& gpu_driver,
                     const std::string& audio_driver) {
  sysfs.AddPci({.address = "0000:65:00.0", .vendor = 0x10de, .device = 0x1eb8,
                .class_code = 0x030000, .driver = gpu_driver, .group = 12,
                .numa_node = 1});
  sysfs.AddPci({.address = "0000:65:00.1", .vendor = 0x10de, .device = 0x10f8,
                .class_code = 0x040300, .driver = audio_driver, .group = 12,
                .numa_node = 1});
}

TEST(HostdevDiscover, ReadsEveryAttributeOfADevice) {
  FakeSysfs sysfs;
  AddGpuWithAudio(sysfs, "vfio-pci", "");
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_TRUE(host.ok()) << host.status();
  ASSERT_EQ(host->pci.size(), 2u);
  const PciDevice& gpu = host->pci[0];
  EXPECT_EQ(gpu.address, "0000:65:00.0");
  EXPECT_EQ(gpu.vendor_id, 0x10deu);
  EXPECT_EQ(gpu.device_id, 0x1eb8u);
  EXPECT_EQ(gpu.class_code, 0x030000u);
  EXPECT_EQ(gpu.subsystem_vendor_id, 0x10deu);
  EXPECT_EQ(gpu.subsystem_device_id, 0x12a2u);
  EXPECT_EQ(gpu.driver, "vfio-pci");
  EXPECT_EQ(gpu.driver_override, "");
  EXPECT_EQ(gpu.iommu_group, 12);
  EXPECT_EQ(gpu.numa_node, 1);
  EXPECT_EQ(gpu.VendorSelector(), "10de:1eb8");
  EXPECT_TRUE(gpu.IsGpu());
  EXPECT_FALSE(host->pci[1].IsGpu());
  EXPECT_EQ(host->pci[1].driver, "");
}

TEST(HostdevDiscover, DeviceWithoutIommuGroupHasGroupMinusOne) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:00:1f.0", .class_code = 0x060100,
                .driver = "lpc_ich"});
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->pci[0].iommu_group, -1);
  EXPECT_TRUE(host->Groups().empty());
}

TEST(HostdevDiscover, GpuCompanionsAreTheOtherFunctionsOfItsSlotAndGroup) {
  FakeSysfs sysfs;
  AddGpuWithAudio(sysfs, "vfio-pci", "vfio-pci");
  // Same group, other slot: not a companion.
  sysfs.AddPci({.address = "0000:64:00.0", .class_code = 0x060400,
                .driver = "pcieport", .group = 12});
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_THAT(CompanionFunctions(*host, "0000:65:00.0"),
              ElementsAre("0000:65:00.1"));
  EXPECT_THAT(host->GroupMembers(12).size(), 3u);
}

TEST(HostdevDiscover, ReadsMdevTypesAndInstances) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030200,
                .driver = "nvidia", .group = 12});
  sysfs.AddMdevType("0000:65:00.0", "nvidia-222", "GRID T4-1B", 15);
  sysfs.AddMdevType("0000:65:00.0", "nvidia-223", "GRID T4-2B", 0);
  sysfs.AddMdev("6d2c3e5a-52d4-4c7e-9b1a-1f9a3e0c9b11", "0000:65:00.0",
                "nvidia-222", 40);
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_TRUE(host.ok()) << host.status();
  ASSERT_EQ(host->pci.size(), 1u);
  EXPECT_THAT(host->pci[0].mdev_types,
              ElementsAre(MdevType{"nvidia-222", "GRID T4-1B", "vfio-pci", 15},
                          MdevType{"nvidia-223", "GRID T4-2B", "vfio-pci", 0}));
  EXPECT_THAT(host->mdevs,
              ElementsAre(MdevInstance{"6d2c3e5a-52d4-4c7e-9b1a-1f9a3e0c9b11",
                                       "nvidia-222", "0000:65:00.0", 40}));
}

TEST(HostdevDiscover, MissingRootIsAnErrorNamingThePath) {
  absl::StatusOr<HostDevices> host = DiscoverHostDevices("/nonexistent-sysfs");
  ASSERT_FALSE(host.ok());
  EXPECT_THAT(host.status().message(),
              HasSubstr("/nonexistent-sysfs/bus/pci/devices"));
}

TEST(HostdevDiscover, GarbledAttributeIsAnErrorNamingTheFile) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .driver = "", .group = 1});
  {
    std::ofstream out(sysfs.DeviceDir("0000:65:00.0") + "/class");
    out << "zebra\n";
  }
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_FALSE(host.ok());
  EXPECT_THAT(host.status().message(), HasSubstr("0000:65:00.0/class"));
  EXPECT_THAT(host.status().message(), HasSubstr("zebra"));
}

TEST(HostdevDiscover, ReadsThisHostsRealSysfs) {
  // No VFIO hardware here, but the real layout must parse.
  absl::StatusOr<HostDevices> host = DiscoverHostDevices("/sys");
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_FALSE(host->pci.empty());
}

TEST(HostdevAddress, CanonicalFormAddsTheDomainAndLowersHex) {
  EXPECT_EQ(CanonicalPciAddress("65:00.0").value(), "0000:65:00.0");
  EXPECT_EQ(CanonicalPciAddress("0000:3B:02.1").value(), "0000:3b:02.1");
  EXPECT_FALSE(CanonicalPciAddress("65:00").ok());
  EXPECT_FALSE(CanonicalPciAddress("0000:65:00.8").ok());
  EXPECT_FALSE(CanonicalPciAddress("../../etc").ok());
}

}  // namespace
}  // namespace qdirect::hostdev
