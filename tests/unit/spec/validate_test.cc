#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/spec.h"

namespace qdirect::spec {
namespace {

using testing::Contains;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

Quantity Q(const char* text) { return *ParseQuantity(text); }

// A VMI that passes every rule; each test breaks one thing.
Vmi ValidVmi() {
  Vmi vmi;
  vmi.metadata.name = "vm";
  vmi.domain.memory.guest = Q("1Gi");
  vmi.domain.resources.requests["memory"] = Q("1Gi");
  Disk root;
  root.name = "root";
  Disk cd;
  cd.name = "ci";
  cd.type = Disk::Type::kCdrom;
  cd.bus = DiskBus::kSata;
  cd.readonly = true;
  vmi.domain.devices.disks = {root, cd};
  vmi.volumes = {Volume{"root", ContainerDiskSource{"img", "", ""}},
                 Volume{"ci", CloudInitSource{}}};
  Interface iface;
  iface.name = "default";
  vmi.domain.devices.interfaces = {iface};
  vmi.networks = {Network{"default", PodNetwork{}}};
  return vmi;
}

std::vector<std::string> Errors(const Vmi& vmi, const DecodeLimits& limits = {}) {
  std::vector<std::string> out;
  for (const FieldError& e : Validate(vmi, limits)) out.push_back(e.ToString());
  return out;
}

std::vector<std::string> Paths(const Vmi& vmi) {
  std::vector<std::string> out;
  for (const FieldError& e : Validate(vmi)) out.push_back(e.path);
  return out;
}

TEST(ValidateTest, ValidVmiHasNoErrors) { EXPECT_THAT(Errors(ValidVmi()), IsEmpty()); }

TEST(ValidateTest, NameIsRequired) {
  Vmi vmi = ValidVmi();
  vmi.metadata.name.clear();
  EXPECT_THAT(Errors(vmi),
              ElementsAre("metadata.name: Required value: name or generateName is required"));
}

TEST(ValidateTest, NameMustBeADns1123Label) {
  Vmi vmi = ValidVmi();
  vmi.metadata.name = "My_VM";
  EXPECT_THAT(Errors(vmi), ElementsAre(HasSubstr(
                               "metadata.name: Invalid value: \"My_VM\": a lowercase RFC 1123 label")));
}

TEST(ValidateTest, NameOf64BytesIsTooLong) {
  Vmi vmi = ValidVmi();
  vmi.metadata.name = std::string(64, 'a');
  EXPECT_THAT(Errors(vmi), ElementsAre("metadata.name: Too long: must have at most 63 bytes"));
}

TEST(ValidateTest, PathsStartWithTheSpecPath) {
  Vmi vmi = ValidVmi();
  vmi.spec_path = "spec.template.spec";
  vmi.domain.devices.disks[0].name = "nothing";
  EXPECT_THAT(Errors(vmi),
              ElementsAre("spec.template.spec.domain.devices.disks[0].name: Not found: "
                          "\"nothing\": no volume of that name in spec.template.spec.volumes"));
}

TEST(ValidateTest, DiskWithoutVolumeIsNotFound) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[1].name = "data";
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.disks[1].name: Not found: \"data\": "
                                       "no volume of that name in spec.volumes"));
}

TEST(ValidateTest, VolumeWithoutDiskIsAllowed) {
  Vmi vmi = ValidVmi();
  vmi.volumes.push_back(Volume{"spare", ContainerDiskSource{"img", "", ""}});
  EXPECT_THAT(Errors(vmi), IsEmpty());
}

TEST(ValidateTest, DuplicateDiskName) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[1].name = "root";
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.disks[1].name: Duplicate value: \"root\""));
}

TEST(ValidateTest, DuplicateVolumeName) {
  Vmi vmi = ValidVmi();
  vmi.volumes.push_back(Volume{"root", ContainerDiskSource{"img", "", ""}});
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.volumes[2].name: Duplicate value: \"root\""));
}

TEST(ValidateTest, DuplicateNamesAreFoundPastTheLinearScan) {
  Vmi vmi = ValidVmi();
  for (int i = 0; i < 40; ++i) {
    vmi.volumes.push_back(Volume{"v" + std::to_string(i), ContainerDiskSource{"img", "", ""}});
  }
  vmi.volumes.push_back(Volume{"v35", ContainerDiskSource{"img", "", ""}});
  vmi.volumes.push_back(Volume{"root", ContainerDiskSource{"img", "", ""}});
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.volumes[42].name: Duplicate value: \"v35\"",
                                       "spec.volumes[43].name: Duplicate value: \"root\""));
}

TEST(ValidateTest, DuplicateInterfaceAndNetworkNames) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces.push_back(vmi.domain.devices.interfaces[0]);
  vmi.networks.push_back(vmi.networks[0]);
  EXPECT_THAT(Paths(vmi), Contains("spec.domain.devices.interfaces[1].name"));
  EXPECT_THAT(Paths(vmi), Contains("spec.networks[1].name"));
}

TEST(ValidateTest, CdromOnVirtioIsUnsupported) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[1].bus = DiskBus::kVirtio;
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.disks[1].bus: Unsupported "
                                       "value: \"virtio\": supported values: \"sata\", \"scsi\""));
}

TEST(ValidateTest, LunNeedsScsi) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[0].type = Disk::Type::kLun;
  vmi.domain.devices.disks[0].bus = DiskBus::kSata;
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.disks[0].bus"));
}

TEST(ValidateTest, IoNativeNeedsCacheNone) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[0].io = DiskIo::kNative;
  vmi.domain.devices.disks[0].cache = DiskCache::kWriteBack;
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.disks[0].io: Invalid value: "
                                       "\"native\": io native requires cache \"none\", not "
                                       "\"writeback\""));
}

TEST(ValidateTest, IoNativeWithCacheNoneIsFine) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[0].io = DiskIo::kNative;
  vmi.domain.devices.disks[0].cache = DiskCache::kNone;
  EXPECT_THAT(Errors(vmi), IsEmpty());
}

TEST(ValidateTest, BootOrderMustBePositive) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[0].boot_order = 0;
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.disks[0].bootOrder: Invalid value: "
                                       "0: must be greater than 0"));
}

TEST(ValidateTest, BootOrderMustBeUniqueAcrossDisksAndInterfaces) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[0].boot_order = 1;
  vmi.domain.devices.interfaces[0].boot_order = 1;
  EXPECT_THAT(Errors(vmi),
              ElementsAre("spec.domain.devices.interfaces[0].bootOrder: Duplicate value: 1"));
}

TEST(ValidateTest, MemoryIsRequired) {
  Vmi vmi = ValidVmi();
  vmi.domain.memory.guest.reset();
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.resources.requests.memory"));
}

TEST(ValidateTest, MemoryMustBePositive) {
  Vmi vmi = ValidVmi();
  vmi.domain.memory.guest = Q("0");
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.memory.guest: Invalid value: 0: must be "
                                       "greater than 0"));
}

TEST(ValidateTest, GuestMemoryMustNotExceedTheLimit) {
  Vmi vmi = ValidVmi();
  vmi.domain.memory.guest = Q("2Gi");
  vmi.domain.resources.limits["memory"] = Q("1Gi");
  vmi.domain.resources.requests["memory"] = Q("1Gi");
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.memory.guest"));
}

TEST(ValidateTest, HugepageSizeIsUnsupported) {
  Vmi vmi = ValidVmi();
  vmi.domain.memory.hugepages = Hugepages{"4Ki"};
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.memory.hugepages.pageSize: Unsupported "
                                       "value: \"4Ki\": supported values: \"1Gi\", \"2Mi\""));
}

TEST(ValidateTest, GuestMemoryMustBeAMultipleOfTheHugepageSize) {
  Vmi vmi = ValidVmi();
  vmi.domain.memory.hugepages = Hugepages{"1Gi"};
  vmi.domain.memory.guest = Q("1536Mi");
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.memory.guest: Invalid value: \"1536Mi\": "
                                       "must be a multiple of the hugepage size 1Gi"));
}

TEST(ValidateTest, CpuCountsMustBePositive) {
  Vmi vmi = ValidVmi();
  vmi.domain.cpu.cores = 0;
  EXPECT_THAT(Errors(vmi),
              ElementsAre("spec.domain.cpu.cores: Invalid value: 0: must be greater than 0"));
}

TEST(ValidateTest, TooManyVcpus) {
  Vmi vmi = ValidVmi();
  vmi.domain.cpu.sockets = 4;
  vmi.domain.cpu.cores = 64;
  vmi.domain.cpu.threads = 4;
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.cpu: Invalid value: 1024: sockets * cores * "
                                       "threads must be at most 512"));
}

TEST(ValidateTest, MaxSocketsBelowSockets) {
  Vmi vmi = ValidVmi();
  vmi.domain.cpu.sockets = 4;
  vmi.domain.cpu.max_sockets = 2;
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.cpu.maxSockets"));
}

TEST(ValidateTest, SerialCharacters) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.disks[0].serial = "bad serial!";
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.disks[0].serial"));
}

TEST(ValidateTest, SriovNeedsMultus) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces[0].binding = Interface::Binding::kSriov;
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.interfaces[0].sriov: Forbidden: sriov "
                                       "needs a multus network, not the pod network"));
}

TEST(ValidateTest, MasqueradeNeedsThePodNetwork) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces[0].binding = Interface::Binding::kMasquerade;
  vmi.networks[0].source = MultusNetwork{"ns/net", false};
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.interfaces[0].masquerade"));
}

TEST(ValidateTest, InterfaceWithoutNetworkIsNotFound) {
  Vmi vmi = ValidVmi();
  vmi.networks.clear();
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.interfaces[0].name: Not found: "
                                       "\"default\": no network of that name in spec.networks"));
}

TEST(ValidateTest, NetworkWithoutInterfaceIsNotFound) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces.clear();
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.networks[0].name"));
}

TEST(ValidateTest, MacAddressFormat) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces[0].mac_address = "02:00:00:00:00";
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.interfaces[0].macAddress"));
  vmi.domain.devices.interfaces[0].mac_address = "02:00:00:aa:BB:01";
  EXPECT_THAT(Errors(vmi), IsEmpty());
}

TEST(ValidateTest, PciAddressFormat) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces[0].pci_address = "0000:81:01.0";
  EXPECT_THAT(Errors(vmi), IsEmpty());
  vmi.domain.devices.interfaces[0].pci_address = "0000:81:20.0";
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.interfaces[0].pciAddress"));
}

TEST(ValidateTest, PortRange) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces[0].ports = {Port{"http", "TCP", 70000}};
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.interfaces[0].ports[0].port: Invalid "
                                       "value: 70000: must be between 1 and 65535, inclusive"));
}

TEST(ValidateTest, InterfaceModel) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.interfaces[0].model = "vmxnet3";
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.interfaces[0].model"));
}

TEST(ValidateTest, GpuNeedsNameAndDeviceName) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.gpus = {Gpu{}};
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.devices.gpus[0].name: Required value",
                                       "spec.domain.devices.gpus[0].deviceName: Required value"));
}

TEST(ValidateTest, HostDeviceNamesAreUniqueWithGpus) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.gpus = {Gpu{"dev", "nvidia.com/T4", std::nullopt, ""}};
  vmi.domain.devices.host_devices = {HostDevice{"dev", "intel.com/qat", ""}};
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.hostDevices[0].name"));
}

TEST(ValidateTest, KernelBootNeedsImageAndAPath) {
  Vmi vmi = ValidVmi();
  vmi.domain.firmware.kernel_boot = KernelBoot{"console=ttyS0", KernelBootContainer{}};
  EXPECT_THAT(Errors(vmi),
              ElementsAre("spec.domain.firmware.kernelBoot.container.image: Required value",
                          "spec.domain.firmware.kernelBoot.container: Required value: must be "
                          "defined with at least one of kernelPath or initrdPath"));
}

TEST(ValidateTest, KernelBootWithEfiIsFine) {
  Vmi vmi = ValidVmi();
  vmi.domain.firmware.bootloader = Efi{};
  vmi.domain.firmware.kernel_boot = KernelBoot{"", KernelBootContainer{"img", "/boot/vmlinuz", "", ""}};
  EXPECT_THAT(Errors(vmi), IsEmpty());
}

TEST(ValidateTest, SecureBootNeedsSmm) {
  Vmi vmi = ValidVmi();
  vmi.domain.firmware.bootloader = Efi{};
  vmi.domain.features.smm = FeatureState{false};
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.features.smm.enabled"));
}

TEST(ValidateTest, NegativeGracePeriod) {
  Vmi vmi = ValidVmi();
  vmi.termination_grace_period_seconds = -5;
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.terminationGracePeriodSeconds: Invalid value: -5: "
                                       "must be greater than or equal to 0"));
}

TEST(ValidateTest, VolumeSourcesNeedTheirReference) {
  Vmi vmi = ValidVmi();
  vmi.volumes[0].source = PersistentVolumeClaimSource{};
  EXPECT_THAT(Errors(vmi),
              ElementsAre("spec.volumes[0].persistentVolumeClaim.claimName: Required value"));
}

TEST(ValidateTest, TooManyDisks) {
  Vmi vmi = ValidVmi();
  DecodeLimits limits;
  limits.max_disks = 1;
  EXPECT_THAT(Errors(vmi, limits),
              ElementsAre("spec.domain.devices.disks: Too many: 2: must have at most 1 items"));
}

TEST(ValidateTest, LongDeviceNameIsTooLong) {
  Vmi vmi = ValidVmi();
  DecodeLimits limits;
  limits.max_name_bytes = 8;
  vmi.domain.devices.interfaces[0].name = "a-very-long-name";
  vmi.networks[0].name = "a-very-long-name";
  EXPECT_THAT(Errors(vmi, limits),
              ElementsAre("spec.domain.devices.interfaces[0].name: Too long: must have at most 8 bytes",
                          "spec.networks[0].name: Too long: must have at most 8 bytes"));
}

TEST(ValidateTest, MachineTypeMustBeAnX86MachineThePlannerBuilds) {
  Vmi vmi = ValidVmi();
  vmi.domain.machine.type = "virt";
  EXPECT_THAT(Errors(vmi), ElementsAre("spec.domain.machine.type: Unsupported value: \"virt\": "
                                       "supported values: \"pc\", \"pc-i440fx-*\", "
                                       "\"pc-q35-*\", \"q35\""));
  for (const char* ok : {"q35", "pc-q35-7.2", "pc", "pc-i440fx-7.2"}) {
    vmi.domain.machine.type = ok;
    EXPECT_THAT(Errors(vmi), IsEmpty()) << ok;
  }
}

TEST(ValidateTest, WatchdogAction) {
  Vmi vmi = ValidVmi();
  vmi.domain.devices.watchdog = Watchdog{"wd", "explode"};
  EXPECT_THAT(Paths(vmi), ElementsAre("spec.domain.devices.watchdog.i6300esb.action"));
}

TEST(ValidateTest, EveryErrorIsReported) {
  Vmi vmi = ValidVmi();
  vmi.metadata.name.clear();
  vmi.domain.cpu.cores = 0;
  vmi.domain.devices.disks[1].bus = DiskBus::kVirtio;
  vmi.termination_grace_period_seconds = -1;
  EXPECT_EQ(Validate(vmi).size(), 4u);
}

}  // namespace
}  // namespace qdirect::spec
