// Proves QEMU 7.2 accepts every argv the planner renders for the corpus:
// each plan is started with -S against the real binary (TCG), asked for
// its status over the QMP socket the plan expects at fd 3 (console and agent
// listeners passed too, as the launcher does), and quit.
//
// Stripped before planning, because this host cannot provide them: GPUs,
// hostDevices and SR-IOV interfaces (no VFIO hardware), and hugepages (no
// hugetlbfs pages reserved). Everything else is planned as in production.

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "corpus.h"
#include "gtest/gtest.h"
#include "plan/files.h"
#include "qdirect/plan.h"
#include "qdirect/unique_fd.h"

namespace qdirect {
namespace {

using ::qdirect::testing::CorpusDir;
using ::qdirect::testing::CorpusHost;
using ::qdirect::testing::CorpusManifests;
using ::qdirect::testing::ReadText;

constexpr char kQemu[] = "/usr/bin/qemu-system-x86_64";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/var/tmp/qdirect-e2e-plan-XXXXXX";  // ext4: O_DIRECT works
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool Run(const std::string& command) { return std::system(command.c_str()) == 0; }

void MakeParent(const std::string& path) {
  Run("mkdir -p '" + path.substr(0, path.rfind('/')) + "'");
}

// A file QEMU's x86 loader takes for a bzImage (boot protocol 2.15
// header); with -S it is loaded but never run.
void WriteFakeKernel(const std::string& path) {
  std::string image(64 * 1024, '\0');
  image[0x1f1] = 4;
  image[0x1fe] = 0x55;
  image[0x1ff] = static_cast<char>(0xaa);
  std::memcpy(&image[0x202], "HdrS", 4);
  image[0x206] = 0x0f;
  image[0x207] = 0x02;
  image[0x211] = 0x01;
  const uint32_t initrd_max = 0x7fffffff;
  std::memcpy(&image[0x22c], &initrd_max, 4);
  MakeParent(path);
  std::ofstream(path, std::ios::binary) << image;
}

// The inputs a real host would have: base images, claims, host disks.
void CreateInputs(const HostFacts& host) {
  for (const auto& [name, rv] : host.volumes.volumes) {
    std::string base;
    std::string format = "raw";
    if (rv.kind == ResolvedVolume::Kind::kOverlay) {
      base = rv.backing_path;
      format = rv.backing_format;
    } else if (rv.kind == ResolvedVolume::Kind::kFile ||
               rv.kind == ResolvedVolume::Kind::kBlockDevice) {
      base = rv.path;
    }
    if (base.empty() || ::access(base.c_str(), F_OK) == 0) continue;
    MakeParent(base);
    ASSERT_TRUE(Run(absl::StrCat("qemu-img create -q -f ", format, " '", base,
                                 "' 64M")))
        << base;
  }
  if (!host.volumes.kernel_path.empty()) WriteFakeKernel(host.volumes.kernel_path);
  if (!host.volumes.initrd_path.empty()) {
    MakeParent(host.volumes.initrd_path);
    std::ofstream(host.volumes.initrd_path) << std::string(4096, '\0');
  }
}

[[maybe_unused]] void Strip(spec::Vmi& vmi) {
  vmi.domain.devices.gpus.clear();
  vmi.domain.devices.host_devices.clear();
  std::set<std::string> sriov;
  auto& ifaces = vmi.domain.devices.interfaces;
  for (auto it = ifaces.begin(); it != ifaces.end();) {
    if (it->binding == spec::Interface::Binding::kSriov) {
      sriov.insert(it->name);
      it = ifaces.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(vmi.networks, [&](const spec::Network& n) { return sriov.count(n.name) != 0; });
  vmi.domain.memory.hugepages.reset();
}

UniqueFd ListenUnix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(path.c_str());
  MakeParent(path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 4) != 0) {
    return UniqueFd();
  }
  return fd;
}

// Reads one line (a QMP message) with a deadline; "" on timeout or EOF.
std::string ReadLine(int fd, std::string& buffer, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    size_t nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return "";
    struct timeval tv = {static_cast<time_t>(left / 1000),
                         static_cast<suseconds_t>((left % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return "";
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

// Reads replies until one that is not an event.
std::string Reply(int fd, std::string& buffer) {
  while (true) {
    std::string line = ReadLine(fd, buffer, 10000);
    if (line.empty() || line.find("\"event\"") == std::string::npos) return line;
  }
}

struct RunResult {
  std::string status_reply;
  std::string peripheral_reply;  // qom-list /machine/peripheral
  int exit_code = -1;
  std::string stderr_text;
};

RunResult StartAndQuery(const Plan& plan) {
  RunResult result;
  // The listeners the plan passes (QMP, console, agent), at their fds; for
  // passt, one end of a socketpair whose other end stands in for passt.
  std::vector<std::pair<UniqueFd, int>> listeners;
  std::vector<UniqueFd> passt;
  for (const FdToPass& fd : plan.fds) {
    if (fd.kind == FdToPass::Kind::kPasst) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        result.stderr_text = "socketpair failed";
        return result;
      }
      passt.emplace_back(pair[0]);
      listeners.emplace_back(UniqueFd(pair[1]), fd.child_fd);
      continue;
    }
    const std::string* path = nullptr;
    if (fd.kind == FdToPass::Kind::kQmpListener) path = &plan.qmp_socket;
    if (fd.kind == FdToPass::Kind::kConsoleListener) path = &plan.console_socket;
    if (fd.kind == FdToPass::Kind::kAgentListener) path = &plan.agent_socket;
    if (path == nullptr) continue;
    UniqueFd listener = ListenUnix(*path);
    if (!listener) {
      result.stderr_text = "cannot bind " + *path;
      return result;
    }
    listeners.emplace_back(std::move(listener), fd.child_fd);
  }
  UniqueFd err(::memfd_create("qemu-stderr", MFD_CLOEXEC));
  const std::vector<std::string> words = plan.Argv();
  std::vector<char*> argv;
  for (const std::string& a : words) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store = {"PATH=/usr/bin:/bin"};
  for (const std::string& e : plan.env) env_store.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(err.get(), 2);
    // Park every listener above the range first, so placing one never
    // closes another; dup2's copy has FD_CLOEXEC clear.
    int last = 2;
    std::vector<std::pair<int, int>> parked;
    for (const auto& [listener, child_fd] : listeners) {
      parked.emplace_back(::fcntl(listener.get(), F_DUPFD_CLOEXEC, 100), child_fd);
      last = std::max(last, child_fd);
    }
    for (const auto& [high, child_fd] : parked) ::dup2(high, child_fd);
    ::close_range(last + 1, ~0u, 0);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  // QEMU alone holds the listeners now: if it dies, our connection breaks
  // instead of waiting for an accept that never comes.
  listeners.clear();
  UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, plan.qmp_socket.c_str(), sizeof addr.sun_path - 1);
  std::string buffer;
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ReadLine(client.get(), buffer, 10000).find("\"QMP\"") != std::string::npos) {
    const std::string caps = "{\"execute\":\"qmp_capabilities\"}\n";
    ::send(client.get(), caps.data(), caps.size(), MSG_NOSIGNAL);
    Reply(client.get(), buffer);
    const std::string status = "{\"execute\":\"query-status\"}\n";
    ::send(client.get(), status.data(), status.size(), MSG_NOSIGNAL);
    result.status_reply = Reply(client.get(), buffer);
    const std::string list =
        "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral\"}}\n";
    ::send(client.get(), list.data(), list.size(), MSG_NOSIGNAL);
    result.peripheral_reply = Reply(client.get(), buffer);
    const std::string quit = "{\"execute\":\"quit\"}\n";
    ::send(client.get(), quit.data(), quit.size(), MSG_NOSIGNAL);
  } else {
    ::kill(pid, SIGKILL);
  }
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  ::lseek(err.get(), 0, SEEK_SET);
  char chunk[4096];
  ssize_t n;
  while ((n = ::read(err.get(), chunk, sizeof chunk)) > 0) result.stderr_text.append(chunk, n);
  return result;
}

// Every -device of the plan's table exists in QEMU under its id.
void ExpectDevicesCreated(const Plan& plan, const RunResult& run) {
  for (const DeviceEntry& e : plan.devices) {
    if (e.kind != DeviceEntry::Kind::kDevice) continue;
    EXPECT_NE(run.peripheral_reply.find("\"name\": \"" + e.id + "\""), std::string::npos)
        << "device " << e.id << " missing from /machine/peripheral: "
        << run.peripheral_reply;
  }
}

#if QDIRECT_HAVE_SPEC_DECODER
TEST(QemuAcceptsTest, EveryCorpusPlanStartsUnderQemu72) {
  if (::access(kQemu, X_OK) != 0) GTEST_SKIP() << kQemu << " not installed";
  TempDir tmp;
  absl::StatusOr<QemuCapabilities> caps = ProbeQemu(kQemu, tmp.path() + "/cache");
  ASSERT_TRUE(caps.ok()) << caps.status();
  auto started = std::chrono::steady_clock::now();
  int ran = 0;
  for (const std::string& manifest : CorpusManifests()) {
    SCOPED_TRACE(manifest);
    absl::StatusOr<spec::Vmi> vmi = spec::LoadVmi(ReadText(CorpusDir() + "/" + manifest));
    if (!vmi.ok()) continue;  // an invalid manifest: the golden test covers it
    Strip(*vmi);
    std::string root = tmp.path() + "/" + vmi->metadata.name;
    absl::StatusOr<HostFacts> host = CorpusHost(*vmi, *caps, root, root + "/run");
    ASSERT_TRUE(host.ok()) << host.status();
    CreateInputs(*host);
    absl::StatusOr<Plan> plan = MakePlan(*vmi, *host);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::Status files = CreatePlanFiles(*plan);
    ASSERT_TRUE(files.ok()) << files;
    RunResult run = StartAndQuery(*plan);
    EXPECT_NE(run.status_reply.find("\"status\": \"prelaunch\""), std::string::npos)
        << "reply: " << run.status_reply << "\nqemu stderr:\n" << run.stderr_text;
    EXPECT_EQ(run.exit_code, 0) << "qemu stderr:\n" << run.stderr_text;
    ExpectDevicesCreated(*plan, run);
    ++ran;
  }
  EXPECT_GE(ran, 20);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started).count();
  std::printf("started %d plans under QEMU in %lld ms\n", ran, static_cast<long long>(ms));
}
#endif  // QDIRECT_HAVE_SPEC_DECODER

// Hand-built specs for the features the corpus exercises, so QEMU's
// acceptance is checked even without the decoder.
std::vector<spec::Vmi> FeatureVmis() {
  auto base = [](const std::string& name) {
    spec::Vmi vmi;
    vmi.metadata.name = name;
    spec::Quantity q;
    q.value = 256LL << 20;
    vmi.domain.memory.guest = q;
    spec::Disk disk;
    disk.name = "rootdisk";
    vmi.domain.devices.disks.push_back(disk);
    vmi.volumes.push_back({"rootdisk", spec::ContainerDiskSource{"example/cirros:v1", "", ""}});
    return vmi;
  };
  std::vector<spec::Vmi> out;
  out.push_back(base("minimal"));
  {
    spec::Vmi v = base("bios-serial");
    v.domain.firmware.bootloader = spec::Bios{true};
    out.push_back(v);
  }
  {
    spec::Vmi v = base("efi");
    v.domain.firmware.bootloader = spec::Efi{false, false};
    out.push_back(v);
  }
  {
    spec::Vmi v = base("secure-boot");
    v.domain.firmware.bootloader = spec::Efi{};
    out.push_back(v);
  }
  {
    spec::Vmi v = base("kernel-boot");
    spec::KernelBoot kb;
    kb.kernel_args = "console=ttyS0";
    kb.container = spec::KernelBootContainer{"example/kernel:v1", "/boot/vmlinuz", "/boot/initrd", ""};
    v.domain.firmware.kernel_boot = kb;
    out.push_back(v);
  }
  {
    spec::Vmi v = base("buses");
    for (auto [name, bus, type] :
         {std::tuple{"sata", spec::DiskBus::kSata, spec::Disk::Type::kDisk},
          std::tuple{"scsi", spec::DiskBus::kScsi, spec::Disk::Type::kDisk},
          std::tuple{"usb", spec::DiskBus::kUsb, spec::Disk::Type::kDisk},
          std::tuple{"lun", spec::DiskBus::kScsi, spec::Disk::Type::kLun},
          std::tuple{"cd", spec::DiskBus::kSata, spec::Disk::Type::kCdrom},
          std::tuple{"scsicd", spec::DiskBus::kScsi, spec::Disk::Type::kCdrom}}) {
      spec::Disk d;
      d.name = name;
      d.bus = bus;
      d.type = type;
      v.domain.devices.disks.push_back(d);
      v.volumes.push_back({name, spec::PersistentVolumeClaimSource{std::string(name) + "-pvc", false, false}});
    }
    spec::Disk empty;
    empty.name = "emptycd";
    empty.type = spec::Disk::Type::kCdrom;
    empty.bus = spec::DiskBus::kSata;
    v.domain.devices.disks.push_back(empty);
    out.push_back(v);
  }
  {
    spec::Vmi v = base("cache-io");
    v.domain.devices.disks[0].cache = spec::DiskCache::kNone;
    v.domain.devices.disks[0].io = spec::DiskIo::kNative;
    v.domain.devices.disks[0].dedicated_io_thread = true;
    v.domain.devices.block_multi_queue = true;
    v.domain.cpu.cores = 2;
    spec::Disk wt;
    wt.name = "wt";
    wt.cache = spec::DiskCache::kWriteThrough;
    wt.serial = "WT0001";
    wt.boot_order = 1;
    v.domain.devices.disks.push_back(wt);
    v.volumes.push_back({"wt", spec::EmptyDiskSource{spec::Quantity{"1Gi", 1LL << 30, 0}}});
    v.domain.io_threads_policy = "shared";
    out.push_back(v);
  }
  {
    spec::Vmi v = base("net");
    spec::Interface masq;
    masq.name = "default";
    masq.binding = spec::Interface::Binding::kMasquerade;
    masq.ports.push_back({"ssh", "TCP", 0});
    masq.ports[0].port = 30022;
    spec::Interface passt;
    passt.name = "second";
    passt.binding = spec::Interface::Binding::kPasst;
    passt.model = "e1000e";
    v.domain.devices.interfaces = {masq, passt};
    v.networks.push_back({"default", spec::PodNetwork{}});
    v.networks.push_back({"second", spec::MultusNetwork{"default/second", false}});
    out.push_back(v);
  }
  {
    spec::Vmi v = base("devices");
    v.domain.devices.rng = true;
    v.domain.devices.watchdog = spec::Watchdog{"wd0", "poweroff"};
    v.domain.devices.inputs.push_back({"tablet0", "tablet", "usb"});
    v.domain.devices.inputs.push_back({"kbd0", "keyboard", "virtio"});
    v.domain.cpu.sockets = 2;
    v.domain.cpu.max_sockets = 4;
    v.domain.memory.max_guest = spec::Quantity{"1Gi", 1LL << 30, 0};
    v.domain.clock.timezone = "Europe/Paris";
    v.domain.clock.hpet = spec::Timer{false, "", ""};
    v.domain.features.hyperv = spec::Hyperv{};
    v.domain.features.hyperv->relaxed = spec::FeatureState{};
    v.domain.cpu.model = "Haswell-noTSX";
    v.domain.cpu.features.push_back({"pcid", "disable"});
    out.push_back(v);
  }
  {
    spec::Vmi v = base("pc");
    v.domain.machine.type = "pc";
    spec::Disk sata;
    sata.name = "sata";
    sata.bus = spec::DiskBus::kSata;
    v.domain.devices.disks.push_back(sata);
    v.volumes.push_back({"sata", spec::PersistentVolumeClaimSource{"sata-pvc", false, false}});
    out.push_back(v);
  }
  {
    spec::Vmi v = base("cloud-init");
    for (auto flavor : {spec::CloudInitSource::Flavor::kNoCloud,
                        spec::CloudInitSource::Flavor::kConfigDrive}) {
      std::string name = flavor == spec::CloudInitSource::Flavor::kNoCloud ? "nocloud" : "configdrive";
      spec::Disk d;
      d.name = name;
      d.type = spec::Disk::Type::kCdrom;
      d.bus = spec::DiskBus::kSata;
      v.domain.devices.disks.push_back(d);
      spec::CloudInitSource ci;
      ci.flavor = flavor;
      ci.user_data = "#cloud-config\n";
      v.volumes.push_back({name, ci});
    }
    out.push_back(v);
  }
  return out;
}

TEST(QemuAcceptsTest, FeaturePlansStartUnderQemu72) {
  if (::access(kQemu, X_OK) != 0) GTEST_SKIP() << kQemu << " not installed";
  TempDir tmp;
  absl::StatusOr<QemuCapabilities> caps = ProbeQemu(kQemu, tmp.path() + "/cache");
  ASSERT_TRUE(caps.ok()) << caps.status();
  auto started = std::chrono::steady_clock::now();
  int ran = 0;
  for (const spec::Vmi& vmi : FeatureVmis()) {
    SCOPED_TRACE(vmi.metadata.name);
    std::string root = tmp.path() + "/" + vmi.metadata.name;
    absl::StatusOr<HostFacts> host = CorpusHost(vmi, *caps, root, root + "/run");
    ASSERT_TRUE(host.ok()) << host.status();
    CreateInputs(*host);
    absl::StatusOr<Plan> plan = MakePlan(vmi, *host);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::Status files = CreatePlanFiles(*plan);
    ASSERT_TRUE(files.ok()) << files;
    RunResult run = StartAndQuery(*plan);
    EXPECT_NE(run.status_reply.find("\"status\": \"prelaunch\""), std::string::npos)
        << "reply: " << run.status_reply << "\nqemu stderr:\n" << run.stderr_text;
    EXPECT_EQ(run.exit_code, 0) << "qemu stderr:\n" << run.stderr_text;
    ExpectDevicesCreated(*plan, run);
    ++ran;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started).count();
  std::printf("started %d feature plans under QEMU in %lld ms\n", ran,
              static_cast<long long>(ms));
}

// The built-in table is what the real binary reports.
TEST(QemuAcceptsTest, BuiltinCapabilitiesMatchTheRealBinary) {
  if (::access(kQemu, X_OK) != 0) GTEST_SKIP() << kQemu << " not installed";
  absl::StatusOr<QemuCapabilities> caps = ProbeQemu(kQemu, "");
  ASSERT_TRUE(caps.ok()) << caps.status();
  QemuCapabilities builtin = BuiltinQemu72Capabilities();
  if (caps->version != builtin.version) {
    GTEST_SKIP() << "installed QEMU is " << caps->version << ", table is " << builtin.version;
  }
  // Debian ships these device types in optional module packages
  // (qemu-system-gui, a Recommends we do not install): whether QEMU lists
  // them depends on what else the host has. The planner uses none of them.
  for (const char* optional : {"virtio-gpu-gl-device"}) {
    caps->device_types.erase(optional);
    builtin.device_types.erase(optional);
  }
  EXPECT_EQ(caps->machine_types, builtin.machine_types);
  EXPECT_EQ(caps->device_types, builtin.device_types);
  EXPECT_EQ(caps->device_properties, builtin.device_properties);
  EXPECT_EQ(*caps, builtin);
}

TEST(QemuAcceptsTest, ProbeCacheHitEqualsProbe) {
  if (::access(kQemu, X_OK) != 0) GTEST_SKIP() << kQemu << " not installed";
  TempDir tmp;
  auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<QemuCapabilities> probed = ProbeQemu(kQemu, tmp.path());
  auto t1 = std::chrono::steady_clock::now();
  absl::StatusOr<QemuCapabilities> cached = ProbeQemu(kQemu, tmp.path());
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(probed.ok() && cached.ok());
  EXPECT_EQ(*probed, *cached);
  std::printf("probe %.1f ms, cache hit %.2f ms\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count(),
              std::chrono::duration<double, std::milli>(t2 - t1).count());
}

}  // namespace
}  // namespace qdirect
