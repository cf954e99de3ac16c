#include "ops/vm_stats.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect {
namespace ops {
namespace {

absl::Status Malformed(std::string_view command, std::string_view what) {
  return absl::InternalError(
      absl::StrCat("qmp: ", std::string(command), ": malformed reply: ", std::string(what)));
}

std::string Str(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// An integer member; absent or not an integer is std::nullopt.
std::optional<int64_t> Int(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) return std::nullopt;
  return it->value.GetInt64();
}

// "/machine/peripheral/ua-disk0/virtio-backend" -> "ua-disk0".
std::string DeviceIdOfQdevPath(const std::string& qdev) {
  constexpr absl::string_view kPeripheral = "/machine/peripheral/";
  if (!absl::StartsWith(qdev, kPeripheral)) return qdev;
  std::string rest = qdev.substr(kPeripheral.size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace

absl::StatusOr<std::vector<VcpuStats>> ParseCpusFast(const rapidjson::Value& reply) {
  if (!reply.IsArray()) return Malformed("query-cpus-fast", "not an array");
  std::vector<VcpuStats> vcpus;
  for (const rapidjson::Value& cpu : reply.GetArray()) {
    if (!cpu.IsObject()) return Malformed("query-cpus-fast", "an entry is not an object");
    std::optional<int64_t> index = Int(cpu, "cpu-index");
    std::optional<int64_t> thread = Int(cpu, "thread-id");
    if (!index || !thread) {
      return Malformed("query-cpus-fast", "an entry lacks cpu-index or thread-id");
    }
    vcpus.push_back({static_cast<int>(*index), static_cast<int>(*thread), 0});
  }
  return vcpus;
}

absl::StatusOr<std::vector<BlockStats>> ParseBlockStats(const rapidjson::Value& reply) {
  if (!reply.IsArray()) return Malformed("query-blockstats", "not an array");
  std::vector<BlockStats> out;
  for (const rapidjson::Value& entry : reply.GetArray()) {
    if (!entry.IsObject()) return Malformed("query-blockstats", "an entry is not an object");
    auto stats = entry.FindMember("stats");
    if (stats == entry.MemberEnd() || !stats->value.IsObject()) {
      return Malformed("query-blockstats", "an entry has no stats object");
    }
    BlockStats b;
    const std::string qdev = Str(entry, "qdev");
    b.device = qdev.empty() ? Str(entry, "device") : DeviceIdOfQdevPath(qdev);
    if (b.device.empty()) continue;  // a node with no device above it
    b.node_name = Str(entry, "node-name");
    const rapidjson::Value& s = stats->value;
    const std::pair<const char*, int64_t*> counters[] = {
        {"rd_bytes", &b.read_bytes},          {"wr_bytes", &b.write_bytes},
        {"rd_operations", &b.read_ops},       {"wr_operations", &b.write_ops},
        {"flush_operations", &b.flush_ops},   {"rd_total_time_ns", &b.read_time_ns},
        {"wr_total_time_ns", &b.write_time_ns}, {"flush_total_time_ns", &b.flush_time_ns}};
    for (const auto& [key, field] : counters) *field = Int(s, key).value_or(0);
    out.push_back(std::move(b));
  }
  return out;
}

absl::StatusOr<int64_t> ParseBalloonActual(const rapidjson::Value& reply) {
  if (!reply.IsObject()) return Malformed("query-balloon", "not an object");
  std::optional<int64_t> actual = Int(reply, "actual");
  if (!actual) return Malformed("query-balloon", "no integer \"actual\"");
  return *actual;
}

absl::Status ParseBalloonGuestStats(const rapidjson::Value& reply, MemoryStats& memory) {
  if (!reply.IsObject()) return Malformed("qom-get guest-stats", "not an object");
  auto stats = reply.FindMember("stats");
  if (stats == reply.MemberEnd() || !stats->value.IsObject()) {
    return Malformed("qom-get guest-stats", "no stats object");
  }
  // libvirt's mapping, which KubeVirt's metrics follow: free memory is
  // "unused", total memory "available", MemAvailable "usable".
  const std::pair<const char*, std::optional<int64_t>*> figures[] = {
      {"stat-free-memory", &memory.unused_bytes},
      {"stat-total-memory", &memory.available_bytes},
      {"stat-available-memory", &memory.usable_bytes},
      {"stat-disk-caches", &memory.disk_caches_bytes},
      {"stat-swap-in", &memory.swap_in_bytes},
      {"stat-swap-out", &memory.swap_out_bytes},
      {"stat-major-faults", &memory.major_faults},
      {"stat-minor-faults", &memory.minor_faults}};
  for (const auto& [key, field] : figures) {
    std::optional<int64_t> value = Int(stats->value, key);
    // QEMU says -1 for what the guest has not reported.
    *field = value && *value >= 0 ? value : std::nullopt;
  }
  return absl::OkStatus();
}

std::vector<NetworkStats> NetworkStatsFromAgent(
    const std::vector<agent::NetworkInterface>& interfaces) {
  std::vector<NetworkStats> out;
  for (const agent::NetworkInterface& nic : interfaces) {
    if (nic.name == "lo" || !nic.statistics) continue;
    const agent::InterfaceStatistics& s = *nic.statistics;
    out.push_back({nic.name, nic.hardware_address, s.rx_bytes, s.rx_packets,
                   s.rx_errs, s.rx_dropped, s.tx_bytes, s.tx_packets, s.tx_errs,
                   s.tx_dropped});
  }
  return out;
}

}  // namespace ops

namespace {

template <typename Writer>
void WriteCounters(Writer& w, std::initializer_list<std::pair<const char*, int64_t>> counters) {
  for (const auto& [key, value] : counters) {
    w.Key(key);
    w.Int64(value);
  }
}

template <typename Writer>
void WriteStats(Writer& w, const VmStats& s) {
  w.StartObject();
  w.Key("timestamp");
  const std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", s.timestamp, absl::UTCTimeZone());
  w.String(when.c_str());
  w.Key("vcpus");
  w.StartArray();
  for (const VcpuStats& v : s.vcpus) {
    w.StartObject();
    w.Key("index");
    w.Int(v.index);
    w.Key("threadId");
    w.Int(v.thread_id);
    w.Key("cpuSeconds");
    w.Double(v.cpu_seconds);
    w.EndObject();
  }
  w.EndArray();
  w.Key("memory");
  w.StartObject();
  w.Key("qemuRssBytes");
  w.Int64(s.memory.qemu_rss_bytes);
  const std::pair<const char*, const std::optional<int64_t>*> optional[] = {
      {"balloonActualBytes", &s.memory.balloon_actual_bytes},
      {"availableBytes", &s.memory.available_bytes},
      {"unusedBytes", &s.memory.unused_bytes},
      {"usableBytes", &s.memory.usable_bytes},
      {"diskCachesBytes", &s.memory.disk_caches_bytes},
      {"swapInBytes", &s.memory.swap_in_bytes},
      {"swapOutBytes", &s.memory.swap_out_bytes},
      {"majorFaults", &s.memory.major_faults},
      {"minorFaults", &s.memory.minor_faults}};
  for (const auto& [key, value] : optional) {
    if (!value->has_value()) continue;
    w.Key(key);
    w.Int64(**value);
  }
  w.EndObject();
  w.Key("block");
  w.StartArray();
  for (const BlockStats& b : s.block) {
    w.StartObject();
    w.Key("device");
    w.String(b.device.c_str());
    w.Key("nodeName");
    w.String(b.node_name.c_str());
    WriteCounters(w, {{"readBytes", b.read_bytes}, {"writeBytes", b.write_bytes},
                      {"readOps", b.read_ops}, {"writeOps", b.write_ops},
                      {"flushOps", b.flush_ops}, {"readTimeNs", b.read_time_ns},
                      {"writeTimeNs", b.write_time_ns}, {"flushTimeNs", b.flush_time_ns}});
    w.EndObject();
  }
  w.EndArray();
  w.Key("network");
  w.StartArray();
  for (const NetworkStats& n : s.network) {
    w.StartObject();
    w.Key("name");
    w.String(n.name.c_str());
    w.Key("mac");
    w.String(n.mac.c_str());
    WriteCounters(w, {{"rxBytes", n.rx_bytes}, {"rxPackets", n.rx_packets},
                      {"rxErrors", n.rx_errs}, {"rxDropped", n.rx_dropped},
                      {"txBytes", n.tx_bytes}, {"txPackets", n.tx_packets},
                      {"txErrors", n.tx_errs}, {"txDropped", n.tx_dropped}});
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string VmStatsToJson(const VmStats& stats, bool pretty) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
    w.SetIndent(' ', 2);
    WriteStats(w, stats);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    WriteStats(w, stats);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace qdirect
