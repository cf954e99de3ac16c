#pragma once

// Reading VmStats (qdirect/vm_stats.h) from QEMU's answers: pure parsers of
// the QMP replies Machine::Stats asks for, each refusing a malformed reply
// with the command's name.

#include <vector>

#include "absl/status/statusor.h"
#include "qdirect/agent.h"
#include "qdirect/vm_stats.h"
#include "rapidjson/document.h"

namespace qdirect::ops {

// query-cpus-fast: index and thread id of every vCPU (cpu_seconds 0).
absl::StatusOr<std::vector<VcpuStats>> ParseCpusFast(const rapidjson::Value& reply);
// query-blockstats: one entry per device that has a qdev id or a backend
// name (the nodes below a disk are not listed).
absl::StatusOr<std::vector<BlockStats>> ParseBlockStats(const rapidjson::Value& reply);
// query-balloon: "actual".
absl::StatusOr<int64_t> ParseBalloonActual(const rapidjson::Value& reply);
// qom-get of a virtio-balloon's guest-stats: fills the guest's figures
// into memory; stats QEMU marks as unreported (-1) stay absent.
absl::Status ParseBalloonGuestStats(const rapidjson::Value& reply, MemoryStats& memory);
// The guest agent's interfaces with counters, loopback left out.
std::vector<NetworkStats> NetworkStatsFromAgent(
    const std::vector<agent::NetworkInterface>& interfaces);

}  // namespace qdirect::ops
