// The vfio-pci side of the planner: GPUs and host devices from the
// device-plugin environment, companions, ROM files, vGPU displays, memlock.

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan_test_util.h"
#include "qdirect/plan.h"

namespace qdirect {
namespace {

using ::qdirect::testing::FindDevice;
using ::qdirect::testing::MinimalVmi;
using ::qdirect::testing::TcgHost;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kVgpu1[] = "6d2c3e5a-52d4-4c7e-9b1a-1f9a3e0c9b11";
constexpr char kVgpu2[] = "7e3d4f6b-63e5-4d8f-8c2b-2a0b4f1dac22";

absl::StatusOr<Plan> PlanGpus(const std::vector<spec::Gpu>& gpus, HostFacts host) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.gpus = gpus;
  return MakePlan(vmi, host);
}

HostFacts HostWithDesktopGpu() {
  HostFacts host = TcgHost();
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_GA102"] = "0000:01:00.0";
  host.host_pci_devices["0000:01:00.0"] = {{"0000:01:00.1"}, "/roms/ga102.rom"};
  return host;
}

TEST(PlanHostDevices, GpuAndAudioAreOneMultifunctionDeviceOnOneRootPort) {
  absl::StatusOr<Plan> plan =
      PlanGpus({{"gpu", "nvidia.com/GA102", std::nullopt, ""}}, HostWithDesktopGpu());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const DeviceEntry* gpu = FindDevice(*plan, "ua-gpu");
  const DeviceEntry* audio = FindDevice(*plan, "ua-gpu-fn1");
  ASSERT_NE(gpu, nullptr);
  ASSERT_NE(audio, nullptr);
  EXPECT_EQ(gpu->bus, audio->bus);
  EXPECT_EQ(gpu->address, "0x0");
  EXPECT_EQ(audio->address, "0x0.0x1");
  EXPECT_THAT(gpu->json, HasSubstr("\"multifunction\":true"));
  EXPECT_THAT(gpu->json, HasSubstr("\"romfile\":\"/roms/ga102.rom\""));
  EXPECT_EQ(audio->json,
            "{\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.1\",\"id\":\"ua-gpu-fn1\","
            "\"bus\":\"" + gpu->bus + "\",\"addr\":\"0x0.0x1\"}");
}

TEST(PlanHostDevices, DeviceWithoutFactsIsPassedAlone) {
  HostFacts host = TcgHost();
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_T4"] = "0000:65:00.0";
  absl::StatusOr<Plan> plan = PlanGpus({{"gpu", "nvidia.com/T4", std::nullopt, ""}}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(FindDevice(*plan, "ua-gpu")->json, Not(HasSubstr("multifunction")));
  EXPECT_EQ(FindDevice(*plan, "ua-gpu-fn1"), nullptr);
}

TEST(PlanHostDevices, VgpuGetsDisplayAndRamfbByDefaultAsKubeVirt) {
  HostFacts host = TcgHost();
  host.device_plugin_env["MDEV_PCI_RESOURCE_NVIDIA_COM_GRID_T4-1Q"] =
      std::string(kVgpu1) + "," + kVgpu2;
  absl::StatusOr<Plan> plan = PlanGpus(
      {{"v1", "nvidia.com/GRID_T4-1Q", std::nullopt, ""},
       {"v2", "nvidia.com/GRID_T4-1Q", spec::VgpuDisplay{true, false}, ""}},
      host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(FindDevice(*plan, "ua-v1")->json,
              HasSubstr(std::string("{\"driver\":\"vfio-pci-nohotplug\",\"sysfsdev\":"
                                    "\"/sys/bus/mdev/devices/") + kVgpu1 +
                        "\",\"id\":\"ua-v1\",\"display\":\"on\",\"ramfb\":true"));
  const std::string v2 = FindDevice(*plan, "ua-v2")->json;
  EXPECT_THAT(v2, HasSubstr("\"driver\":\"vfio-pci\""));
  EXPECT_THAT(v2, HasSubstr("\"display\":\"on\""));
  EXPECT_THAT(v2, Not(HasSubstr("ramfb")));
}

TEST(PlanHostDevices, VgpuDisplayDisabledHasNeither) {
  HostFacts host = TcgHost();
  host.device_plugin_env["MDEV_PCI_RESOURCE_NVIDIA_COM_GRID_T4-1Q"] = kVgpu1;
  absl::StatusOr<Plan> plan = PlanGpus(
      {{"v1", "nvidia.com/GRID_T4-1Q", spec::VgpuDisplay{false, true}, ""}}, host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string json = FindDevice(*plan, "ua-v1")->json;
  EXPECT_THAT(json, Not(HasSubstr("display")));
  EXPECT_THAT(json, Not(HasSubstr("ramfb")));
}

TEST(PlanHostDevices, TwoExplicitRamfbsAreInvalidAsInKubeVirt) {
  HostFacts host = TcgHost();
  host.device_plugin_env["MDEV_PCI_RESOURCE_NVIDIA_COM_GRID_T4-1Q"] =
      std::string(kVgpu1) + "," + kVgpu2;
  absl::StatusOr<Plan> plan = PlanGpus(
      {{"v1", "nvidia.com/GRID_T4-1Q", spec::VgpuDisplay{true, true}, ""},
       {"v2", "nvidia.com/GRID_T4-1Q", spec::VgpuDisplay{true, true}, ""}},
      host);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              HasSubstr("gpus[1].virtualGPUOptions.display.ramFB: Invalid value"));
}

TEST(PlanHostDevices, PhysicalGpuIgnoresDisplayOptionsAsKubeVirt) {
  absl::StatusOr<Plan> plan = PlanGpus(
      {{"gpu", "nvidia.com/GA102", spec::VgpuDisplay{true, true}, ""}},
      HostWithDesktopGpu());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string json = FindDevice(*plan, "ua-gpu")->json;
  EXPECT_THAT(json, HasSubstr("\"driver\":\"vfio-pci\""));
  EXPECT_THAT(json, Not(HasSubstr("display")));
}

TEST(PlanHostDevices, AddressListedByTwoResourcesIsUsedOnce) {
  HostFacts host = TcgHost();
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_T4"] = "0000:65:00.0";
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_GPU"] = "0000:65:00.0,0000:66:00.0";
  absl::StatusOr<Plan> plan =
      PlanGpus({{"a", "nvidia.com/T4", std::nullopt, ""},
                {"b", "nvidia.com/gpu", std::nullopt, ""}},
               host);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(FindDevice(*plan, "ua-b")->json, HasSubstr("0000:66:00.0"));
}

TEST(PlanHostDevices, TooFewAddressesNamesTheResourceAndVariable) {
  HostFacts host = TcgHost();
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_T4"] = "0000:65:00.0";
  absl::StatusOr<Plan> plan =
      PlanGpus({{"a", "nvidia.com/T4", std::nullopt, ""},
                {"b", "nvidia.com/T4", std::nullopt, ""}},
               host);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              HasSubstr("gpus[1]: resource \"nvidia.com/T4\": "
                        "PCI_RESOURCE_NVIDIA_COM_T4=\"0000:65:00.0\" has too few devices"));
}

TEST(PlanHostDevices, MissingVariableNamesBothVariables) {
  absl::StatusOr<Plan> plan =
      PlanGpus({{"a", "nvidia.com/T4", std::nullopt, ""}}, TcgHost());
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              HasSubstr("neither PCI_RESOURCE_NVIDIA_COM_T4 nor "
                        "MDEV_PCI_RESOURCE_NVIDIA_COM_T4 is set"));
}

TEST(PlanHostDevices, VfioSizesMemlockForGuestRamPlusOneGiB) {
  absl::StatusOr<Plan> plan =
      PlanGpus({{"gpu", "nvidia.com/GA102", std::nullopt, ""}}, HostWithDesktopGpu());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->memlock_bytes, (512LL << 20) + (1LL << 30));
  absl::StatusOr<Plan> plain = MakePlan(MinimalVmi(), TcgHost());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->memlock_bytes, 0);
}

TEST(PlanHostDevices, HotplugDeviceIsTheColdPlugObjectOnTheGivenPort) {
  absl::StatusOr<DeviceEntry> entry =
      VfioHotplugDevice("gpu", "0000:01:00.0", "rp7", HostWithDesktopGpu());
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->json,
            "{\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.0\",\"id\":\"ua-gpu\","
            "\"romfile\":\"/roms/ga102.rom\",\"bus\":\"rp7\",\"addr\":\"0x0\"}");
  EXPECT_EQ(entry->bus, "rp7");
  EXPECT_EQ(entry->id, "ua-gpu");
}

TEST(PlanHostDevices, HotplugRefusesAMalformedAddress) {
  absl::StatusOr<DeviceEntry> entry =
      VfioHotplugDevice("gpu", "65:00.0\",\"x\":\"", "rp7", TcgHost());
  EXPECT_EQ(entry.status().code(), absl::StatusCode::kInvalidArgument);
}

// Golden: a GPU with HDMI audio and a USB controller, hot-plugged. QEMU
// exposes a slot to the guest when function 0 arrives, so the functions >0
// come first; only function 0 says multifunction; all share one root port.
TEST(PlanHostDevices, HotplugWithCompanionsOrdersFunctionZeroLastOnOnePort) {
  absl::StatusOr<std::vector<DeviceEntry>> entries = VfioHotplugDevices(
      "gpu", "0000:01:00.0", {"0000:01:00.2", "0000:01:00.1"}, "rp7", HostWithDesktopGpu());
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::string golden;
  for (const DeviceEntry& e : *entries) {
    EXPECT_EQ(e.kind, DeviceEntry::Kind::kDevice);
    EXPECT_EQ(e.bus, "rp7");
    EXPECT_EQ(e.volume, "gpu");
    golden += e.id + " " + e.address + " " + e.json + "\n";
  }
  EXPECT_EQ(golden,
            "ua-gpu-fn1 0x0.0x1 {\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.1\","
            "\"id\":\"ua-gpu-fn1\",\"bus\":\"rp7\",\"addr\":\"0x0.0x1\"}\n"
            "ua-gpu-fn2 0x0.0x2 {\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.2\","
            "\"id\":\"ua-gpu-fn2\",\"bus\":\"rp7\",\"addr\":\"0x0.0x2\"}\n"
            "ua-gpu 0x0 {\"driver\":\"vfio-pci\",\"host\":\"0000:01:00.0\",\"id\":\"ua-gpu\","
            "\"romfile\":\"/roms/ga102.rom\",\"multifunction\":true,\"bus\":\"rp7\","
            "\"addr\":\"0x0\"}\n");
}

// What hot plug sends is what cold plug renders for the same GPU + audio
// (so a migration target or a restarted launcher cold-plugs the same layout).
TEST(PlanHostDevices, HotplugWithCompanionsIsTheColdPlugObjects) {
  absl::StatusOr<Plan> plan =
      PlanGpus({{"gpu", "nvidia.com/GA102", std::nullopt, ""}}, HostWithDesktopGpu());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const DeviceEntry* gpu = FindDevice(*plan, "ua-gpu");
  const DeviceEntry* audio = FindDevice(*plan, "ua-gpu-fn1");
  ASSERT_NE(gpu, nullptr);
  ASSERT_NE(audio, nullptr);
  absl::StatusOr<std::vector<DeviceEntry>> entries = VfioHotplugDevices(
      "gpu", "0000:01:00.0", {"0000:01:00.1"}, gpu->bus, HostWithDesktopGpu());
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0], *audio);
  EXPECT_EQ((*entries)[1], *gpu);
}

TEST(PlanHostDevices, HotplugWithoutCompanionsIsOneSingleFunctionDevice) {
  absl::StatusOr<std::vector<DeviceEntry>> entries =
      VfioHotplugDevices("nic", "0000:66:00.1", {}, "rp5", TcgHost());
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().json,
            "{\"driver\":\"vfio-pci\",\"host\":\"0000:66:00.1\",\"id\":\"ua-nic\","
            "\"bus\":\"rp5\",\"addr\":\"0x0\"}");
}

TEST(PlanHostDevices, HotplugRefusesCompanionsOutsideTheSlotOrBesideAnotherFunction) {
  const HostFacts host = TcgHost();
  // Another slot, the device itself, twice, malformed.
  for (const std::vector<std::string>& companions :
       std::vector<std::vector<std::string>>{{"0000:01:01.1"},
                                             {"0000:01:00.0"},
                                             {"0000:01:00.1", "0000:01:00.1"},
                                             {"01:00.1"}}) {
    absl::StatusOr<std::vector<DeviceEntry>> entries =
        VfioHotplugDevices("gpu", "0000:01:00.0", companions, "rp7", host);
    EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument)
        << companions.front();
  }
  absl::StatusOr<std::vector<DeviceEntry>> not_zero =
      VfioHotplugDevices("gpu", "0000:01:00.1", {"0000:01:00.2"}, "rp7", host);
  EXPECT_EQ(not_zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_zero.status().message(), HasSubstr("not function 0"));
}

}  // namespace
}  // namespace qdirect
