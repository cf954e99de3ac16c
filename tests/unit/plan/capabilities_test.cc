#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan/capabilities_json.h"
#include "plan/probe.h"
#include "qdirect/plan.h"

namespace qdirect {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/qdirect-caps-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// The index must follow every change, and copies must not view the
// original's strings.
TEST(CapabilityNamesTest, LookupsFollowInsertEraseCopyAndMove) {
  CapabilityNames names = {"virtio-blk-pci", "VGA", "pcie-root-port"};
  EXPECT_TRUE(names.contains("VGA"));
  EXPECT_FALSE(names.contains("vga"));
  EXPECT_FALSE(names.contains("virtio-blk"));
  EXPECT_TRUE(names.insert("vga"));
  EXPECT_FALSE(names.insert("vga"));
  EXPECT_EQ(names.erase("VGA"), 1u);
  EXPECT_EQ(names.erase("VGA"), 0u);
  EXPECT_FALSE(names.contains("VGA"));
  ASSERT_NE(names.Find("vga"), nullptr);
  EXPECT_EQ(*names.Find("vga"), "vga");
  EXPECT_THAT(names, ::testing::ElementsAre("pcie-root-port", "vga", "virtio-blk-pci"));

  CapabilityNames copy = names;
  names.erase("vga");
  EXPECT_TRUE(copy.contains("vga"));
  EXPECT_FALSE(names.contains("vga"));
  copy = names;  // assigned over: the old index goes
  EXPECT_FALSE(copy.contains("vga"));
  EXPECT_EQ(copy, names);
  CapabilityNames moved = std::move(copy);
  EXPECT_TRUE(moved.contains("virtio-blk-pci"));
  EXPECT_EQ(moved.count("pcie-root-port"), 1u);
}

TEST(CapabilityPropertiesTest, LookupsFollowInsertAndCopy) {
  CapabilityProperties props;
  props["virtio-blk-pci"] = {"drive", "num-queues"};
  props["VGA"].insert("vgamem_mb");
  ASSERT_NE(props.Find("virtio-blk-pci"), nullptr);
  EXPECT_EQ(props.Find("virtio-blk-pci")->first, "virtio-blk-pci");
  EXPECT_TRUE(props.Find("virtio-blk-pci")->second.contains("num-queues"));
  EXPECT_EQ(props.Find("virtio-net-pci"), nullptr);
  CapabilityProperties copy = props;
  props["virtio-blk-pci"].erase("num-queues");
  EXPECT_TRUE(copy.Find("virtio-blk-pci")->second.contains("num-queues"));
  EXPECT_FALSE(props.Find("virtio-blk-pci")->second.contains("num-queues"));
  EXPECT_EQ(copy.count("VGA"), 1u);
  EXPECT_NE(copy, props);
}

TEST(CapabilitiesTest, BuiltinTableIsQemu72) {
  const QemuCapabilities& caps = BuiltinQemu72Capabilities();
  EXPECT_EQ(caps.major, 7);
  EXPECT_EQ(caps.minor, 2);
  EXPECT_TRUE(caps.machine_types.count("q35"));
  EXPECT_TRUE(caps.machine_types.count("pc-q35-7.2"));
  EXPECT_TRUE(caps.accelerators.count("tcg"));
  EXPECT_TRUE(caps.HasDevice("virtio-blk-pci"));
  EXPECT_FALSE(caps.HasDevice("igb"));  // added in QEMU 8.0
  EXPECT_TRUE(caps.object_types.count("memory-backend-memfd"));
  EXPECT_TRUE(caps.commands.count("blockdev-add"));
  EXPECT_TRUE(caps.events.count("DEVICE_DELETED"));
  EXPECT_TRUE(caps.cpu_models.count("max"));
}

TEST(CapabilitiesTest, BuiltinTableHasPropertiesOfEveryProbedDevice) {
  const QemuCapabilities& caps = BuiltinQemu72Capabilities();
  for (const std::string& type : plan::ProbedDeviceTypes()) {
    EXPECT_TRUE(caps.device_properties.count(type)) << type;
  }
  EXPECT_TRUE(caps.HasDeviceProperty("virtio-blk-pci", "num-queues"));
  EXPECT_TRUE(caps.HasDeviceProperty("virtio-balloon-pci", "free-page-reporting"));
  EXPECT_FALSE(caps.HasDeviceProperty("virtio-blk-pci", "no-such-property"));
  EXPECT_FALSE(caps.HasDeviceProperty("no-such-device", "addr"));
}

TEST(CapabilitiesTest, JsonRoundTripIsLossless) {
  const QemuCapabilities& caps = BuiltinQemu72Capabilities();
  std::string key;
  absl::StatusOr<QemuCapabilities> back =
      plan::CapabilitiesFromJson(plan::CapabilitiesToJson(caps, "k|1|2"), &key);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, caps);
  EXPECT_EQ(key, "k|1|2");
}

TEST(CapabilitiesTest, MalformedJsonIsInvalidArgument) {
  EXPECT_EQ(plan::CapabilitiesFromJson("{\"binary\":").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(plan::CapabilitiesFromJson("{\"binary\":\"x\"}").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CapabilitiesTest, CachePathDependsOnBinaryPath) {
  EXPECT_NE(plan::CapabilitiesCachePath("/c", "/usr/bin/qemu-a"),
            plan::CapabilitiesCachePath("/c", "/usr/bin/qemu-b"));
  EXPECT_EQ(plan::CapabilitiesCachePath("/c", "/usr/bin/qemu-a"),
            plan::CapabilitiesCachePath("/c", "/usr/bin/qemu-a"));
}

// A "binary" that is not QEMU: a cache hit must not run it, a miss must.
std::string FakeBinary(const TempDir& dir) {
  std::string path = dir.path() + "/fake-qemu";
  WriteFile(path, "#!/bin/sh\necho not-qemu >&2\nexit 1\n");
  ::chmod(path.c_str(), 0755);
  return path;
}

std::string KeyOf(const std::string& binary) {
  struct stat st;
  ::stat(binary.c_str(), &st);
  return binary + "|" + std::to_string(st.st_size) + "|" +
         std::to_string(int64_t{st.st_mtim.tv_sec} * 1000000000 +
                        st.st_mtim.tv_nsec);
}

TEST(CapabilitiesTest, FreshCacheIsUsedWithoutRunningTheBinary) {
  TempDir dir;
  std::string binary = FakeBinary(dir);
  QemuCapabilities caps = BuiltinQemu72Capabilities();
  caps.binary = binary;
  WriteFile(plan::CapabilitiesCachePath(dir.path(), binary),
            plan::CapabilitiesToJson(caps, KeyOf(binary)));
  absl::StatusOr<QemuCapabilities> probed = ProbeQemu(binary, dir.path());
  ASSERT_TRUE(probed.ok()) << probed.status();
  EXPECT_EQ(*probed, caps);
}

TEST(CapabilitiesTest, StaleCacheIsReprobed) {
  TempDir dir;
  std::string binary = FakeBinary(dir);
  WriteFile(plan::CapabilitiesCachePath(dir.path(), binary),
            plan::CapabilitiesToJson(BuiltinQemu72Capabilities(),
                                     binary + "|1|2"));
  absl::StatusOr<QemuCapabilities> probed = ProbeQemu(binary, dir.path());
  // Re-probing runs the fake, which is no QEMU: the probe fails and says why.
  EXPECT_FALSE(probed.ok());
  EXPECT_THAT(std::string(probed.status().message()), HasSubstr("not-qemu"));
}

TEST(CapabilitiesTest, CorruptCacheIsReprobed) {
  TempDir dir;
  std::string binary = FakeBinary(dir);
  WriteFile(plan::CapabilitiesCachePath(dir.path(), binary), "{garbage");
  absl::StatusOr<QemuCapabilities> probed = ProbeQemu(binary, dir.path());
  EXPECT_FALSE(probed.ok());
  EXPECT_THAT(std::string(probed.status().message()), HasSubstr("not-qemu"));
}

TEST(CapabilitiesTest, RelativeBinaryIsInvalidArgument) {
  EXPECT_EQ(ProbeQemu("qemu-system-x86_64", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AcceleratorTest, EnvironmentForcesTheChoice) {
  ::setenv("QDIRECT_ACCEL", "tcg", 1);
  EXPECT_EQ(ChooseAccelerator().value_or(""), "tcg");
  ::setenv("QDIRECT_ACCEL", "kvm", 1);
  EXPECT_EQ(ChooseAccelerator().value_or(""), "kvm");
  ::setenv("QDIRECT_ACCEL", "hvf", 1);
  EXPECT_EQ(ChooseAccelerator().status().code(), absl::StatusCode::kInvalidArgument);
  ::unsetenv("QDIRECT_ACCEL");
}

}  // namespace
}  // namespace qdirect
