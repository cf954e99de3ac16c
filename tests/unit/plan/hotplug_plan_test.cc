#include "qdirect/hotplug.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan_test_util.h"
#include "qdirect/plan.h"

namespace qdirect {
namespace {

using ::qdirect::testing::FileVolume;
using ::qdirect::testing::MinimalVmi;
using ::qdirect::testing::TcgHost;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

VolumeHotplug DataVolume(const std::string& name, spec::DiskBus bus) {
  VolumeHotplug request;
  request.disk.name = name;
  request.disk.bus = bus;
  request.disk.serial = "D1";
  request.volume.name = name;
  request.volume.source = spec::HostDiskSource{"/data/" + name + ".img", "Disk", {}, false};
  return request;
}

// The same VM with the disk in its spec from the start: what cold plug
// renders for it.
Plan ColdPlanWith(const VolumeHotplug& request) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks.push_back(request.disk);
  vmi.volumes.push_back(request.volume);
  HostFacts host = TcgHost();
  host.volumes.volumes[request.disk.name] = FileVolume("/data/" + request.disk.name + ".img");
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

bool FindArgWith(const std::vector<std::string>& argv, const std::string& needle) {
  for (const std::string& a : argv) {
    if (a.find(needle) != std::string::npos) return true;
  }
  return false;
}

const DeviceEntry* Find(const std::vector<DeviceEntry>& entries, const std::string& id) {
  for (const DeviceEntry& e : entries) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

TEST(PlanVolumeHotplug, VirtioDiskIsTheColdPlugJsonOnTheFirstFreePort) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const VolumeHotplug request = DataVolume("data", spec::DiskBus::kVirtio);

  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, request, FileVolume("/data/data.img"));

  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->device_id, "ua-data");
  EXPECT_EQ(hp->root_port, plan->free_root_ports.front());
  ASSERT_EQ(hp->entries.size(), 3u);
  EXPECT_EQ(hp->entries[0].kind, DeviceEntry::Kind::kBlockdev);
  EXPECT_EQ(hp->entries[0].id, "hp0-file");
  EXPECT_EQ(hp->entries[1].id, "hp0-fmt");
  EXPECT_EQ(hp->entries.back().kind, DeviceEntry::Kind::kDevice);
  // Cold plug of the same disk gives the same device JSON but for the node
  // name prefix (disk<index> there) and the port the layout chose.
  const Plan cold = ColdPlanWith(request);
  const DeviceEntry* cold_dev = Find(cold.devices, "ua-data");
  ASSERT_NE(cold_dev, nullptr);
  std::string expected = cold_dev->json;
  expected.replace(expected.find("disk1-fmt"), 9, "hp0-fmt");
  expected.replace(expected.find(cold_dev->bus), cold_dev->bus.size(), hp->root_port);
  EXPECT_EQ(hp->entries.back().json, expected);
  const DeviceEntry* cold_fmt = Find(cold.devices, "disk1-fmt");
  ASSERT_NE(cold_fmt, nullptr);
  std::string expected_fmt = cold_fmt->json;
  expected_fmt.replace(expected_fmt.find("disk1-file"), 10, "hp0-file");
  expected_fmt.replace(expected_fmt.find("disk1-fmt"), 9, "hp0-fmt");
  EXPECT_EQ(hp->entries[1].json, expected_fmt);
}

TEST(PlanVolumeHotplug, DuplicateNameIsAlreadyExists) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, DataVolume("rootdisk", spec::DiskBus::kVirtio),
                        FileVolume("/data/x.img"));
  EXPECT_EQ(hp.status().code(), absl::StatusCode::kAlreadyExists) << hp.status();
}

TEST(PlanVolumeHotplug, HotpluggedNameIsAlreadyExists) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  const VolumeHotplug request = DataVolume("data", spec::DiskBus::kVirtio);
  absl::StatusOr<HotplugPlan> first =
      PlanVolumeHotplug(vmi, host, *plan, request, FileVolume("/data/data.img"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(AddHotpluggedDevices(first->entries, *plan).ok());

  absl::StatusOr<HotplugPlan> again =
      PlanVolumeHotplug(vmi, host, *plan, request, FileVolume("/data/data.img"));

  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
}

TEST(PlanVolumeHotplug, NoFreeRootPortIsResourceExhausted) {
  const spec::Vmi vmi = MinimalVmi();
  HostFacts host = TcgHost();
  host.spare_root_ports = 0;
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(plan->free_root_ports.empty());
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, DataVolume("data", spec::DiskBus::kVirtio),
                        FileVolume("/data/data.img"));
  EXPECT_EQ(hp.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(hp.status().message(), HasSubstr("no free pcie-root-port"));
}

TEST(PlanVolumeHotplug, ScsiWithoutControllerNamesWhatToAdd) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, DataVolume("data", spec::DiskBus::kScsi),
                        FileVolume("/data/data.img"));
  EXPECT_EQ(hp.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(hp.status().message(), HasSubstr("no SCSI controller"));
}

TEST(PlanVolumeHotplug, ScsiTakesTheNextLun) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].bus = spec::DiskBus::kScsi;
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, DataVolume("data", spec::DiskBus::kScsi),
                        FileVolume("/data/data.img"));
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->root_port, "");
  EXPECT_EQ(hp->entries.back().bus, "scsi0.0");
  EXPECT_THAT(hp->entries.back().json, HasSubstr("\"lun\":1"));
}

TEST(PlanVolumeHotplug, CdromIsRefused) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  VolumeHotplug request = DataVolume("cd", spec::DiskBus::kScsi);
  request.disk.type = spec::Disk::Type::kCdrom;
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, request, FileVolume("/data/cd.iso"));
  EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanInterfaceHotplug, UserNetNicWithStableMac) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  InterfaceHotplug request;
  request.iface.name = "extra";
  request.iface.binding = spec::Interface::Binding::kMasquerade;
  request.iface.mac_address = "02:00:00:00:00:42";
  request.network.name = "extra";

  absl::StatusOr<HotplugPlan> hp = PlanInterfaceHotplug(vmi, host, *plan, request);

  ASSERT_TRUE(hp.ok()) << hp.status();
  ASSERT_EQ(hp->entries.size(), 2u);
  EXPECT_EQ(hp->entries[0].kind, DeviceEntry::Kind::kNetdev);
  EXPECT_EQ(hp->entries[0].id, "hostua-extra");
  EXPECT_THAT(hp->entries[0].json, HasSubstr("\"type\":\"user\""));
  EXPECT_EQ(hp->entries[1].id, "ua-extra");
  EXPECT_THAT(hp->entries[1].json, HasSubstr("\"mac\":\"02:00:00:00:00:42\""));
  EXPECT_THAT(hp->entries[1].json, HasSubstr("\"bus\":\"" + hp->root_port + "\""));
}

TEST(PlanInterfaceHotplug, PodModeTapIsPassedByName) {
  const spec::Vmi vmi = MinimalVmi();
  HostFacts host = TcgHost();
  host.network_mode = HostFacts::NetworkMode::kPod;
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  InterfaceHotplug request;
  request.iface.name = "br1";
  request.iface.binding = spec::Interface::Binding::kBridge;
  request.network.name = "br1";

  absl::StatusOr<HotplugPlan> hp = PlanInterfaceHotplug(vmi, host, *plan, request);

  ASSERT_TRUE(hp.ok()) << hp.status();
  ASSERT_EQ(hp->fds.size(), 1u);
  EXPECT_EQ(hp->fds[0].name, "tap-br1-0");
  EXPECT_THAT(hp->entries[0].json, HasSubstr("\"fd\":\"tap-br1-0\""));
}

TEST(RemovePlannedDevices, FreesThePortAndDropsTheArgs) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  const Plan before = *plan;
  absl::StatusOr<HotplugPlan> hp =
      PlanVolumeHotplug(vmi, host, *plan, DataVolume("data", spec::DiskBus::kVirtio),
                        FileVolume("/data/data.img"));
  ASSERT_TRUE(hp.ok());
  ASSERT_TRUE(AddHotpluggedDevices(hp->entries, *plan).ok());
  ASSERT_NE(*plan, before);
  EXPECT_EQ(DevicesServing(*plan, "data").size(), 3u);

  RemovePlannedDevices(DevicesServing(*plan, "data"), *plan);

  EXPECT_EQ(plan->Argv(), before.Argv());
  EXPECT_EQ(plan->devices, before.devices);
  EXPECT_THAT(plan->free_root_ports, ::testing::UnorderedElementsAreArray(before.free_root_ports));
}

spec::Vmi VmiWithCdrom(bool with_medium) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk cd;
  cd.name = "cd";
  cd.type = spec::Disk::Type::kCdrom;
  cd.bus = spec::DiskBus::kScsi;
  cd.readonly = true;
  vmi.domain.devices.disks.push_back(cd);
  if (with_medium) {
    vmi.volumes.push_back({"cd", spec::HostDiskSource{"/media/a.iso", "Disk", {}, false}});
  }
  return vmi;
}

HostFacts HostWithMedium(const std::string& path) {
  HostFacts host = TcgHost();
  host.volumes.volumes["cd"] = FileVolume(path);
  return host;
}

TEST(PlanMediaChange, InsertedMediumIsWhatColdPlugRendersForIt) {
  const spec::Vmi empty = VmiWithCdrom(false);
  absl::StatusOr<Plan> plan = MakePlan(empty, TcgHost());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const spec::Volume medium{"cd", spec::HostDiskSource{"/media/b.iso", "Disk", {}, false}};

  absl::StatusOr<MediaPlan> media = PlanMediaChange(empty, TcgHost(), *plan, "cd", medium,
                                                    FileVolume("/media/b.iso"));

  ASSERT_TRUE(media.ok()) << media.status();
  EXPECT_TRUE(media->old_nodes.empty());
  EXPECT_EQ(media->node, "disk1-fmt");
  spec::Vmi full = VmiWithCdrom(false);
  full.volumes.push_back(medium);
  absl::StatusOr<Plan> cold = MakePlan(full, HostWithMedium("/media/b.iso"));
  ASSERT_TRUE(cold.ok()) << cold.status();
  const DeviceEntry* cold_dev = Find(cold->devices, "ua-cd");
  ASSERT_NE(cold_dev, nullptr);
  EXPECT_EQ(media->device.json, cold_dev->json);
  ASSERT_EQ(media->new_nodes.size(), 2u);
  EXPECT_EQ(media->new_nodes[1].json, Find(cold->devices, "disk1-fmt")->json);

  ApplyMediaPlan(*media, *plan);
  EXPECT_EQ(Find(plan->devices, "ua-cd")->json, cold_dev->json);
  EXPECT_THAT(plan->Argv(), ::testing::Contains(cold_dev->json));
  EXPECT_NE(Find(plan->devices, "disk1-fmt"), nullptr);
}

TEST(PlanMediaChange, EjectDropsTheNodesAndTheDrive) {
  const spec::Vmi vmi = VmiWithCdrom(true);
  const HostFacts host = HostWithMedium("/media/a.iso");
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok()) << plan.status();

  absl::StatusOr<MediaPlan> media =
      PlanMediaChange(vmi, host, *plan, "cd", std::nullopt, ResolvedVolume{});

  ASSERT_TRUE(media.ok()) << media.status();
  EXPECT_EQ(media->old_nodes.size(), 2u);
  EXPECT_TRUE(media->new_nodes.empty());
  EXPECT_THAT(media->device.json, ::testing::Not(HasSubstr("\"drive\"")));
  ApplyMediaPlan(*media, *plan);
  EXPECT_EQ(Find(plan->devices, "disk1-fmt"), nullptr);
  EXPECT_EQ(FindArgWith(plan->Argv(), "disk1-fmt"), false);
}

TEST(PlanMediaChange, OnlyACdromsMediumChanges) {
  const spec::Vmi vmi = MinimalVmi();
  const HostFacts host = TcgHost();
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(PlanMediaChange(vmi, host, *plan, "rootdisk", std::nullopt, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PlanMediaChange(vmi, host, *plan, "nope", std::nullopt, {}).status().code(),
            absl::StatusCode::kNotFound);
}

// A GPU hot-plugged with its audio: both functions on one root port. A
// restarted launcher (or migration target) gets the same layout from the
// remembered list, and unplugging frees the port again.
TEST(AddHotpluggedDevices, MultifunctionHostDeviceSharesOneRootPortAcrossARestart) {
  absl::StatusOr<Plan> plan = MakePlan(MinimalVmi(), TcgHost());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Plan before = *plan;
  const std::string port = plan->free_root_ports.front();
  absl::StatusOr<std::vector<DeviceEntry>> gpu =
      VfioHotplugDevices("gpu", "0000:65:00.0", {"0000:65:00.1"}, port, TcgHost());
  ASSERT_TRUE(gpu.ok()) << gpu.status();

  absl::Status added = AddHotpluggedDevices(*gpu, *plan);
  ASSERT_TRUE(added.ok()) << added;
  EXPECT_THAT(plan->free_root_ports, Not(::testing::Contains(port)));
  const std::vector<std::string> argv = plan->Argv();
  const auto fn1 = std::find(argv.begin(), argv.end(), (*gpu)[0].json);
  const auto fn0 = std::find(argv.begin(), argv.end(), (*gpu)[1].json);
  ASSERT_NE(fn1, argv.end());
  ASSERT_NE(fn0, argv.end());
  EXPECT_LT(fn1, fn0) << "functions >0 first, as they were added";
  EXPECT_EQ(DevicesServing(*plan, "gpu"), *gpu);

  absl::StatusOr<std::vector<DeviceEntry>> remembered =
      DeviceEntriesFromJson(DeviceEntriesToJson(*gpu));
  ASSERT_TRUE(remembered.ok()) << remembered.status();
  Plan restarted = before;
  ASSERT_TRUE(AddHotpluggedDevices(*remembered, restarted).ok());
  EXPECT_EQ(restarted, *plan);

  RemovePlannedDevices(*gpu, *plan);
  EXPECT_EQ(plan->Argv(), before.Argv());
  EXPECT_EQ(plan->devices, before.devices);
  EXPECT_THAT(plan->free_root_ports, ::testing::UnorderedElementsAreArray(before.free_root_ports));
}

TEST(AddHotpluggedDevices, TwoDevicesAtOneAddressOfAPortAreRefused) {
  absl::StatusOr<Plan> plan = MakePlan(MinimalVmi(), TcgHost());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Plan before = *plan;
  const std::string port = plan->free_root_ports.front();
  absl::StatusOr<std::vector<DeviceEntry>> a =
      VfioHotplugDevices("a", "0000:65:00.0", {}, port, TcgHost());
  absl::StatusOr<std::vector<DeviceEntry>> b =
      VfioHotplugDevices("b", "0000:66:00.0", {}, port, TcgHost());
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<DeviceEntry> both = *a;
  both.push_back(b->front());
  absl::Status st = AddHotpluggedDevices(both, *plan);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("is in use"));
  EXPECT_EQ(*plan, before);
  // And a port a device already holds takes no further function.
  ASSERT_TRUE(AddHotpluggedDevices(*a, *plan).ok());
  absl::StatusOr<std::vector<DeviceEntry>> late =
      VfioHotplugDevices("c", "0000:67:00.0", {"0000:67:00.1"}, port, TcgHost());
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(AddHotpluggedDevices(*late, *plan).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace qdirect
