// Host-device discovery and group checks on synthetic sysfs trees of
// growing size (a GPU + HDMI audio per IOMMU group), and the device-plugin
// environment a permittedHostDevices config yields. What `vmctl hostdev
// list` and a GPU VMI's start pay before QEMU runs.

#include "../tests/unit/ops/fake_sysfs.h"
#include "benchmark/benchmark.h"
#include "qdirect/hostdev.h"

namespace qdirect::hostdev {
namespace {

// n/2 groups, each a GPU at function 0 and its audio at function 1.
void Populate(hostdev_test::FakeSysfs& sysfs, int n) {
  for (int i = 0; i < n; ++i) {
    hostdev_test::FakePci d;
    d.address = absl::StrFormat("0000:%02x:00.%d", 0x10 + i / 2, i % 2);
    d.class_code = i % 2 == 0 ? 0x030000 : 0x040300;
    d.driver = "vfio-pci";
    d.group = i / 2;
    sysfs.AddPci(d);
  }
}

void BM_DiscoverHostDevices(benchmark::State& state) {
  hostdev_test::FakeSysfs sysfs;
  Populate(sysfs, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    absl::StatusOr<HostDevices> host = DiscoverHostDevices(sysfs.root());
    if (!host.ok()) state.SkipWithError(std::string(host.status().message()).c_str());
    benchmark::DoNotOptimize(host);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DiscoverHostDevices)->Arg(8)->Arg(64)->Arg(256);

void BM_CheckEveryGroup(benchmark::State& state) {
  hostdev_test::FakeSysfs sysfs;
  Populate(sysfs, static_cast<int>(state.range(0)));
  HostDevices host = *DiscoverHostDevices(sysfs.root());
  for (auto _ : state) {
    for (int group : host.Groups()) benchmark::DoNotOptimize(CheckGroup(host, group));
  }
}
BENCHMARK(BM_CheckEveryGroup)->Arg(64)->Arg(256);

void BM_DevicePluginEnvironment(benchmark::State& state) {
  hostdev_test::FakeSysfs sysfs;
  Populate(sysfs, 256);
  HostDevices host = *DiscoverHostDevices(sysfs.root());
  PermittedHostDevices permitted;
  permitted.pci_host_devices = {{"10de:1eb8", "nvidia.com/T4", false, ""}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(DevicePluginEnvironment(permitted, host));
  }
}
BENCHMARK(BM_DevicePluginEnvironment);

}  // namespace
}  // namespace qdirect::hostdev

BENCHMARK_MAIN();
