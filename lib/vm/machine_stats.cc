// Machine::Stats: one sample of the VM's counters from QMP, /proc and the
// guest agent.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "launch/proc_stat.h"
#include "ops/vm_stats.h"
#include "qdirect/agent.h"
#include "qdirect/machine.h"
#include "qdirect/qmp.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {

absl::StatusOr<VmStats> Machine::Stats() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("stats"));
  VmStats stats;
  stats.timestamp = absl::Now();
  const pid_t pid = m.process->pid();

  absl::StatusOr<qmp::Reply> cpus = m.qmp->CallSync("query-cpus-fast");
  if (!cpus.ok()) return m.Error("stats", cpus.status());
  ASSIGN_OR_RETURN(stats.vcpus, ops::ParseCpusFast(cpus->value));
  for (VcpuStats& vcpu : stats.vcpus) {
    // A thread that just went away reads as 0 rather than failing it all.
    vcpu.cpu_seconds = launch::ReadThreadCpuSeconds(pid, vcpu.thread_id).value_or(0);
  }

  ASSIGN_OR_RETURN(stats.memory.qemu_rss_bytes, launch::ReadRssBytes(pid));
  const bool has_balloon = std::any_of(
      m.plan->devices.begin(), m.plan->devices.end(),
      [](const DeviceEntry& e) { return e.id == kBalloonId; });
  if (has_balloon) {
    absl::StatusOr<qmp::Reply> balloon = m.qmp->CallSync("query-balloon");
    if (!balloon.ok()) return m.Error("stats", balloon.status());
    ASSIGN_OR_RETURN(stats.memory.balloon_actual_bytes,
                     ops::ParseBalloonActual(balloon->value));
    rapidjson::Document args(rapidjson::kObjectType);
    auto& a = args.GetAllocator();
    args.AddMember("path", rapidjson::Value(kBalloonPath, a), a);
    args.AddMember("property", "guest-stats", a);
    absl::StatusOr<qmp::Reply> guest = m.qmp->CallSync("qom-get", &args);
    if (!guest.ok()) return m.Error("stats", guest.status());
    RETURN_IF_ERROR(ops::ParseBalloonGuestStats(guest->value, stats.memory));
  }

  absl::StatusOr<qmp::Reply> block = m.qmp->CallSync("query-blockstats");
  if (!block.ok()) return m.Error("stats", block.status());
  ASSIGN_OR_RETURN(stats.block, ops::ParseBlockStats(block->value));

  if (m.agent != nullptr && m.agent->connected()) {
    // The agent is optional here: a guest that stops answering costs the
    // network part, not the sample.
    absl::StatusOr<std::vector<agent::NetworkInterface>> nics =
        m.agent->GetNetworkInterfaces();
    if (nics.ok()) stats.network = ops::NetworkStatsFromAgent(*nics);
  }
  return stats;
}

}  // namespace qdirect::vm
