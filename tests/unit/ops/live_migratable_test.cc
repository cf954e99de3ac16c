#include "ops/live_migratable.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::ops {
namespace {

using ::testing::HasSubstr;

spec::Vmi Plain() {
  spec::Vmi vmi;
  vmi.metadata.name = "vm1";
  return vmi;
}

TEST(LiveMigratable, KernelBootVmWithoutDisksIsMigratable) {
  const LiveMigratability v = ComputeLiveMigratability(Plain());
  EXPECT_TRUE(v.migratable);
  const VmiCondition c = LiveMigratableCondition(v);
  EXPECT_EQ(c.type, "LiveMigratable");
  EXPECT_EQ(c.status, ConditionStatus::kTrue);
}

TEST(LiveMigratable, GpuIsHostDeviceNotLiveMigratable) {
  spec::Vmi vmi = Plain();
  spec::Gpu gpu;
  gpu.name = "gpu1";
  gpu.device_name = "nvidia.com/T4";
  vmi.domain.devices.gpus.push_back(gpu);
  const LiveMigratability v = ComputeLiveMigratability(vmi);
  EXPECT_FALSE(v.migratable);
  EXPECT_EQ(v.reason, "HostDeviceNotLiveMigratable");
  EXPECT_THAT(v.message, HasSubstr("gpu1"));
  EXPECT_EQ(LiveMigratableCondition(v).status, ConditionStatus::kFalse);
}

TEST(LiveMigratable, HostDeviceIsHostDeviceNotLiveMigratable) {
  spec::Vmi vmi = Plain();
  spec::HostDevice device;
  device.name = "nic1";
  device.device_name = "x/y";
  vmi.domain.devices.host_devices.push_back(device);
  EXPECT_EQ(ComputeLiveMigratability(vmi).reason, "HostDeviceNotLiveMigratable");
}

TEST(LiveMigratable, LocalDisksNeedBlockMigration) {
  spec::ContainerDiskSource container;
  container.image = "img";
  spec::HostDiskSource host_disk;
  host_disk.path = "/d.img";
  for (spec::VolumeSource source :
       {spec::VolumeSource(container), spec::VolumeSource(spec::EmptyDiskSource{}),
        spec::VolumeSource(host_disk)}) {
    spec::Vmi vmi = Plain();
    vmi.volumes.push_back({"root", source});
    const LiveMigratability v = ComputeLiveMigratability(vmi);
    EXPECT_EQ(v.reason, "DisksNotLiveMigratable");
    EXPECT_THAT(v.message, HasSubstr("volume root"));
  }
}

TEST(LiveMigratable, SharedStorageAndIsosMigrate) {
  spec::Vmi vmi = Plain();
  spec::HostDiskSource shared;
  shared.path = "/d.img";
  shared.shared = true;
  vmi.volumes.push_back({"a", shared});
  spec::PersistentVolumeClaimSource claim;
  claim.claim_name = "c";
  vmi.volumes.push_back({"b", claim});
  vmi.volumes.push_back({"c", spec::CloudInitSource{}});
  EXPECT_TRUE(ComputeLiveMigratability(vmi).migratable);
}

TEST(LiveMigratable, BridgeOnPodNetworkIsInterfaceNotLiveMigratable) {
  spec::Vmi vmi = Plain();
  vmi.networks.push_back({"default", spec::PodNetwork{}});
  spec::Interface nic;
  nic.name = "default";
  nic.binding = spec::Interface::Binding::kBridge;
  vmi.domain.devices.interfaces.push_back(nic);
  EXPECT_EQ(ComputeLiveMigratability(vmi).reason, "InterfaceNotLiveMigratable");
  vmi.domain.devices.interfaces[0].binding = spec::Interface::Binding::kMasquerade;
  EXPECT_TRUE(ComputeLiveMigratability(vmi).migratable);
}

}  // namespace
}  // namespace qdirect::ops
