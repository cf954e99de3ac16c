#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan_test_util.h"
#include "qdirect/plan.h"

namespace qdirect {
namespace {

using ::qdirect::testing::Bytes;
using ::qdirect::testing::FileVolume;
using ::qdirect::testing::FindAllArgs;
using ::qdirect::testing::FindArg;
using ::qdirect::testing::FindDevice;
using ::qdirect::testing::MinimalVmi;
using ::qdirect::testing::OverlayVolume;
using ::qdirect::testing::TcgHost;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

Plan MustPlan(const spec::Vmi& vmi, const HostFacts& host) {
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : Plan{};
}

TEST(PlannerTest, RendersMachineWideOptions) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  const auto& argv = plan.Argv();
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(argv[0], "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(FindArg(argv, "-name"), "guest=default_testvm,debug-threads=on");
  EXPECT_EQ(FindArg(argv, "-machine"),
            "q35,accel=tcg,usb=off,dump-guest-core=off,memory-backend=mem0");
  EXPECT_EQ(FindArg(argv, "-smp"), "cpus=1,sockets=1,cores=1,threads=1,maxcpus=1");
  EXPECT_EQ(FindArg(argv, "-m"), "size=512M");
  EXPECT_EQ(FindArg(argv, "-object", "mem0"),
            R"({"qom-type":"memory-backend-memfd","id":"mem0","size":536870912,"share":true})");
  EXPECT_EQ(FindArg(argv, "-sandbox"),
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
  EXPECT_THAT(argv, Contains("-S"));
  EXPECT_THAT(argv, Contains("-nodefaults"));
  EXPECT_THAT(argv, Contains("-no-shutdown"));
  EXPECT_EQ(FindArg(argv, "-display"), "none");
  EXPECT_EQ(FindArg(argv, "-rtc"), "base=utc");
}

TEST(PlannerTest, QmpListenerIsPassedAtQmpFd) {
  HostFacts host = TcgHost();
  host.qmp_fd = 3;
  Plan plan = MustPlan(MinimalVmi(), host);
  EXPECT_EQ(FindArg(plan.Argv(), "-chardev", "id=qmp"),
            "socket,id=qmp,fd=3,server=on,wait=off");
  EXPECT_EQ(FindArg(plan.Argv(), "-mon"), "chardev=qmp,mode=control");
  ASSERT_FALSE(plan.fds.empty());
  EXPECT_EQ(plan.fds[0].kind, FdToPass::Kind::kQmpListener);
  EXPECT_EQ(plan.fds[0].child_fd, 3);
  EXPECT_EQ(plan.qmp_socket, "/run/qdirect/testvm/qmp.sock");
}

TEST(PlannerTest, SerialConsoleAndAgentSocketsLiveInRuntimeDir) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  EXPECT_EQ(plan.console_socket, "/run/qdirect/testvm/console.sock");
  EXPECT_EQ(plan.agent_socket, "/run/qdirect/testvm/agent.sock");
  EXPECT_EQ(FindArg(plan.Argv(), "-chardev", "id=console"),
            "socket,id=console,fd=4,server=on,wait=off");
  EXPECT_EQ(FindArg(plan.Argv(), "-chardev", "id=agent"),
            "socket,id=agent,fd=5,server=on,wait=off");
  ASSERT_EQ(plan.fds.size(), 3u);
  EXPECT_EQ(plan.fds[1].kind, FdToPass::Kind::kConsoleListener);
  EXPECT_EQ(plan.fds[1].child_fd, 4);
  EXPECT_EQ(plan.fds[2].kind, FdToPass::Kind::kAgentListener);
  EXPECT_EQ(plan.fds[2].child_fd, 5);
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "isa-serial"),
              HasSubstr(R"("chardev":"console")"));
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtserialport"),
              HasSubstr(R"("name":"org.qemu.guest_agent.0")"));
}

TEST(PlannerTest, NoSerialConsoleWhenNotAutoattached) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.autoattach_serial_console = false;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(plan.console_socket, "");
  EXPECT_EQ(FindArg(plan.Argv(), "-device", "isa-serial"), "");
}

TEST(PlannerTest, OverlayDiskOpensBaseReadOnlyAndListsOverlayFile) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-blockdev", "disk0-base-file"),
            R"({"driver":"file","filename":"/images/example/disk/disk.qcow2",)"
            R"("node-name":"disk0-base-file","read-only":true,"aio":"threads",)"
            R"("cache":{"direct":true,"no-flush":false}})");
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", R"("node-name":"disk0-fmt")"),
              HasSubstr(R"("backing":"disk0-base-fmt")"));
  ASSERT_EQ(plan.files.size(), 1u);
  EXPECT_EQ(plan.files[0].kind, FileToCreate::Kind::kQcow2Overlay);
  EXPECT_EQ(plan.files[0].path, "/vm/rootdisk.qcow2");
  EXPECT_EQ(plan.files[0].backing_path, "/images/example/disk/disk.qcow2");
}

TEST(PlannerTest, CacheNoneIsDirect) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].cache = spec::DiskCache::kNone;
  vmi.domain.devices.disks[0].io = spec::DiskIo::kNative;
  Plan plan = MustPlan(vmi, TcgHost());
  std::string file = FindArg(plan.Argv(), "-blockdev", R"("node-name":"disk0-file")");
  EXPECT_THAT(file, HasSubstr(R"("aio":"native","cache":{"direct":true,"no-flush":false})"));
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-blk-pci"),
              Not(HasSubstr("write-cache")));
}

TEST(PlannerTest, CacheWritethroughTurnsOffDeviceWriteCache) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].cache = spec::DiskCache::kWriteThrough;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", R"("node-name":"disk0-file")"),
              HasSubstr(R"("cache":{"direct":false,"no-flush":false})"));
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-blk-pci"),
              HasSubstr(R"("write-cache":"off")"));
}

TEST(PlannerTest, CacheWritebackIsNotDirect) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].cache = spec::DiskCache::kWriteBack;
  vmi.domain.devices.disks[0].io = spec::DiskIo::kThreads;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", R"("node-name":"disk0-file")"),
              HasSubstr(R"("aio":"threads","cache":{"direct":false,"no-flush":false})"));
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-blk-pci"),
              Not(HasSubstr("write-cache")));
}

TEST(PlannerTest, NativeIoWithoutCacheNoneIsRefused) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].cache = spec::DiskCache::kWriteBack;
  vmi.domain.devices.disks[0].io = spec::DiskIo::kNative;
  absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              StartsWith("spec.domain.devices.disks[0].io: Invalid value: \"native\""));
}

TEST(PlannerTest, SataDisksGoOnAhciBuses) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk cd;
  cd.name = "cd";
  cd.type = spec::Disk::Type::kCdrom;
  cd.bus = spec::DiskBus::kSata;
  vmi.domain.devices.disks[0].bus = spec::DiskBus::kSata;
  vmi.domain.devices.disks.push_back(cd);  // no volume: empty drive
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-device", "ua-rootdisk"),
            R"({"driver":"ide-hd","bus":"ide.0","drive":"disk0-fmt","id":"ua-rootdisk"})");
  EXPECT_EQ(FindArg(plan.Argv(), "-device", "ua-cd"),
            R"({"driver":"ide-cd","bus":"ide.1","id":"ua-cd"})");
}

TEST(PlannerTest, SeventhSataDiskIsRefused) {
  spec::Vmi vmi = MinimalVmi();
  HostFacts host = TcgHost();
  vmi.domain.devices.disks.clear();
  for (int i = 0; i < 7; ++i) {
    spec::Disk d;
    d.name = "cd" + std::to_string(i);
    d.type = spec::Disk::Type::kCdrom;
    d.bus = spec::DiskBus::kSata;
    vmi.domain.devices.disks.push_back(d);
  }
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("spec.domain.devices.disks[6].bus: Too many"));
}

TEST(PlannerTest, ScsiDisksGoOnVirtioScsiController) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].bus = spec::DiskBus::kScsi;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-device", "ua-rootdisk"),
            R"({"driver":"scsi-hd","bus":"scsi0.0","channel":0,"scsi-id":0,)"
            R"("lun":0,"drive":"disk0-fmt","id":"ua-rootdisk"})");
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-scsi-pci"),
              HasSubstr(R"("id":"scsi0")"));
}

TEST(PlannerTest, LunOnBlockDeviceIsScsiBlock) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].type = spec::Disk::Type::kLun;
  vmi.domain.devices.disks[0].bus = spec::DiskBus::kScsi;
  HostFacts host = TcgHost();
  host.volumes.volumes["rootdisk"].kind = ResolvedVolume::Kind::kBlockDevice;
  host.volumes.volumes["rootdisk"].path = "/dev/sdb";
  host.volumes.volumes["rootdisk"].format = "raw";
  Plan plan = MustPlan(vmi, host);
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "ua-rootdisk"),
              HasSubstr(R"("driver":"scsi-block")"));
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", R"("node-name":"disk0-file")"),
              HasSubstr(R"("driver":"host_device","filename":"/dev/sdb")"));
}

TEST(PlannerTest, UsbDiskAddsXhci) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].bus = spec::DiskBus::kUsb;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-device", "ua-rootdisk"),
            R"({"driver":"usb-storage","bus":"usb.0","drive":"disk0-fmt","id":"ua-rootdisk"})");
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "qemu-xhci"), HasSubstr(R"("id":"usb")"));
}

TEST(PlannerTest, LongDiskNameKeepsNodeNamesShort) {
  const std::string name(63, 'a');
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].name = name;
  vmi.volumes[0].name = name;
  HostFacts host = TcgHost();
  host.volumes.volumes.clear();
  host.volumes.volumes[name] = OverlayVolume(name);
  Plan plan = MustPlan(vmi, host);
  for (const DeviceEntry& e : plan.devices) {
    if (e.kind == DeviceEntry::Kind::kBlockdev) {
      EXPECT_LT(e.id.size(), 32u) << e.id;
    }
  }
  const DeviceEntry* dev = FindDevice(plan, "ua-" + name);
  ASSERT_NE(dev, nullptr);
  EXPECT_THAT(dev->json, HasSubstr(R"("drive":"disk0-fmt")"));
  EXPECT_EQ(dev->volume, name);
}

TEST(PlannerTest, PlanningTwiceGivesEqualPlans) {
  spec::Vmi vmi = MinimalVmi();
  spec::Interface iface;
  iface.name = "default";
  iface.binding = spec::Interface::Binding::kMasquerade;
  vmi.domain.devices.interfaces.push_back(iface);
  vmi.networks.push_back({"default", spec::PodNetwork{}});
  HostFacts host = TcgHost();
  EXPECT_EQ(MustPlan(vmi, host), MustPlan(vmi, host));
}

TEST(PlannerTest, DevicesSitBehindRootPortsAndSparesAreFree) {
  HostFacts host = TcgHost();
  host.spare_root_ports = 4;
  Plan plan = MustPlan(MinimalVmi(), host);
  // Used: disk, virtio-serial, balloon. Spares follow.
  const DeviceEntry* disk = FindDevice(plan, "ua-rootdisk");
  ASSERT_NE(disk, nullptr);
  EXPECT_EQ(disk->bus, "rp1");
  EXPECT_EQ(disk->address, "0x0");
  EXPECT_EQ(FindDevice(plan, "virtio-serial0")->bus, "rp2");
  EXPECT_EQ(FindDevice(plan, "balloon0")->bus, "rp3");
  EXPECT_THAT(plan.free_root_ports, ElementsAre("rp4", "rp5", "rp6", "rp7"));
  EXPECT_EQ(FindDevice(plan, "rp7")->json,
            R"({"driver":"pcie-root-port","port":22,"chassis":7,"id":"rp7",)"
            R"("bus":"pcie.0","addr":"0x2.0x6"})");
  EXPECT_EQ(FindDevice(plan, "video0")->address, "0x1");
}

TEST(PlannerTest, MissingDeviceIsFailedPrecondition) {
  HostFacts host = TcgHost();
  host.qemu.device_types.erase("virtio-blk-pci");
  absl::StatusOr<Plan> plan = MakePlan(MinimalVmi(), host);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(plan.status().message(),
            "qemu 7.2.22 (/usr/bin/qemu-system-x86_64) has no device "
            "\"virtio-blk-pci\" needed by spec.domain.devices.disks[0]");
}

TEST(PlannerTest, FirstMissingDeviceByNameIsReported) {
  // virtio-serial-pci is used before virtio-balloon-pci; the report names
  // the first missing one in name order, as it always has.
  HostFacts host = TcgHost();
  host.qemu.device_types.erase("virtio-serial-pci");
  host.qemu.device_types.erase("virtio-balloon-pci");
  absl::StatusOr<Plan> plan = MakePlan(MinimalVmi(), host);
  EXPECT_EQ(plan.status().message(),
            "qemu 7.2.22 (/usr/bin/qemu-system-x86_64) has no device "
            "\"virtio-balloon-pci\" needed by spec.domain.devices.autoattachMemBalloon");
}

TEST(PlannerTest, MissingRootPortPropertyNamesTheFirstPortThatNeedsIt) {
  // Only function 0 of a shared slot sets multifunction: rp1 of rp1..rp8.
  HostFacts host = TcgHost();
  host.qemu.device_properties["pcie-root-port"].erase("multifunction");
  absl::StatusOr<Plan> plan = MakePlan(MinimalVmi(), host);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("device \"pcie-root-port\" has no property \"multifunction\" "
                        "needed by root port rp1"));
}

TEST(PlannerTest, MissingDevicePropertyIsFailedPrecondition) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.block_multi_queue = true;
  HostFacts host = TcgHost();
  host.qemu.device_properties["virtio-blk-pci"].erase("num-queues");
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("has no property \"num-queues\" needed by "
                        "spec.domain.devices.disks[0]"));
}

TEST(PlannerTest, BlockMultiQueueUsesOneQueuePerVcpu) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.block_multi_queue = true;
  vmi.domain.cpu.cores = 4;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-blk-pci"),
              HasSubstr(R"("num-queues":4)"));
}

TEST(PlannerTest, DedicatedIoThreadGetsItsOwnIothread) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].dedicated_io_thread = true;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-object", "iothread"),
            R"({"qom-type":"iothread","id":"iothread-disk0"})");
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-blk-pci"),
              HasSubstr(R"("iothread":"iothread-disk0")"));
}

TEST(PlannerTest, KernelBootAddsKernelInitrdAndAppend) {
  spec::Vmi vmi = MinimalVmi();
  spec::KernelBoot kb;
  kb.kernel_args = "console=ttyS0";
  kb.container = spec::KernelBootContainer{"example/kernel", "/boot/vmlinuz",
                                           "/boot/initrd", ""};
  vmi.domain.firmware.kernel_boot = kb;
  HostFacts host = TcgHost();
  host.volumes.kernel_path = "/images/example_kernel/boot/vmlinuz";
  host.volumes.initrd_path = "/images/example_kernel/boot/initrd";
  Plan plan = MustPlan(vmi, host);
  EXPECT_EQ(FindArg(plan.Argv(), "-kernel"), "/images/example_kernel/boot/vmlinuz");
  EXPECT_EQ(FindArg(plan.Argv(), "-initrd"), "/images/example_kernel/boot/initrd");
  EXPECT_EQ(FindArg(plan.Argv(), "-append"), "console=ttyS0");
}

TEST(PlannerTest, KernelBootWithoutResolvedKernelIsRefused) {
  spec::Vmi vmi = MinimalVmi();
  spec::KernelBoot kb;
  kb.container = spec::KernelBootContainer{"example/kernel", "/boot/vmlinuz", "", ""};
  vmi.domain.firmware.kernel_boot = kb;
  EXPECT_EQ(MakePlan(vmi, TcgHost()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(PlannerTest, EfiUsesPflashAndAVarsOverlay) {
  spec::Vmi vmi = MinimalVmi();
  spec::Efi efi;
  efi.secure_boot = false;
  vmi.domain.firmware.bootloader = efi;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-machine"),
              HasSubstr(",pflash0=pflash0,pflash1=pflash1"));
  EXPECT_THAT(FindArg(plan.Argv(), "-machine"), Not(HasSubstr("smm")));
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", "pflash0-file"),
              HasSubstr("/usr/share/OVMF/OVMF_CODE_4M.fd"));
  bool overlay = false;
  for (const FileToCreate& f : plan.files) {
    if (f.path == "/run/qdirect/testvm/efivars.qcow2") {
      overlay = f.kind == FileToCreate::Kind::kQcow2Overlay &&
                f.backing_path == "/usr/share/OVMF/OVMF_VARS_4M.fd";
    }
  }
  EXPECT_TRUE(overlay);
}

TEST(PlannerTest, SecureBootUsesMsFirmwareAndSmm) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.firmware.bootloader = spec::Efi{};  // secureBoot defaults true
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-machine"), HasSubstr(",smm=on"));
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", "pflash0-file"),
              HasSubstr("/usr/share/OVMF/OVMF_CODE_4M.ms.fd"));
  EXPECT_EQ(FindArg(plan.Argv(), "-global"),
            "driver=cfi.pflash01,property=secure,value=on");
}

TEST(PlannerTest, BiosUseSerialTurnsMachineGraphicsOff) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.firmware.bootloader = spec::Bios{true};
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-machine"), HasSubstr(",graphics=off"));
}

TEST(PlannerTest, HugepagesUseHugetlbMemfd) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.memory.hugepages = spec::Hugepages{"2Mi"};
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-object", "mem0"),
            R"({"qom-type":"memory-backend-memfd","id":"mem0","size":536870912,)"
            R"("share":true,"hugetlb":true,"hugetlbsize":2097152})");
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-balloon-pci"),
              Not(HasSubstr("free-page-reporting")));
}

TEST(PlannerTest, MaxGuestAddsVirtioMem) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.memory.max_guest = Bytes(2048LL << 20);
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-m"), "size=512M,maxmem=2048M");
  EXPECT_THAT(FindArg(plan.Argv(), "-object", "mem-virtiomem0"),
              HasSubstr(R"("size":1610612736)"));
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-mem-pci"),
              HasSubstr(R"("memdev":"mem-virtiomem0","requested-size":0)"));
  // Memory hotplug does not move the disks' addresses.
  EXPECT_EQ(FindDevice(plan, "ua-rootdisk")->bus, "rp1");
}

TEST(PlannerTest, MaxGuestBelowGuestIsRefused) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.memory.max_guest = Bytes(256LL << 20);
  absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              StartsWith("spec.domain.memory.maxGuest: Invalid value"));
}

TEST(PlannerTest, MaxSocketsSetsMaxcpus) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.cpu.sockets = 2;
  vmi.domain.cpu.cores = 2;
  vmi.domain.cpu.max_sockets = 4;
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-smp"), "cpus=4,sockets=4,cores=2,threads=1,maxcpus=8");
}

TEST(PlannerTest, NativePciHotplugTurnsAcpiHotplugOff) {
  HostFacts host = TcgHost();
  EXPECT_EQ(FindArg(MustPlan(MinimalVmi(), host).Argv(), "-global"), "");
  host.pci_hotplug = HostFacts::PciHotplug::kNative;
  EXPECT_EQ(FindArg(MustPlan(MinimalVmi(), host).Argv(), "-global"),
            "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off");
}

spec::Vmi VmiWithInterface(spec::Interface::Binding binding) {
  spec::Vmi vmi = MinimalVmi();
  spec::Interface iface;
  iface.name = "default";
  iface.binding = binding;
  iface.ports.push_back({"http", "TCP", 80});
  vmi.domain.devices.interfaces.push_back(iface);
  vmi.networks.push_back({"default", spec::PodNetwork{}});
  return vmi;
}

TEST(PlannerTest, StandaloneMasqueradeIsUserNetWithHostfwd) {
  Plan plan = MustPlan(VmiWithInterface(spec::Interface::Binding::kMasquerade),
                       TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-netdev"),
            R"({"type":"user","id":"hostua-default","net":"10.0.2.0/24",)"
            R"("host":"10.0.2.1","dhcpstart":"10.0.2.2",)"
            R"("hostfwd":[{"str":"tcp::80-:80"}]})");
  std::string nic = FindArg(plan.Argv(), "-device", "virtio-net-pci");
  EXPECT_THAT(nic, HasSubstr(R"("netdev":"hostua-default","mac":"52:54:00:)"));
}

TEST(PlannerTest, VmNetworkCidrSetsUserNetAddresses) {
  spec::Vmi vmi = VmiWithInterface(spec::Interface::Binding::kMasquerade);
  std::get<spec::PodNetwork>(vmi.networks[0].source).vm_network_cidr = "192.168.77.130/25";
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_THAT(FindArg(plan.Argv(), "-netdev"),
              HasSubstr(R"("net":"192.168.77.128/25","host":"192.168.77.129",)"
                        R"("dhcpstart":"192.168.77.130")"));
}

TEST(PlannerTest, MalformedVmNetworkCidrIsRefused) {
  for (const char* cidr : {"10.0.2.0", "10.0.2/24", "10.0.2.0/24x", "256.0.2.0/24",
                           "10.0.2.0/31", "10.0.2.0/7", " 10.0.2.0/24", "10.0.-2.0/24",
                           "10.0.2.0/"}) {
    spec::Vmi vmi = VmiWithInterface(spec::Interface::Binding::kMasquerade);
    std::get<spec::PodNetwork>(vmi.networks[0].source).vm_network_cidr = cidr;
    absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << cidr;
  }
}

TEST(PlannerTest, PodModeBridgeUsesPassedTapFd) {
  HostFacts host = TcgHost();
  host.network_mode = HostFacts::NetworkMode::kPod;
  Plan plan = MustPlan(VmiWithInterface(spec::Interface::Binding::kBridge), host);
  EXPECT_EQ(FindArg(plan.Argv(), "-netdev"),
            R"({"type":"tap","id":"hostua-default","fd":"6"})");
  ASSERT_EQ(plan.fds.size(), 4u);
  EXPECT_EQ(plan.fds[3].kind, FdToPass::Kind::kTap);
  EXPECT_EQ(plan.fds[3].child_fd, 6);
  EXPECT_EQ(plan.fds[3].name, "default");
}

TEST(PlannerTest, PodModeMultiqueuePassesOneTapFdPerQueue) {
  HostFacts host = TcgHost();
  host.network_mode = HostFacts::NetworkMode::kPod;
  spec::Vmi vmi = VmiWithInterface(spec::Interface::Binding::kMasquerade);
  vmi.domain.cpu.cores = 2;
  vmi.domain.devices.network_interface_multiqueue = true;
  Plan plan = MustPlan(vmi, host);
  EXPECT_EQ(FindArg(plan.Argv(), "-netdev"),
            R"({"type":"tap","id":"hostua-default","fds":"6:7"})");
  EXPECT_THAT(FindArg(plan.Argv(), "-device", "virtio-net-pci"),
              HasSubstr(R"("mq":true,"vectors":6)"));
  EXPECT_EQ(plan.fds.size(), 5u);
}

TEST(PlannerTest, PasstGetsASocketpairEndAndItsPortForwards) {
  spec::Vmi vmi = VmiWithInterface(spec::Interface::Binding::kPasst);
  vmi.domain.devices.interfaces[0].ports = {{"http", "TCP", 80}, {"dns", "UDP", 53},
                                            {"https", "TCP", 443}};
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-netdev"),
            R"({"type":"stream","id":"hostua-default","server":false,)"
            R"("addr":{"type":"fd","str":"6"}})");
  ASSERT_EQ(plan.passt.size(), 1u);
  EXPECT_EQ(plan.passt[0].interface, "default");
  EXPECT_EQ(plan.passt[0].child_fd, 6);
  EXPECT_THAT(plan.passt[0].args, ElementsAre("-t", "80,443", "-u", "53"));
  ASSERT_EQ(plan.fds.size(), 4u);
  EXPECT_EQ(plan.fds[3].kind, FdToPass::Kind::kPasst);
  EXPECT_EQ(plan.fds[3].child_fd, 6);
}

TEST(PlannerTest, NicModelMissingFromQemuIsFailedPrecondition) {
  spec::Vmi vmi = VmiWithInterface(spec::Interface::Binding::kMasquerade);
  vmi.domain.devices.interfaces[0].model = "igb";  // QEMU 8.0+
  absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(plan.status().message(),
            "qemu 7.2.22 (/usr/bin/qemu-system-x86_64) has no device \"igb\" "
            "needed by spec.domain.devices.interfaces[0]");
}

TEST(PlannerTest, SriovTakesPciAddressFromDevicePluginEnv) {
  spec::Vmi vmi = MinimalVmi();
  spec::Interface iface;
  iface.name = "sriov-net";
  iface.binding = spec::Interface::Binding::kSriov;
  vmi.domain.devices.interfaces.push_back(iface);
  vmi.networks.push_back({"sriov-net", spec::MultusNetwork{"default/sriov", false}});
  HostFacts host = TcgHost();
  host.device_plugin_env["KUBEVIRT_RESOURCE_NAME_sriov-net"] = "intel.com/sriov_vf";
  host.device_plugin_env["PCI_RESOURCE_INTEL_COM_SRIOV_VF"] = "0000:3b:02.1,0000:3b:02.2";
  Plan plan = MustPlan(vmi, host);
  EXPECT_THAT(FindDevice(plan, "ua-sriov-net")->json,
              HasSubstr(R"({"driver":"vfio-pci","host":"0000:3b:02.1","id":"ua-sriov-net")"));
}

TEST(PlannerTest, SriovWithoutEnvIsFailedPrecondition) {
  spec::Vmi vmi = MinimalVmi();
  spec::Interface iface;
  iface.name = "sriov-net";
  iface.binding = spec::Interface::Binding::kSriov;
  vmi.domain.devices.interfaces.push_back(iface);
  vmi.networks.push_back({"sriov-net", spec::MultusNetwork{"default/sriov", false}});
  absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("KUBEVIRT_RESOURCE_NAME_sriov-net is not set"));
}

TEST(PlannerTest, GpusUseEachDevicePluginAddressOnce) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.gpus.push_back({"gpu1", "nvidia.com/T4", std::nullopt, ""});
  vmi.domain.devices.gpus.push_back({"gpu2", "nvidia.com/T4", std::nullopt, ""});
  HostFacts host = TcgHost();
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_T4"] = "0000:65:00.0,0000:66:00.0";
  Plan plan = MustPlan(vmi, host);
  EXPECT_THAT(FindDevice(plan, "ua-gpu1")->json, HasSubstr("0000:65:00.0"));
  EXPECT_THAT(FindDevice(plan, "ua-gpu2")->json, HasSubstr("0000:66:00.0"));
  EXPECT_NE(FindDevice(plan, "ua-gpu1")->bus, FindDevice(plan, "ua-gpu2")->bus);
}

TEST(PlannerTest, MoreGpusThanAllocatedIsFailedPrecondition) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.gpus.push_back({"gpu1", "nvidia.com/T4", std::nullopt, ""});
  vmi.domain.devices.gpus.push_back({"gpu2", "nvidia.com/T4", std::nullopt, ""});
  HostFacts host = TcgHost();
  host.device_plugin_env["PCI_RESOURCE_NVIDIA_COM_T4"] = "0000:65:00.0";
  absl::StatusOr<Plan> plan = MakePlan(vmi, host);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("spec.domain.devices.gpus[1]: resource \"nvidia.com/T4\""));
}

TEST(PlannerTest, CloudInitNoCloudListsIsoFile) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk disk;
  disk.name = "cloudinit";
  disk.type = spec::Disk::Type::kCdrom;
  disk.bus = spec::DiskBus::kSata;
  vmi.domain.devices.disks.push_back(disk);
  spec::CloudInitSource ci;
  ci.user_data = "#cloud-config\n";
  vmi.volumes.push_back({"cloudinit", ci});
  HostFacts host = TcgHost();
  ResolvedVolume iso;
  iso.kind = ResolvedVolume::Kind::kIso;
  iso.path = "/run/qdirect/testvm/cloudinit.iso";
  iso.read_only = true;
  host.volumes.volumes["cloudinit"] = iso;
  Plan plan = MustPlan(vmi, host);
  ASSERT_EQ(plan.files.size(), 2u);
  const FileToCreate& f = plan.files[1];
  EXPECT_EQ(f.kind, FileToCreate::Kind::kNoCloudIso);
  EXPECT_EQ(f.label, "cidata");
  EXPECT_EQ(f.iso_files.at("user-data"), "#cloud-config\n");
  EXPECT_EQ(f.iso_files.at("meta-data"),
            "instance-id: testvm.default\nlocal-hostname: testvm\n");
  // An ISO in the runtime dir (often tmpfs) is not opened O_DIRECT.
  EXPECT_THAT(FindArg(plan.Argv(), "-blockdev", R"("node-name":"disk1-file")"),
              HasSubstr(R"("cache":{"direct":false)"));
}

TEST(PlannerTest, CloudInitConfigDriveListsOpenstackFiles) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk disk;
  disk.name = "cfg";
  vmi.domain.devices.disks.push_back(disk);
  spec::CloudInitSource ci;
  ci.flavor = spec::CloudInitSource::Flavor::kConfigDrive;
  ci.user_data = "#cloud-config\n";
  ci.network_data = "{}";
  vmi.volumes.push_back({"cfg", ci});
  vmi.domain.firmware.uuid = "5d307ca9-b3ef-428c-8861-06e72d69f223";
  HostFacts host = TcgHost();
  ResolvedVolume iso;
  iso.kind = ResolvedVolume::Kind::kIso;
  iso.path = "/run/qdirect/testvm/cfg.iso";
  host.volumes.volumes["cfg"] = iso;
  Plan plan = MustPlan(vmi, host);
  ASSERT_EQ(plan.files.size(), 2u);
  const FileToCreate& f = plan.files[1];
  EXPECT_EQ(f.kind, FileToCreate::Kind::kConfigDriveIso);
  EXPECT_EQ(f.label, "config-2");
  EXPECT_EQ(f.iso_files.at("openstack/latest/user_data"), "#cloud-config\n");
  EXPECT_EQ(f.iso_files.at("openstack/latest/network_data.json"), "{}");
  EXPECT_EQ(f.iso_files.at("openstack/latest/meta_data.json"),
            R"({"instance_id":"testvm.default","local_hostname":"testvm",)"
            R"("hostname":"testvm","uuid":"5d307ca9-b3ef-428c-8861-06e72d69f223"})");
}

TEST(PlannerTest, CloudInitSecretRefUsesTheDataTheResolverRead) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk disk;
  disk.name = "cloudinit";
  vmi.domain.devices.disks.push_back(disk);
  spec::CloudInitSource ci;
  ci.user_data_secret_ref = "ud";
  ci.network_data_secret_ref = "nd";
  vmi.volumes.push_back({"cloudinit", ci});
  HostFacts host = TcgHost();
  ResolvedVolume iso;
  iso.kind = ResolvedVolume::Kind::kIso;
  iso.path = "/run/qdirect/testvm/cloudinit.iso";
  iso.secret_user_data = "#cloud-config\nusers: []\n";
  iso.secret_network_data = "version: 2\n";
  host.volumes.volumes["cloudinit"] = iso;
  Plan plan = MustPlan(vmi, host);
  ASSERT_EQ(plan.files.size(), 2u);
  const FileToCreate& f = plan.files[1];
  EXPECT_EQ(f.iso_files.at("user-data"), "#cloud-config\nusers: []\n");
  EXPECT_EQ(f.iso_files.at("network-config"), "version: 2\n");
}

TEST(PlannerTest, ConfigMapIsoCarriesTheSourceFilesAndItsLabel) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk disk;
  disk.name = "app-config";
  vmi.domain.devices.disks.push_back(disk);
  spec::ConfigSource cm;
  cm.kind = spec::ConfigSource::Kind::kConfigMap;
  cm.name = "app";
  cm.volume_label = "APPCFG";
  vmi.volumes.push_back({"app-config", cm});
  HostFacts host = TcgHost();
  ResolvedVolume iso;
  iso.kind = ResolvedVolume::Kind::kIso;
  iso.path = "/run/qdirect/testvm/app-config.iso";
  iso.config_files = {{"app.properties", "x=1\n"}, {"sub/inner", "y"}};
  host.volumes.volumes["app-config"] = iso;
  Plan plan = MustPlan(vmi, host);
  ASSERT_EQ(plan.files.size(), 2u);
  const FileToCreate& f = plan.files[1];
  EXPECT_EQ(f.kind, FileToCreate::Kind::kConfigIso);
  EXPECT_EQ(f.label, "APPCFG");
  EXPECT_EQ(f.iso_files, iso.config_files);
}

TEST(PlannerTest, EmptyDiskIsRawImageToCreate) {
  spec::Vmi vmi = MinimalVmi();
  spec::Disk disk;
  disk.name = "scratch";
  vmi.domain.devices.disks.push_back(disk);
  vmi.volumes.push_back({"scratch", spec::EmptyDiskSource{Bytes(1LL << 30)}});
  HostFacts host = TcgHost();
  ResolvedVolume rv;
  rv.kind = ResolvedVolume::Kind::kCreate;
  rv.path = "/vm/scratch.img";
  rv.size_bytes = 1LL << 30;
  host.volumes.volumes["scratch"] = rv;
  Plan plan = MustPlan(vmi, host);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.files[1].kind, FileToCreate::Kind::kRawImage);
  EXPECT_EQ(plan.files[1].size_bytes, 1LL << 30);
}

TEST(PlannerTest, TcgUsesMaxCpuAndDropsHyperv) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.cpu.model = "host-passthrough";
  vmi.domain.features.hyperv = spec::Hyperv{};
  vmi.domain.features.hyperv->relaxed = spec::FeatureState{};
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-cpu"), "max");
}

TEST(PlannerTest, KvmUsesHostCpuWithHypervEnlightenments) {
  spec::Vmi vmi = MinimalVmi();
  spec::Hyperv hv;
  hv.relaxed = spec::FeatureState{};
  hv.vapic = spec::FeatureState{};
  hv.spinlocks = spec::FeatureSpinlocks{true, 8191};
  hv.synictimer = spec::SyNicTimer{true, spec::FeatureState{}};
  hv.vendorid = spec::FeatureVendorId{true, "KubeVirt"};
  vmi.domain.features.hyperv = hv;
  HostFacts host = TcgHost();
  host.accel = "kvm";
  Plan plan = MustPlan(vmi, host);
  EXPECT_EQ(FindArg(plan.Argv(), "-cpu"),
            "host,hv-relaxed=on,hv-vapic=on,hv-spinlocks=0x1fff,hv-stimer=on,"
            "hv-stimer-direct=on,hv-vendor-id=KubeVirt");
  EXPECT_THAT(FindArg(plan.Argv(), "-machine"), HasSubstr("accel=kvm"));
}

TEST(PlannerTest, UnknownCpuModelIsFailedPrecondition) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.cpu.model = "Quantum-Core";
  absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("no CPU model \"Quantum-Core\" needed by spec.domain.cpu.model"));
}

TEST(PlannerTest, NamedCpuModelWithFeatures) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.cpu.model = "Skylake-Server";
  vmi.domain.cpu.features.push_back({"pcid", "disable"});
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-cpu"), "Skylake-Server,pcid=off");
}

TEST(PlannerTest, PcMachinePutsDevicesOnPciRootBus) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.machine.type = "pc";
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindDevice(plan, "ua-rootdisk")->bus, "pci.0");
  EXPECT_EQ(FindDevice(plan, "video0")->address, "0x2");
  EXPECT_TRUE(plan.free_root_ports.empty());
  EXPECT_EQ(FindArg(plan.Argv(), "-device", "pcie-root-port"), "");
}

TEST(PlannerTest, UnknownMachineTypeIsRefused) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.machine.type = "virt";
  EXPECT_EQ(MakePlan(vmi, TcgHost()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PlannerTest, WatchdogSitsOnRootBusWithAction) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.watchdog = spec::Watchdog{"wd", "poweroff"};
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindDevice(plan, "ua-wd")->bus, "pcie.0");
  EXPECT_EQ(FindArg(plan.Argv(), "-action"), "watchdog=poweroff");
}

TEST(PlannerTest, RngAndInputs) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.rng = true;
  vmi.domain.devices.inputs.push_back({"tablet0", "tablet", "usb"});
  vmi.domain.devices.inputs.push_back({"tablet1", "tablet", "virtio"});
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-object", "rng-random"),
            R"({"qom-type":"rng-random","id":"rng0","filename":"/dev/urandom"})");
  EXPECT_THAT(FindDevice(plan, "ua-tablet0")->json, HasSubstr("usb-tablet"));
  EXPECT_THAT(FindDevice(plan, "ua-tablet1")->json, HasSubstr("virtio-tablet-pci"));
  EXPECT_NE(FindDevice(plan, "usb"), nullptr);
}

TEST(PlannerTest, FixedPciAddressPlacesDeviceOnRootBus) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].pci_address = "0000:00:0a.0";
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindDevice(plan, "ua-rootdisk")->bus, "pcie.0");
  EXPECT_EQ(FindDevice(plan, "ua-rootdisk")->address, "0xa");
}

TEST(PlannerTest, PciAddressOffRootBusIsRefused) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.devices.disks[0].pci_address = "0000:81:00.0";
  absl::StatusOr<Plan> plan = MakePlan(vmi, TcgHost());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              StartsWith("spec.domain.devices.disks[0].pciAddress: Invalid value"));
}

TEST(PlannerTest, ArgvIsRenderedFromDeviceTable) {
  spec::Vmi vmi = VmiWithInterface(spec::Interface::Binding::kMasquerade);
  vmi.domain.devices.rng = true;
  Plan plan = MustPlan(vmi, TcgHost());
  for (const DeviceEntry& e : plan.devices) {
    const std::string& value = e.kind == DeviceEntry::Kind::kChardev ? e.keyval : e.json;
    EXPECT_THAT(plan.Argv(), Contains(value)) << e.id;
  }
  size_t rendered = FindAllArgs(plan.Argv(), "-device").size() +
                    FindAllArgs(plan.Argv(), "-blockdev").size() +
                    FindAllArgs(plan.Argv(), "-netdev").size() +
                    FindAllArgs(plan.Argv(), "-object").size() +
                    FindAllArgs(plan.Argv(), "-chardev").size();
  EXPECT_EQ(rendered, plan.devices.size());
}

TEST(PlannerTest, UuidIsStableAndFirmwareUuidWins) {
  Plan a = MustPlan(MinimalVmi(), TcgHost());
  EXPECT_EQ(FindArg(a.Argv(), "-uuid").size(), 36u);
  spec::Vmi other = MinimalVmi();
  other.metadata.name = "othervm";
  EXPECT_NE(FindArg(a.Argv(), "-uuid"), FindArg(MustPlan(other, TcgHost()).Argv(), "-uuid"));
  spec::Vmi fixed = MinimalVmi();
  fixed.domain.firmware.uuid = "5d307ca9-b3ef-428c-8861-06e72d69f223";
  fixed.domain.firmware.serial = "abc";
  Plan b = MustPlan(fixed, TcgHost());
  EXPECT_EQ(FindArg(b.Argv(), "-uuid"), "5d307ca9-b3ef-428c-8861-06e72d69f223");
  EXPECT_THAT(FindArg(b.Argv(), "-smbios"), HasSubstr(",serial=abc"));
}

TEST(PlannerTest, TimezoneSetsLocaltimeAndTz) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.clock.timezone = "Europe/Paris";
  Plan plan = MustPlan(vmi, TcgHost());
  EXPECT_EQ(FindArg(plan.Argv(), "-rtc"), "base=localtime");
  EXPECT_THAT(plan.env, ElementsAre("TZ=Europe/Paris"));
}

TEST(PlannerTest, RuntimeDirTooLongForSocketsIsRefused) {
  HostFacts host = TcgHost();
  host.runtime_dir = "/run/" + std::string(100, 'x');
  absl::StatusOr<Plan> plan = MakePlan(MinimalVmi(), host);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("too long for unix socket"));
}

TEST(PlannerTest, UtcOffsetNeedsStartTime) {
  spec::Vmi vmi = MinimalVmi();
  vmi.domain.clock.utc_offset_seconds = 3600;
  EXPECT_EQ(MakePlan(vmi, TcgHost()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  HostFacts host = TcgHost();
  host.start_time_unix = 1700000000;  // 2023-11-14T22:13:20Z
  EXPECT_EQ(FindArg(MustPlan(vmi, host).Argv(), "-rtc"), "base=2023-11-14T23:13:20");
}

TEST(PlannerTest, AgentChardevCarriesChardevAddArgumentsAndKeyval) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  const DeviceEntry* agent = FindDevice(plan, "agent");
  ASSERT_NE(agent, nullptr);
  EXPECT_EQ(agent->kind, DeviceEntry::Kind::kChardev);
  EXPECT_EQ(agent->json,
            R"({"id":"agent","backend":{"type":"socket","data":{"addr":{"type":"fd",)"
            R"("data":{"str":"5"}},"server":true,"wait":false}}})");
  EXPECT_EQ(agent->keyval, "socket,id=agent,fd=5,server=on,wait=off");
}

TEST(PlannerTest, NoSocketPathOfTheRuntimeDirIsInArgv) {
  // QEMU is handed every socket it serves; it never needs the dir's path.
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  for (const std::string& arg : plan.Argv()) {
    EXPECT_THAT(arg, Not(HasSubstr("/run/qdirect/testvm"))) << arg;
  }
}

TEST(PlannerTest, HotpluggedDevicesBecomeColdPluggedOnTheirRootPort) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  ASSERT_FALSE(plan.free_root_ports.empty());
  const std::string port = plan.free_root_ports.front();
  const DeviceEntry blockdev{DeviceEntry::Kind::kBlockdev, "hp-data", "", "",
                             "data", R"({"node-name":"hp-data"})", ""};
  const DeviceEntry disk{DeviceEntry::Kind::kDevice, "ua-data", port, "0x0", "data",
                         R"({"driver":"virtio-blk-pci","id":"ua-data"})", ""};

  ASSERT_TRUE(AddHotpluggedDevices({blockdev, disk}, plan).ok());

  EXPECT_THAT(plan.free_root_ports, Not(Contains(port)));
  EXPECT_THAT(FindAllArgs(plan.Argv(), "-device"), Contains(disk.json));
  EXPECT_THAT(FindAllArgs(plan.Argv(), "-blockdev"), Contains(blockdev.json));
  EXPECT_EQ(plan.Argv()[plan.Argv().size() - 2], "-mon");
}

TEST(PlannerTest, HotpluggedDeviceOnAUsedRootPortIsRefused) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  ASSERT_FALSE(plan.free_root_ports.empty());
  const std::string port = plan.free_root_ports.front();
  const DeviceEntry a{DeviceEntry::Kind::kDevice, "ua-a", port, "0x0", "a",
                      R"({"driver":"virtio-blk-pci","id":"ua-a"})", ""};
  DeviceEntry b = a;
  b.id = "ua-b";

  const Plan before = plan;

  EXPECT_EQ(AddHotpluggedDevices({a, b}, plan).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(plan, before);
}

TEST(PlannerTest, HotpluggedDeviceWithATakenIdIsRefused) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());
  DeviceEntry again = plan.devices.front();

  EXPECT_EQ(AddHotpluggedDevices({again}, plan).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(DeviceEntriesJson, RoundTripsTheTable) {
  Plan plan = MustPlan(MinimalVmi(), TcgHost());

  absl::StatusOr<std::vector<DeviceEntry>> back =
      DeviceEntriesFromJson(DeviceEntriesToJson(plan.devices));

  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, plan.devices);
}

TEST(DeviceEntriesJson, MalformedEntryIsNamed) {
  absl::StatusOr<std::vector<DeviceEntry>> bad =
      DeviceEntriesFromJson(R"([{"kind":"device","id":"a","json":"{}"},{"kind":"disk","id":"b","json":"{}"}])");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("device table[1].kind"));
  EXPECT_FALSE(DeviceEntriesFromJson("{}").ok());
}

}  // namespace
}  // namespace qdirect
