#pragma once

// One sample of a running VM's counters: what KubeVirt's virt-handler
// exports as kubevirt_vmi_* metrics (it reads them from libvirt's domstats);
// here they come straight from QMP, /proc and the guest agent
// (vm::Machine::Stats).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace qdirect {

// kubevirt_vmi_vcpu_seconds_total: one vCPU's host thread time.
struct VcpuStats {
  int index = 0;       // QEMU's cpu-index
  int thread_id = 0;   // the host thread that runs it
  double cpu_seconds = 0;  // user + system time of that thread
  bool operator==(const VcpuStats&) const = default;
};

struct MemoryStats {
  // QEMU's resident memory (kubevirt_vmi_memory_resident_bytes).
  int64_t qemu_rss_bytes = 0;
  // The balloon's current size, query-balloon "actual"
  // (kubevirt_vmi_memory_domain_bytes); absent without a balloon.
  std::optional<int64_t> balloon_actual_bytes;
  // What the guest's balloon driver reports (virtio-balloon guest-stats,
  // polled every few seconds); absent until the guest reported it.
  std::optional<int64_t> available_bytes;  // kubevirt_vmi_memory_available_bytes
  std::optional<int64_t> unused_bytes;     // kubevirt_vmi_memory_unused_bytes
  std::optional<int64_t> usable_bytes;     // kubevirt_vmi_memory_usable_bytes
  std::optional<int64_t> disk_caches_bytes;
  std::optional<int64_t> swap_in_bytes;
  std::optional<int64_t> swap_out_bytes;
  std::optional<int64_t> major_faults;
  std::optional<int64_t> minor_faults;
  bool operator==(const MemoryStats&) const = default;
};

// kubevirt_vmi_storage_*: one disk (query-blockstats).
struct BlockStats {
  std::string device;  // the disk's qdev id ("ua-disk0") or backend name
  std::string node_name;
  int64_t read_bytes = 0, write_bytes = 0;
  int64_t read_ops = 0, write_ops = 0, flush_ops = 0;
  int64_t read_time_ns = 0, write_time_ns = 0, flush_time_ns = 0;
  bool operator==(const BlockStats&) const = default;
};

// kubevirt_vmi_network_*: one guest interface, as the guest agent counts.
struct NetworkStats {
  std::string name;  // the guest's name for it ("eth0")
  std::string mac;
  int64_t rx_bytes = 0, rx_packets = 0, rx_errs = 0, rx_dropped = 0;
  int64_t tx_bytes = 0, tx_packets = 0, tx_errs = 0, tx_dropped = 0;
  bool operator==(const NetworkStats&) const = default;
};

struct VmStats {
  absl::Time timestamp;
  std::vector<VcpuStats> vcpus;
  MemoryStats memory;
  std::vector<BlockStats> block;
  // Empty while the guest agent is not connected.
  std::vector<NetworkStats> network;
  bool operator==(const VmStats&) const = default;
};

// The sample as JSON (camelCase keys; absent optionals left out), as
// `vmctl stats` prints it.
std::string VmStatsToJson(const VmStats& stats, bool pretty);

}  // namespace qdirect
