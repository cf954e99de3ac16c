// Every VirtualMachine/VirtualMachineInstance manifest of the shared seed
// corpus decodes and validates without errors; other kinds are skipped with
// a notice. The directory comes from QDIRECT_SEED_EXAMPLES (set by meson).

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/spec.h"

namespace qdirect::spec {
namespace {

std::vector<std::filesystem::path> Manifests() {
  const char* dir = std::getenv("QDIRECT_SEED_EXAMPLES");
  std::vector<std::filesystem::path> out;
  if (dir == nullptr || !std::filesystem::is_directory(dir)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml" || entry.path().extension() == ".json") {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SeedExamplesTest, EveryVmDecodesWithoutErrors) {
  std::vector<std::filesystem::path> files = Manifests();
  if (files.empty()) GTEST_SKIP() << "QDIRECT_SEED_EXAMPLES has no manifests";
  size_t vmis = 0, skipped = 0;
  for (const auto& file : files) {
    DecodeResult r = Decode(Read(file));
    for (const FieldError& e : r.errors) ADD_FAILURE() << file << ": " << e.ToString();
    for (const DecodedVmi& d : r.vmis) {
      for (const FieldError& e : d.errors) ADD_FAILURE() << file << ": " << e.ToString();
      EXPECT_FALSE(d.vmi.metadata.name.empty()) << file;
      EXPECT_TRUE(d.vmi.domain.memory.guest.has_value()) << file;
    }
    EXPECT_FALSE(r.vmis.empty() && r.notices.empty()) << file << " holds nothing";
    vmis += r.vmis.size();
    skipped += r.notices.size();
  }
  EXPECT_GT(vmis, 0u);
  EXPECT_GT(skipped, 0u);
}

TEST(SeedExamplesTest, DatabaseVmSkipsItsClaimWithANotice) {
  const char* dir = std::getenv("QDIRECT_SEED_EXAMPLES");
  std::filesystem::path file =
      std::filesystem::path(dir ? dir : "") / "06-virtualmachine-database-vm.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " missing";
  DecodeResult r = Decode(Read(file));
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(r.notices,
              testing::ElementsAre("document 2: skipped kind PersistentVolumeClaim \"database-pvc\""));
}

TEST(SeedExamplesTest, PerformanceVmAppliesMisplacedCacheAndIo) {
  const char* dir = std::getenv("QDIRECT_SEED_EXAMPLES");
  std::filesystem::path file =
      std::filesystem::path(dir ? dir : "") / "10-virtualmachine-performance-vm.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " missing";
  DecodeResult r = Decode(Read(file));
  ASSERT_EQ(r.vmis.size(), 1u);
  const Vmi& vmi = r.vmis[0].vmi;
  EXPECT_EQ(vmi.domain.devices.disks[0].cache, DiskCache::kNone);
  EXPECT_EQ(vmi.domain.devices.disks[0].io, DiskIo::kNative);
  EXPECT_EQ(vmi.domain.devices.disks[1].cache, DiskCache::kWriteBack);
  // Four misplaced fields, and the pod network added for interface "default".
  EXPECT_EQ(r.vmis[0].warnings.size(), 5u);
  ASSERT_EQ(vmi.networks.size(), 1u);
  EXPECT_EQ(vmi.networks[0].name, "default");
  EXPECT_EQ(vmi.domain.cpu.cores, 4u);
  EXPECT_TRUE(vmi.domain.cpu.dedicated_cpu_placement);
  EXPECT_EQ(vmi.domain.memory.guest->value, int64_t{8} << 30);
}

TEST(SeedExamplesTest, SecureVmWarnsAboutSecurityContext) {
  const char* dir = std::getenv("QDIRECT_SEED_EXAMPLES");
  std::filesystem::path file =
      std::filesystem::path(dir ? dir : "") / "09-virtualmachine-secure-vm.yaml";
  if (!std::filesystem::exists(file)) GTEST_SKIP() << file << " missing";
  DecodeResult r = Decode(Read(file));
  ASSERT_EQ(r.vmis.size(), 1u);
  std::vector<std::string> warnings;
  for (const FieldError& w : r.vmis[0].warnings) warnings.push_back(w.ToString());
  EXPECT_THAT(warnings, testing::Contains("spec.template.spec.securityContext: unknown field"));
}

}  // namespace
}  // namespace qdirect::spec
