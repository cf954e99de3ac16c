#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/qmp.h"
#include "rapidjson/document.h"

namespace qdirect::agent {
namespace {

using ::testing::HasSubstr;

rapidjson::Document Json(const char* text) {
  rapidjson::Document doc;
  doc.Parse(text);
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

TEST(ParseNetworkInterfaces, NamesMacsAndAddressesWithPrefix) {
  auto doc = Json(R"([
    {"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
      {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
      {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}],
     "statistics": {"rx-bytes": 0}},
    {"name": "eth0", "hardware-address": "52:54:00:12:34:56"}])");
  auto ifaces = ParseNetworkInterfaces(doc);
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  ASSERT_EQ(ifaces->size(), 2u);
  EXPECT_EQ((*ifaces)[0].name, "lo");
  ASSERT_EQ((*ifaces)[0].ip_addresses.size(), 2u);
  EXPECT_EQ((*ifaces)[0].ip_addresses[0].address, "127.0.0.1");
  EXPECT_EQ((*ifaces)[0].ip_addresses[0].prefix, 8);
  EXPECT_EQ((*ifaces)[0].ip_addresses[1].type, "ipv6");
  EXPECT_EQ((*ifaces)[1].hardware_address, "52:54:00:12:34:56");
  EXPECT_TRUE((*ifaces)[1].ip_addresses.empty());
}

TEST(ParseNetworkInterfaces, RejectsAPrefixOutOfRange) {
  auto doc = Json(R"([{"name": "x", "ip-addresses": [{"ip-address": "1.2.3.4", "prefix": 999}]}])");
  auto ifaces = ParseNetworkInterfaces(doc);
  EXPECT_EQ(ifaces.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ifaces.status().message(), HasSubstr("guest-network-get-interfaces: prefix 999"));
}

TEST(ParseFsInfo, MountsWithSizesAndDisks) {
  auto doc = Json(R"([{"name": "vda1", "mountpoint": "/", "type": "ext4",
    "used-bytes": 100, "total-bytes": 1000,
    "disk": [{"serial": "abc", "bus-type": "virtio", "dev": "/dev/vda1"}]},
    {"name": "tmpfs", "mountpoint": "/tmp", "type": "tmpfs", "disk": []}])");
  auto fs = ParseFsInfo(doc);
  ASSERT_TRUE(fs.ok()) << fs.status();
  ASSERT_EQ(fs->size(), 2u);
  EXPECT_EQ((*fs)[0].used_bytes, 100u);
  EXPECT_EQ((*fs)[0].total_bytes, 1000u);
  ASSERT_EQ((*fs)[0].disks.size(), 1u);
  EXPECT_EQ((*fs)[0].disks[0].serial, "abc");
  EXPECT_EQ((*fs)[0].disks[0].bus_type, "virtio");
  EXPECT_FALSE((*fs)[1].used_bytes.has_value());
}

TEST(ParseUsers, NameDomainAndLoginTime) {
  auto doc = Json(R"([{"user": "root", "login-time": 1700000000.5}])");
  auto users = ParseUsers(doc);
  ASSERT_TRUE(users.ok()) << users.status();
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].user, "root");
  EXPECT_DOUBLE_EQ((*users)[0].login_time, 1700000000.5);
}

TEST(ParseOsInfo, RejectsANonStringField) {
  auto doc = Json(R"({"name": 5})");
  auto os = ParseOsInfo(doc);
  EXPECT_EQ(os.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(os.status().message(), HasSubstr("guest-get-osinfo: name: not a string"));
}

TEST(ParseAgentInfo, VersionAndSupportedCommands) {
  auto doc = Json(R"({"version": "7.2.0", "supported_commands": [
    {"name": "guest-ping", "enabled": true, "success-response": true},
    {"name": "guest-shutdown", "enabled": true, "success-response": false}]})");
  auto info = ParseAgentInfo(doc);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version, "7.2.0");
  ASSERT_EQ(info->supported_commands.size(), 2u);
  EXPECT_FALSE(info->supported_commands[1].success_response);
}

TEST(ParseExecStatus, SignalledProcessHasASignalAndNoExitCode) {
  auto doc = Json(R"({"exited": true, "signal": 9})");
  auto st = ParseExecStatus(doc);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->signal, 9);
  EXPECT_EQ(st->exit_code, 0);
}

TEST(ParseExecStatus, RejectsBadBase64) {
  auto doc = Json(R"({"exited": true, "exitcode": 0, "out-data": "!!!"})");
  auto st = ParseExecStatus(doc);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.status().message(), HasSubstr("out-data: bad base64"));
}

TEST(ParseExecStatus, RequiresExited) {
  auto doc = Json(R"({"exitcode": 0})");
  EXPECT_FALSE(ParseExecStatus(doc).ok());
}

TEST(AgentErrorStatus, KeepsTheClassAsQmpDoes) {
  absl::Status st = AgentErrorStatus("guest-exec", "GenericError", "Failed to execute child");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "agent: guest-exec: GenericError: Failed to execute child");
  EXPECT_EQ(qmp::QmpErrorClass(st), "GenericError");
}

}  // namespace
}  // namespace qdirect::agent
