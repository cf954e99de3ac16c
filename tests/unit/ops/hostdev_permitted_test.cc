#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/hostdev.h"
#include "fake_sysfs.h"

namespace qdirect::hostdev {
namespace {

using hostdev_test::FakeSysfs;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"(permittedHostDevices:
  pciHostDevices:
  - pciVendorSelector: "10DE:1EB8"
    resourceName: nvidia.com/TU104GL_Tesla_T4
  - pciVendorSelector: "8086:37c8"
    resourceName: intel.com/qat
    externalResourceProvider: true
  mediatedDevices:
  - mdevNameSelector: GRID T4-1B
    resourceName: nvidia.com/GRID_T4-1B
)";

TEST(HostdevPermitted, ParsesKubeVirtsShape) {
  absl::StatusOr<PermittedHostDevices> p = ParsePermittedHostDevices(kConfig);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->pci_host_devices.size(), 2u);
  EXPECT_EQ(p->pci_host_devices[0].pci_vendor_selector, "10de:1eb8");
  EXPECT_EQ(p->pci_host_devices[0].resource_name, "nvidia.com/TU104GL_Tesla_T4");
  EXPECT_TRUE(p->pci_host_devices[1].external_resource_provider);
  ASSERT_EQ(p->mediated_devices.size(), 1u);
  EXPECT_EQ(p->mediated_devices[0].mdev_name_selector, "GRID T4-1B");
}

TEST(HostdevPermitted, AcceptsTheKubeVirtCustomResource) {
  absl::StatusOr<PermittedHostDevices> p = ParsePermittedHostDevices(
      R"({"apiVersion":"kubevirt.io/v1","kind":"KubeVirt","spec":{"configuration":
          {"permittedHostDevices":{"pciHostDevices":[{"pciVendorSelector":"10de:1eb8",
          "resourceName":"nvidia.com/T4"}]}}}})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->pci_host_devices[0].resource_name, "nvidia.com/T4");
}

TEST(HostdevPermitted, BadSelectorNamesTheField) {
  absl::StatusOr<PermittedHostDevices> p = ParsePermittedHostDevices(
      "permittedHostDevices:\n  pciHostDevices:\n  - pciVendorSelector: nvidia\n"
      "    resourceName: nvidia.com/T4\n");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(),
              HasSubstr("permittedHostDevices.pciHostDevices[0].pciVendorSelector"));
}

TEST(HostdevPermitted, MissingResourceNameIsRequired) {
  absl::StatusOr<PermittedHostDevices> p = ParsePermittedHostDevices(
      "permittedHostDevices:\n  mediatedDevices:\n  - mdevNameSelector: x\n");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(),
              HasSubstr("mediatedDevices[0].resourceName: Required value"));
}

TEST(HostdevPermitted, EnvironmentListsVfioBoundDevicesAndMdevs) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:66:00.0", .device = 0x1eb8, .driver = "vfio-pci", .group = 13});
  sysfs.AddPci({.address = "0000:65:00.0", .device = 0x1eb8, .driver = "vfio-pci", .group = 12});
  // Same ids, still on the host driver: a device plugin would not offer it.
  sysfs.AddPci({.address = "0000:67:00.0", .device = 0x1eb8, .driver = "nvidia", .group = 14});
  sysfs.AddPci({.address = "0000:3d:01.0", .vendor = 0x8086, .device = 0x37c8,
                .class_code = 0x0b4000, .driver = "vfio-pci", .group = 20});
  sysfs.AddMdevType("0000:67:00.0", "nvidia-222", "GRID T4-1B", 14);
  sysfs.AddMdev("11111111-2222-3333-4444-555555555555", "0000:67:00.0",
                "nvidia-222", 40);
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_TRUE(host.ok()) << host.status();
  absl::StatusOr<PermittedHostDevices> p = ParsePermittedHostDevices(kConfig);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(DevicePluginEnvironment(*p, *host),
            (std::map<std::string, std::string>{
                {"PCI_RESOURCE_NVIDIA_COM_TU104GL_TESLA_T4", "0000:65:00.0,0000:66:00.0"},
                {"MDEV_PCI_RESOURCE_NVIDIA_COM_GRID_T4-1B",
                 "11111111-2222-3333-4444-555555555555"}}));
}

TEST(HostdevPermitted, EachDeviceLandsInOneResourceOnly) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:65:00.0", .driver = "vfio-pci", .group = 12});
  PermittedHostDevices p;
  p.pci_host_devices = {{"10de:1eb8", "nvidia.com/T4", false, ""},
                        {"10de:1eb8", "nvidia.com/gpu", false, ""}};
  absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(DevicePluginEnvironment(p, *host),
            (std::map<std::string, std::string>{
                {"PCI_RESOURCE_NVIDIA_COM_T4", "0000:65:00.0"}}));
}

}  // namespace
}  // namespace qdirect::hostdev
