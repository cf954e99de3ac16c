// Decode + validate + plan of the seed's performance-vm manifest: the whole
// YAML -> QEMU argv path that libvirt's XML -> argv plus KubeVirt's converter
// take milliseconds for.

#include <fstream>
#include <sstream>
#include <string>

#include "benchmark/benchmark.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"

namespace qdirect {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Manifest() {
  static const std::string text =
      ReadFile(QDIRECT_SOURCE_ROOT "/tests/data/manifests/10-virtualmachine-performance-vm.yaml");
  return text;
}

HostFacts Facts() {
  HostFacts facts;
  facts.qemu = BuiltinQemu72Capabilities();
  facts.accel = "kvm";
  facts.runtime_dir = "/run/qdirect/production_performance-vm";
  ResolvedVolume os;
  os.kind = ResolvedVolume::Kind::kOverlay;
  os.path = facts.runtime_dir + "/os-disk.qcow2";
  os.format = "qcow2";
  os.backing_path = "/var/lib/qdirect/images/registry.example.com_performance-os/disk/disk.qcow2";
  os.backing_format = "qcow2";
  ResolvedVolume data;
  data.kind = ResolvedVolume::Kind::kFile;
  data.path = "/var/lib/qdirect/pvc/high-performance-pvc";
  facts.volumes.volumes = {{"os-disk", os}, {"data-disk", data}};
  facts.host_cpus = 8;
  facts.host_memory_bytes = int64_t{64} << 30;
  return facts;
}

void BM_DecodeValidatePlanPerformanceVm(benchmark::State& state) {
  const std::string text = Manifest();
  const HostFacts facts = Facts();
  for (auto _ : state) {
    absl::StatusOr<spec::Vmi> vmi = spec::LoadVmi(text);
    if (!vmi.ok()) {
      state.SkipWithError(std::string(vmi.status().message()).c_str());
      return;
    }
    absl::StatusOr<Plan> plan = MakePlan(*vmi, facts);
    if (!plan.ok()) {
      state.SkipWithError(std::string(plan.status().message()).c_str());
      return;
    }
    // The command line as exec takes it (views of the plan's strings).
    const std::vector<std::string_view> command_line = plan->CommandLine();
    benchmark::DoNotOptimize(command_line.data());
  }
}
BENCHMARK(BM_DecodeValidatePlanPerformanceVm);

void BM_DecodePerformanceVm(benchmark::State& state) {
  const std::string text = Manifest();
  for (auto _ : state) {
    spec::DecodeResult result = spec::Decode(text);
    benchmark::DoNotOptimize(result.vmis.data());
  }
}
BENCHMARK(BM_DecodePerformanceVm);

void BM_PlanPerformanceVm(benchmark::State& state) {
  absl::StatusOr<spec::Vmi> vmi = spec::LoadVmi(Manifest());
  if (!vmi.ok()) {
    state.SkipWithError(std::string(vmi.status().message()).c_str());
    return;
  }
  const HostFacts facts = Facts();
  for (auto _ : state) {
    absl::StatusOr<Plan> plan = MakePlan(*vmi, facts);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_PlanPerformanceVm);

}  // namespace
}  // namespace qdirect

BENCHMARK_MAIN();
