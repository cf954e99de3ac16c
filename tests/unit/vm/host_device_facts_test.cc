// GatherHostDeviceFacts on a synthetic sysfs tree: the standalone path from
// a permittedHostDevices config to the device-plugin environment the
// planner reads.

#include <fstream>

#include "../ops/fake_sysfs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vm/host_facts.h"

namespace qdirect {
namespace {

using hostdev_test::FakeSysfs;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"(permittedHostDevices:
  pciHostDevices:
  - pciVendorSelector: "10de:2204"
    resourceName: nvidia.com/GA102
    romFile: /roms/ga102.rom
)";

struct Fixture {
  FakeSysfs sysfs;
  StandaloneConfig config;
  Fixture() {
    sysfs.AddPci({.address = "0000:01:00.0", .vendor = 0x10de, .device = 0x2204,
                  .class_code = 0x030000, .driver = "vfio-pci", .group = 16});
    sysfs.AddPci({.address = "0000:01:00.1", .vendor = 0x10de, .device = 0x1aef,
                  .class_code = 0x040300, .driver = "vfio-pci", .group = 16});
    config.sysfs_root = sysfs.root();
    config.hostdev_config = sysfs.root() + "/../permitted.yaml";
    std::ofstream(config.hostdev_config) << kConfig;
  }
};

TEST(HostDeviceFacts, ConfigYieldsTheDevicePluginVariableCompanionsAndRom) {
  Fixture f;
  HostFacts facts;
  ASSERT_TRUE(GatherHostDeviceFacts(f.config, facts).ok());
  EXPECT_EQ(facts.device_plugin_env,
            (std::map<std::string, std::string>{
                {"PCI_RESOURCE_NVIDIA_COM_GA102", "0000:01:00.0"}}));
  ASSERT_EQ(facts.host_pci_devices.count("0000:01:00.0"), 1u);
  EXPECT_EQ(facts.host_pci_devices["0000:01:00.0"],
            (HostFacts::HostPciDevice{{"0000:01:00.1"}, "/roms/ga102.rom"}));
}

TEST(HostDeviceFacts, VariablesAlreadySetWin) {
  Fixture f;
  HostFacts facts;
  facts.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_GA102"] = "0000:02:00.0";
  ASSERT_TRUE(GatherHostDeviceFacts(f.config, facts).ok());
  EXPECT_EQ(facts.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_GA102"], "0000:02:00.0");
}

TEST(HostDeviceFacts, WithoutConfigOnlyCompanionsAreGathered) {
  Fixture f;
  f.config.hostdev_config.clear();
  HostFacts facts;
  ASSERT_TRUE(GatherHostDeviceFacts(f.config, facts).ok());
  EXPECT_TRUE(facts.device_plugin_env.empty());
  EXPECT_EQ(facts.host_pci_devices["0000:01:00.0"].companions,
            std::vector<std::string>{"0000:01:00.1"});
}

TEST(HostDeviceFacts, UnboundCompanionIsNotPassed) {
  FakeSysfs sysfs;
  sysfs.AddPci({.address = "0000:01:00.0", .class_code = 0x030000,
                .driver = "vfio-pci", .group = 16});
  sysfs.AddPci({.address = "0000:01:00.1", .class_code = 0x040300,
                .driver = "", .group = 16});
  StandaloneConfig config;
  config.sysfs_root = sysfs.root();
  HostFacts facts;
  ASSERT_TRUE(GatherHostDeviceFacts(config, facts).ok());
  EXPECT_EQ(facts.host_pci_devices.count("0000:01:00.0"), 0u);
}

TEST(HostDeviceFacts, MissingConfigFileIsAnErrorNamingIt) {
  Fixture f;
  f.config.hostdev_config = "/nonexistent/permitted.yaml";
  HostFacts facts;
  absl::Status st = GatherHostDeviceFacts(f.config, facts);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("/nonexistent/permitted.yaml"));
}

}  // namespace
}  // namespace qdirect
