#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/hostdev.h"
#include "fake_sysfs.h"

namespace qdirect::hostdev {
namespace {

using hostdev_test::FakeSysfs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

HostDevices Discover(const FakeSysfs& sysfs) {
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  EXPECT_TRUE(host.ok()) << host.status();
  return host.ok() ? *host : HostDevices{};
}

TEST(HostdevIommu, GpuAndAudioOnVfioPciIsViable) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 12});
  sysfs.AddPci({.address = "0000:65:00.1", .class_code = 0x040300,
                .driver = "vfio-pci", .group = 12});
  HostDevices host = Discover(sysfs);
  EXPECT_EQ(CheckGroup(host, 12), (GroupViability{12, true, {}}));
  EXPECT_TRUE(CheckViable(host, "0000:65:00.0").ok());
}

TEST(HostdevIommu, UnboundCompanionKeepsTheGroupViable) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 12});
  sysfs.AddPci({.address = "0000:65:00.1", .class_code = 0x040300,
                .driver = "", .group = 12});
  HostDevices host = Discover(sysfs);
  EXPECT_TRUE(CheckGroup(host, 12).viable);
  EXPECT_TRUE(CheckViable(host, "0000:65:00.0").ok());
}

TEST(HostdevIommu, BridgeOnPcieportKeepsTheGroupViable) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:64:00.0", .class_code = 0x060400,
                .driver = "pcieport", .group = 12});
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 12});
  EXPECT_TRUE(CheckViable(Discover(sysfs), "0000:65:00.0").ok());
}

TEST(HostdevIommu, DeviceHeldByAnotherDriverIsNotViable) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 12});
  sysfs.AddPci({.address = "0000:65:00.1", .class_code = 0x040300,
                .driver = "snd_hda_intel", .group = 12});
  HostDevices host = Discover(sysfs);
  GroupViability v = CheckGroup(host, 12);
  EXPECT_FALSE(v.viable);
  EXPECT_THAT(v.offending, ElementsAre("0000:65:00.1 (snd_hda_intel)"));
  absl::Status st = CheckViable(host, "0000:65:00.0");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("IOMMU group 12 is not viable"));
  EXPECT_THAT(st.message(), HasSubstr("0000:65:00.1 (snd_hda_intel)"));
}

TEST(HostdevIommu, DeviceWithoutGroupIsRefusedWithTheIommuHint) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .driver = "vfio-pci"});
  absl::Status st = CheckViable(Discover(sysfs), "0000:65:00.0");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("no IOMMU group"));
}

TEST(HostdevIommu, UnknownDeviceIsNotFound) {
  FakeSysfs sysfs;
  absl::Status st = CheckViable(Discover(sysfs), "0000:99:00.0");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("0000:99:00.0"));
}

}  // namespace
}  // namespace qdirect::hostdev
