#include "ops/vm_stats.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/vm_stats.h"
#include "rapidjson/document.h"

namespace qdirect::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

rapidjson::Document Json(const char* text) {
  rapidjson::Document doc;
  doc.Parse(text);
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

// Replies as QEMU 7.2 sends them (captured from qemu-system-x86_64).
constexpr char kBlockstats[] = R"([{"device": "", "stats": {"flush_total_time_ns": 5,
  "wr_total_time_ns": 7, "wr_bytes": 4096, "rd_total_time_ns": 11, "flush_operations": 2,
  "wr_operations": 1, "rd_bytes": 8192, "rd_operations": 3, "account_invalid": true},
  "node-name": "d0", "qdev": "/machine/peripheral/ua-disk0/virtio-backend"},
  {"device": "", "stats": {"rd_bytes": 1}, "node-name": "d0-file"}])";
constexpr char kCpusFast[] = R"([{"thread-id": 9978, "props": {"core-id": 0,
  "thread-id": 0, "socket-id": 0}, "qom-path": "/machine/unattached/device[0]",
  "cpu-index": 0, "target": "x86_64"}])";
constexpr char kGuestStatsUnreported[] = R"({"stats": {"stat-swap-out": 18446744073709551615,
  "stat-free-memory": 18446744073709551615, "stat-total-memory": 18446744073709551615},
  "last-update": 0})";
constexpr char kGuestStats[] = R"({"stats": {"stat-swap-in": 0, "stat-swap-out": 0,
  "stat-free-memory": 100, "stat-total-memory": 300, "stat-available-memory": 200,
  "stat-disk-caches": 50, "stat-major-faults": 4, "stat-minor-faults": 9,
  "stat-htlb-pgalloc": 0, "stat-htlb-pgfail": 0}, "last-update": 1795625499})";

TEST(VmStats, BlockstatsNameTheDiskByItsQdevIdAndSkipBareNodes) {
  absl::StatusOr<std::vector<BlockStats>> block = ParseBlockStats(Json(kBlockstats));
  ASSERT_TRUE(block.ok()) << block.status();
  ASSERT_EQ(block->size(), 1u);
  const BlockStats& b = (*block)[0];
  EXPECT_EQ(b.device, "ua-disk0");
  EXPECT_EQ(b.node_name, "d0");
  EXPECT_EQ(b.read_bytes, 8192);
  EXPECT_EQ(b.write_bytes, 4096);
  EXPECT_EQ(b.read_ops, 3);
  EXPECT_EQ(b.write_ops, 1);
  EXPECT_EQ(b.flush_ops, 2);
  EXPECT_EQ(b.read_time_ns, 11);
  EXPECT_EQ(b.write_time_ns, 7);
  EXPECT_EQ(b.flush_time_ns, 5);
}

TEST(VmStats, BlockstatsWithoutStatsIsMalformed) {
  EXPECT_EQ(ParseBlockStats(Json(R"([{"device":"x"}])")).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(ParseBlockStats(Json("{}")).status().code(), absl::StatusCode::kInternal);
}

TEST(VmStats, CpusFastGivesIndexAndThread) {
  absl::StatusOr<std::vector<VcpuStats>> cpus = ParseCpusFast(Json(kCpusFast));
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_EQ(cpus->size(), 1u);
  EXPECT_EQ((*cpus)[0].index, 0);
  EXPECT_EQ((*cpus)[0].thread_id, 9978);
  EXPECT_EQ(ParseCpusFast(Json(R"([{"cpu-index":0}])")).status().code(),
            absl::StatusCode::kInternal);
}

TEST(VmStats, BalloonActual) {
  EXPECT_EQ(*ParseBalloonActual(Json(R"({"actual": 134217728})")), 134217728);
  EXPECT_FALSE(ParseBalloonActual(Json(R"({})")).ok());
}

TEST(VmStats, UnreportedGuestStatsStayAbsent) {
  MemoryStats memory;
  ASSERT_TRUE(ParseBalloonGuestStats(Json(kGuestStatsUnreported), memory).ok());
  EXPECT_EQ(memory, MemoryStats{});
}

TEST(VmStats, GuestStatsFollowLibvirtsNames) {
  MemoryStats memory;
  ASSERT_TRUE(ParseBalloonGuestStats(Json(kGuestStats), memory).ok());
  EXPECT_EQ(memory.unused_bytes, 100);
  EXPECT_EQ(memory.available_bytes, 300);
  EXPECT_EQ(memory.usable_bytes, 200);
  EXPECT_EQ(memory.disk_caches_bytes, 50);
  EXPECT_EQ(memory.swap_in_bytes, 0);
  EXPECT_EQ(memory.major_faults, 4);
  EXPECT_EQ(memory.minor_faults, 9);
}

TEST(VmStats, AgentNicsWithCountersLessLoopback) {
  agent::NetworkInterface lo{"lo", "00:00:00:00:00:00", {}, agent::InterfaceStatistics{}};
  agent::NetworkInterface eth{"eth0", "52:54:00:00:00:01", {}, agent::InterfaceStatistics{}};
  eth.statistics->rx_bytes = 10;
  eth.statistics->tx_dropped = 2;
  agent::NetworkInterface old{"eth1", "52:54:00:00:00:02", {}, std::nullopt};

  std::vector<NetworkStats> nics = NetworkStatsFromAgent({lo, eth, old});

  ASSERT_EQ(nics.size(), 1u);
  EXPECT_EQ(nics[0].name, "eth0");
  EXPECT_EQ(nics[0].mac, "52:54:00:00:00:01");
  EXPECT_EQ(nics[0].rx_bytes, 10);
  EXPECT_EQ(nics[0].tx_dropped, 2);
}

TEST(VmStats, JsonLeavesOutWhatIsAbsent) {
  VmStats stats;
  stats.timestamp = absl::FromUnixSeconds(1795625499);
  stats.vcpus.push_back({0, 9978, 1.5});
  stats.memory.qemu_rss_bytes = 1 << 20;
  stats.memory.balloon_actual_bytes = 134217728;

  const std::string json = VmStatsToJson(stats, /*pretty=*/false);

  rapidjson::Document doc = Json(json.c_str());
  EXPECT_EQ(std::string(doc["timestamp"].GetString()), "2026-11-25T16:51:39.000Z");
  EXPECT_EQ(doc["vcpus"][0]["threadId"].GetInt(), 9978);
  EXPECT_DOUBLE_EQ(doc["vcpus"][0]["cpuSeconds"].GetDouble(), 1.5);
  EXPECT_EQ(doc["memory"]["balloonActualBytes"].GetInt64(), 134217728);
  EXPECT_THAT(json, Not(HasSubstr("unusedBytes")));
  EXPECT_TRUE(doc["block"].IsArray());
  EXPECT_TRUE(doc["network"].IsArray());
}

}  // namespace
}  // namespace qdirect::ops
