// Hotplug through vm::Machine against real QEMU (TCG) and the test guest
// (tests/guest): a volume the guest writes and the host reads back, a NIC
// with its MAC in the guest, a vCPU brought online, virtio-mem memory, and
// the rules (duplicate, no free port, a failure part way rolled back, an
// unplug left pending then completed), and a CD-ROM's medium changed. The guest prints
// "QDIRECT-HOTPLUG add|remove block|net|cpu NAME" on its console
// (tests/guest/rootfs/bin/qdirect-hotplug); the agent reads sysfs.
// Skipped without the test guest in the image store.

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/hotplug.h"
#include "qdirect/machine.h"
#include "qdirect/qmp.h"
#include "qdirect/spec.h"
#include "qdirect/vmi_status.h"
#include "test_guest.h"
#include "vm/console_log.h"

#ifndef QDIRECT_SOURCE_ROOT
#error "QDIRECT_SOURCE_ROOT must name the source tree"
#endif

namespace qdirect::vm {
namespace {

using ::qdirect::testing::HasTestGuest;
using ::qdirect::testing::ImageDir;
using ::qdirect::testing::LoadTestVmi;
using ::qdirect::testing::TestRoot;
using ::qdirect::testing::VmNameForCurrentTest;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(120);
constexpr int64_t kMiB = 1 << 20;


spec::Quantity Bytes(int64_t value) {
  spec::Quantity q;
  q.text = std::to_string(value);
  q.value = value;
  q.milli = value * 1000;
  return q;
}

class HotplugTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TestRoot("qdirect-hotplug-test");
    ASSERT_EQ(mkdir((root_->path() + "/pvc").c_str(), 0755), 0);
    setenv("QDIRECT_PVC_DIR", (root_->path() + "/pvc").c_str(), 1);
  }

  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }

  void SetUp() override {
    if (!HasTestGuest()) GTEST_SKIP() << "no test guest in " << ImageDir();
    absl::StatusOr<spec::Vmi> vmi = LoadTestVmi();
    ASSERT_TRUE(vmi.ok()) << vmi.status();
    vmi_ = *vmi;
    vmi_.metadata.name = VmNameForCurrentTest("hp-", 24);
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }

  // Starts the VM and waits for its agent; console output is collected.
  void Boot() {
    MachineOptions options;
    options.loop = loop_.get();
    absl::StatusOr<std::unique_ptr<Machine>> machine = Machine::Start(vmi_, options);
    ASSERT_TRUE(machine.ok()) << machine.status();
    machine_ = std::move(*machine);
    auto session = machine_->AttachConsole(
        [this](std::string_view bytes) { console_.append(bytes.data(), bytes.size()); }, true);
    ASSERT_TRUE(session.ok()) << session.status();
    console_session_ = std::move(*session);
    ASSERT_TRUE(machine_
                    ->WaitForCondition(vmi_condition::kAgentConnected, ConditionStatus::kTrue,
                                       absl::Now() + kTimeout)
                    .ok());
  }

  // Runs the loop until the console has shown `needle` after offset `from`.
  ::testing::AssertionResult WaitConsole(const std::string& needle, size_t from = 0) {
    absl::Status st = loop_->RunUntil(
        [&] { return console_.find(needle, from) != std::string::npos; },
        absl::Now() + kTimeout);
    if (st.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "console never showed \"" << needle << "\": " << st << "\nconsole tail: "
           << console_.substr(console_.size() > 1500 ? console_.size() - 1500 : 0);
  }

  // Runs the loop until a whole line starting with `prefix` has shown after
  // offset `from`; returns the word after the prefix ("" on timeout).
  std::string ConsoleWord(const std::string& prefix, size_t from) {
    auto line_end = [&]() -> size_t {
      size_t at = console_.find(prefix, from);
      if (at == std::string::npos) return std::string::npos;
      return console_.find('\n', at);
    };
    (void)loop_->RunUntil([&] { return line_end() != std::string::npos; },
                          absl::Now() + kTimeout);
    size_t at = console_.find(prefix, from);
    if (at == std::string::npos || line_end() == std::string::npos) return "";
    at += prefix.size();
    size_t end = console_.find_first_of(" \r\n", at);
    return console_.substr(at, end - at);
  }

  absl::StatusOr<std::string> Sh(const std::string& script) {
    absl::StatusOr<agent::AgentClient*> client = machine_->Agent();
    if (!client.ok()) return client.status();
    agent::ExecRequest request;
    request.path = "/bin/sh";
    request.args = {"-c", script};
    request.timeout = kTimeout;
    absl::StatusOr<agent::ExecStatus> exec = (*client)->Exec(request);
    if (!exec.ok()) return exec.status();
    if (exec->exit_code != 0) {
      return absl::InternalError(absl::StrCat("exit ", exec->exit_code, ": ", exec->err));
    }
    return exec->out;
  }

  // A raw image `<pvc dir>/<claim>` of `size` bytes QEMU's user can write.
  static std::string MakePvc(const std::string& claim, int64_t size) {
    const std::string path = root_->path() + "/pvc/" + claim;
    { std::ofstream create(path, std::ios::binary); }
    std::filesystem::resize_file(path, static_cast<uintmax_t>(size));
    chmod(path.c_str(), 0666);
    return path;
  }

  static VolumeHotplug PvcVolume(const std::string& name, const std::string& claim) {
    VolumeHotplug request;
    request.disk.name = name;
    request.disk.bus = spec::DiskBus::kVirtio;
    request.disk.serial = "SER-" + name;
    request.volume.name = name;
    spec::PersistentVolumeClaimSource pvc;
    pvc.claim_name = claim;
    pvc.hotpluggable = true;
    request.volume.source = pvc;
    return request;
  }

  // Names QEMU has for nodes and peripheral devices (what a rollback must
  // leave as it found).
  std::vector<std::string> QemuNames() {
    std::vector<std::string> out;
    absl::StatusOr<qmp::QmpClient*> qmp = machine_->Qmp();
    if (!qmp.ok()) return out;
    absl::StatusOr<qmp::Reply> nodes = (*qmp)->CallSync("query-named-block-nodes");
    if (nodes.ok()) {
      for (const auto& n : nodes->value.GetArray()) {
        out.push_back(std::string("node ") + n["node-name"].GetString());
      }
    }
    rapidjson::Document args;
    args.SetObject();
    args.AddMember("path", "/machine/peripheral", args.GetAllocator());
    absl::StatusOr<qmp::Reply> devs = (*qmp)->CallSync("qom-list", &args);
    if (devs.ok()) {
      for (const auto& d : devs->value.GetArray()) {
        out.push_back(std::string("device ") + d["name"].GetString());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static TestRoot* root_;
  spec::Vmi vmi_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Machine> machine_;
  std::unique_ptr<ConsoleSession> console_session_;
  std::string console_;
};

TestRoot* HotplugTest::root_ = nullptr;

TEST_F(HotplugTest, VolumeIsSeenWrittenAndRemovedWithTheDataOnTheHost) {
  Boot();
  const std::string image = MakePvc("hp-data", 8 * kMiB);
  size_t mark = console_.size();

  absl::StatusOr<HotplugResult> added = machine_->AddVolume(PvcVolume("data", "hp-data"));

  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->outcome, HotplugOutcome::kDone);
  EXPECT_EQ(added->device_id, "ua-data");
  ASSERT_TRUE(WaitConsole("QDIRECT-HOTPLUG add block ", mark));
  const std::string vd = ConsoleWord("QDIRECT-HOTPLUG add block ", mark);
  ASSERT_FALSE(vd.empty());
  absl::StatusOr<std::string> serial = Sh("cat /sys/block/" + vd + "/serial");
  ASSERT_TRUE(serial.ok()) << serial.status();
  EXPECT_EQ(absl::StripAsciiWhitespace(*serial), "SER-data");
  absl::StatusOr<std::string> roundtrip =
      Sh("echo qdirect-hotplug-data > /dev/" + vd + " && sync && head -c 21 /dev/" + vd);
  ASSERT_TRUE(roundtrip.ok()) << roundtrip.status();
  EXPECT_EQ(*roundtrip, "qdirect-hotplug-data\n");
  VmiStatus status = machine_->Status();
  ASSERT_EQ(status.volume_status.size(), 1u);
  EXPECT_EQ(status.volume_status[0].name, "data");
  EXPECT_EQ(status.volume_status[0].phase, "Ready");
  EXPECT_TRUE(status.volume_status[0].hotplug_volume.has_value());
  ASSERT_EQ(machine_->HotpluggedDevices().size(), 3u);

  mark = console_.size();
  absl::StatusOr<HotplugResult> removed = machine_->RemoveVolume("data");

  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->outcome, HotplugOutcome::kDone);
  ASSERT_TRUE(WaitConsole("QDIRECT-HOTPLUG remove block " + vd, mark));
  EXPECT_THAT(Sh("ls /sys/block").value_or(""), ::testing::Not(HasSubstr(vd)));
  EXPECT_TRUE(machine_->Status().volume_status.empty());
  EXPECT_TRUE(machine_->HotpluggedDevices().empty());
  std::ifstream host(image, std::ios::binary);
  std::string head(21, '\0');
  host.read(head.data(), 21);
  EXPECT_EQ(head, "qdirect-hotplug-data\n");
  for (const std::string& name : QemuNames()) {
    EXPECT_THAT(name, ::testing::Not(HasSubstr("hp0"))) << "left behind after unplug";
  }
}

TEST_F(HotplugTest, InterfaceShowsInTheGuestWithItsMac) {
  Boot();
  size_t mark = console_.size();
  InterfaceHotplug request;
  request.iface.name = "extra";
  request.iface.binding = spec::Interface::Binding::kMasquerade;
  request.iface.mac_address = "02:00:00:aa:bb:cc";
  request.network.name = "extra";

  absl::StatusOr<HotplugResult> added = machine_->AddInterface(request);

  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_TRUE(WaitConsole("QDIRECT-HOTPLUG add net ", mark));
  const std::string nic = ConsoleWord("QDIRECT-HOTPLUG add net ", mark);
  absl::StatusOr<std::string> mac = Sh("cat /sys/class/net/" + nic + "/address");
  ASSERT_TRUE(mac.ok()) << mac.status();
  EXPECT_EQ(*mac, "02:00:00:aa:bb:cc\n");

  auto status_nic = [&]() -> std::optional<VmiInterface> {
    for (const VmiInterface& i : machine_->Status().interfaces) {
      if (i.name == "extra") return i;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(status_nic().has_value()) << "status.interfaces lists the new NIC";
  EXPECT_EQ(status_nic()->mac, "02:00:00:aa:bb:cc");
  ASSERT_TRUE(machine_->SetInterfaceLink("extra", false).ok());
  EXPECT_EQ(status_nic()->link_state, "down");
  EXPECT_EQ(Sh("cat /sys/class/net/" + nic + "/carrier").value_or("?"), "0\n");
  ASSERT_TRUE(machine_->SetInterfaceLink("extra", true).ok());
  EXPECT_EQ(Sh("cat /sys/class/net/" + nic + "/carrier").value_or("?"), "1\n");

  mark = console_.size();
  absl::StatusOr<HotplugResult> removed = machine_->RemoveInterface("extra");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->outcome, HotplugOutcome::kDone);
  EXPECT_TRUE(WaitConsole("QDIRECT-HOTPLUG remove net " + nic, mark));
  EXPECT_TRUE(machine_->HotpluggedDevices().empty());
  EXPECT_FALSE(status_nic().has_value());
}

TEST_F(HotplugTest, VcpuAndVirtioMemoryGrowTheGuest) {
  vmi_.domain.cpu.max_sockets = 2;
  vmi_.domain.memory.max_guest = Bytes(256 * kMiB);
  Boot();
  EXPECT_EQ(Sh("cat /sys/devices/system/cpu/online").value_or("?"), "0\n");
  size_t mark = console_.size();

  absl::StatusOr<HotplugResult> cpus = machine_->SetVcpus({2});

  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_TRUE(WaitConsole("QDIRECT-HOTPLUG add cpu cpu1", mark));
  EXPECT_EQ(Sh("cat /sys/devices/system/cpu/online").value_or("?"), "0-1\n");
  EXPECT_EQ(machine_->SetVcpus({3}).status().code(), absl::StatusCode::kInvalidArgument);

  auto mem_total_kib = [&]() -> int64_t {
    absl::StatusOr<std::string> line = Sh("grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2");
    int64_t kib = 0;
    if (!line.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*line), &kib)) return -1;
    return kib;
  };
  const int64_t before = mem_total_kib();
  ASSERT_GT(before, 0);
  HotplugOptions options;
  options.guest_wait = kTimeout;

  absl::StatusOr<HotplugResult> mem = machine_->SetGuestMemory({256 * kMiB}, options);

  ASSERT_TRUE(mem.ok()) << mem.status();
  EXPECT_EQ(mem->outcome, HotplugOutcome::kDone);
  // virtio-mem adds the blocks after QEMU reports the size, and the guest
  // onlines them from its uevent handler: poll MemTotal there (60 s cap).
  const int64_t want = before + 120 * 1024;
  absl::StatusOr<std::string> online = Sh(absl::StrCat(
      "i=0; while [ $(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2) -lt ", want,
      " ] && [ $i -lt 600 ]; do i=$((i+1)); sleep 0.1; done; echo $i"));
  ASSERT_TRUE(online.ok()) << online.status();
  const int64_t after = mem_total_kib();
  EXPECT_GE(after - before, 120 * 1024) << "MemTotal " << before << " -> " << after << " KiB";
  EXPECT_EQ(machine_->SetGuestMemory({512 * kMiB}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HotplugTest, RulesDuplicateNoFreePortAndRollback) {
  Boot();
  MakePvc("hp-a", kMiB);
  MakePvc("hp-b", kMiB);
  ASSERT_TRUE(machine_->AddVolume(PvcVolume("a", "hp-a")).ok());

  // Duplicate name.
  absl::StatusOr<HotplugResult> dup = machine_->AddVolume(PvcVolume("a", "hp-b"));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists) << dup.status();
  // A volume is no interface, and what is not there is not found.
  EXPECT_EQ(machine_->RemoveInterface("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(machine_->RemoveVolume("nosuch").status().code(), absl::StatusCode::kNotFound);

  // A failure after blockdev-add: device_add refuses a second bootindex 1;
  // the blockdevs added before it are gone again.
  VolumeHotplug first = PvcVolume("boot1", "hp-b");
  first.disk.boot_order = 1;
  ASSERT_TRUE(machine_->AddVolume(first).ok());
  const std::vector<std::string> before = QemuNames();
  const size_t hotplugged = machine_->HotpluggedDevices().size();
  MakePvc("hp-c", kMiB);
  VolumeHotplug second = PvcVolume("boot2", "hp-c");
  second.disk.boot_order = 1;
  absl::StatusOr<HotplugResult> failed = machine_->AddVolume(second);
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("rolled back 2"));
  EXPECT_EQ(QemuNames(), before);
  EXPECT_EQ(machine_->HotpluggedDevices().size(), hotplugged);
  EXPECT_EQ(machine_->Status().volume_status.size(), 2u);

  // Fill the spare root ports; the next one is refused.
  absl::Status last;
  for (int i = 0; i < 8 && last.ok(); ++i) {
    const std::string claim = absl::StrCat("hp-fill", i);
    MakePvc(claim, kMiB);
    last = machine_->AddVolume(PvcVolume(absl::StrCat("fill", i), claim)).status();
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kResourceExhausted) << last;
  EXPECT_THAT(last.message(), HasSubstr("no free pcie-root-port"));
}

TEST_F(HotplugTest, UnplugLeftPendingCompletesOnTheEventAndRefusesASecondAsk) {
  Boot();
  MakePvc("hp-p", kMiB);
  ASSERT_TRUE(machine_->AddVolume(PvcVolume("p", "hp-p")).ok());
  ASSERT_TRUE(WaitConsole("QDIRECT-HOTPLUG add block "));
  HotplugOptions now;
  now.guest_wait = absl::ZeroDuration();

  absl::StatusOr<HotplugResult> removed = machine_->RemoveVolume("p", now);

  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->outcome, HotplugOutcome::kPending);
  ASSERT_EQ(machine_->Status().volume_status.size(), 1u);
  EXPECT_EQ(machine_->Status().volume_status[0].phase, "Detaching");
  absl::StatusOr<HotplugResult> again = machine_->RemoveVolume("p", now);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("already being unplugged"));

  ASSERT_TRUE(loop_->RunUntil([&] { return machine_->Status().volume_status.empty(); },
                              absl::Now() + kTimeout)
                  .ok());
  EXPECT_TRUE(machine_->HotpluggedDevices().empty());
  for (const std::string& name : QemuNames()) {
    EXPECT_THAT(name, ::testing::Not(HasSubstr("hp0"))) << "left behind after unplug";
  }
}

TEST_F(HotplugTest, CdromMediumIsInsertedSwappedAndEjected) {
  spec::Disk cd;
  cd.name = "cd";
  cd.type = spec::Disk::Type::kCdrom;
  cd.bus = spec::DiskBus::kScsi;
  cd.readonly = true;
  vmi_.domain.devices.disks.push_back(cd);
  Boot();
  auto medium = [](const std::string& claim, const std::string& text) {
    const std::string path = MakePvc(claim, 64 * 1024);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    spec::Volume volume;
    volume.name = "cd";
    spec::PersistentVolumeClaimSource pvc;
    pvc.claim_name = claim;
    volume.source = pvc;
    return volume;
  };
  auto read_cd = [&] { return Sh("head -c 15 /dev/sr0"); };

  ASSERT_TRUE(machine_->ChangeMedia("cd", medium("hp-cd1", "QDIRECT-MEDIA-1")).ok());
  EXPECT_EQ(read_cd().value_or("?"), "QDIRECT-MEDIA-1");
  absl::Status swapped = machine_->ChangeMedia("cd", medium("hp-cd2", "QDIRECT-MEDIA-2"));
  ASSERT_TRUE(swapped.ok()) << swapped;
  EXPECT_EQ(read_cd().value_or("?"), "QDIRECT-MEDIA-2");
  std::vector<std::string> names = QemuNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "node disk0-fmt"), names.end());

  ASSERT_TRUE(machine_->ChangeMedia("cd", std::nullopt).ok());
  EXPECT_FALSE(read_cd().ok()) << "no medium: reading fails";
  names = QemuNames();
  EXPECT_EQ(std::find(names.begin(), names.end(), "node disk0-fmt"), names.end());
  EXPECT_EQ(machine_->ChangeMedia("nodisk", std::nullopt).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace qdirect::vm
