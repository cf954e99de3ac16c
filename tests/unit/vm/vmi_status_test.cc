#include "qdirect/vmi_status.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

absl::Time At(int64_t unix_seconds) { return absl::FromUnixSeconds(unix_seconds); }

// 2026-11-25T13:55:52Z
constexpr int64_t kT0 = 1795614952;

VmiStatus FullStatus() {
  VmiStatus s;
  s.node_name = "node-1";
  s.reason = "GuestPanicked";
  s.phase = VmiPhase::kRunning;
  s.conditions.push_back({"Ready", ConditionStatus::kTrue, std::nullopt,
                          At(kT0), "", ""});
  s.conditions.push_back({"Paused", ConditionStatus::kTrue, std::nullopt,
                          At(kT0 + 5), "PausedByUser",
                          "VMI was paused by user"});
  s.phase_transition_timestamps = {{VmiPhase::kPending, At(kT0 - 2)},
                                   {VmiPhase::kRunning, At(kT0)}};
  VmiInterface iface;
  iface.ip_address = "10.0.2.15";
  iface.mac = "52:54:00:12:34:56";
  iface.name = "default";
  iface.ip_addresses = {"10.0.2.15", "fe80::5054:ff:fe12:3456"};
  iface.interface_name = "eth0";
  iface.info_source = "domain, guest-agent";
  iface.queue_count = 2;
  iface.link_state = "up";
  s.interfaces.push_back(iface);
  s.guest_os_info = {"Debian GNU/Linux", "6.1.0-13-cloud-amd64", "12",
                     "Debian GNU/Linux 12 (bookworm)", "12",
                     "#1 SMP PREEMPT_DYNAMIC", "x86_64", "debian"};
  VmiMigrationState m;
  m.start_timestamp = At(kT0 + 10);
  m.target_node = "node-2";
  m.target_direct_migration_node_ports = {{"49152", 0}, {"49153", 49153}};
  m.completed = true;
  m.migration_uid = "0e9b6b36";
  m.mode = "PreCopy";
  s.migration_state = m;
  s.migration_method = "LiveMigration";
  s.qos_class = "Burstable";
  s.launcher_container_image_version = "qdirect-launcher:0.1.0";
  VmiVolumeStatus vol;
  vol.name = "rootdisk";
  vol.target = "vda";
  vol.phase = "Ready";
  vol.hotplug_volume = HotplugVolumeStatus{"hp-pod", "uid-1"};
  vol.size = 1 << 30;
  s.volume_status.push_back(vol);
  s.volume_status.push_back({"cloudinit", "", "", "", "", std::nullopt, 0});
  s.fs_freeze_status = "frozen";
  s.runtime_user = 107;
  s.qdirect.qemu_pid = 4242;
  s.qdirect.runtime_dir = "/run/qdirect/vm1";
  s.qdirect.qemu_runstate = "running";
  s.qdirect.exit_signal = 9;
  return s;
}

TEST(VmiStatusJson, EmptyFieldsAreOmittedLikeGoOmitempty) {
  VmiStatus s;
  s.phase = VmiPhase::kPending;
  // guestOSInfo is a non-pointer struct and runtimeUser has no omitempty:
  // encoding/json writes both even when empty.
  EXPECT_EQ(ToJson(s), R"({"phase":"Pending","guestOSInfo":{},"runtimeUser":0})");
}

TEST(VmiStatusJson, UnsetPhaseIsOmitted) {
  EXPECT_EQ(ToJson(VmiStatus{}), R"({"guestOSInfo":{},"runtimeUser":0})");
}

TEST(VmiStatusJson, ConditionUsesKubeTimesAndNullProbeTime) {
  VmiStatus s;
  s.conditions.push_back({"Paused", ConditionStatus::kTrue, std::nullopt,
                          At(kT0) + absl::Milliseconds(731), "PausedIOError",
                          ""});
  EXPECT_EQ(ToJson(s),
            R"({"conditions":[{"type":"Paused","status":"True",)"
            R"("lastProbeTime":null,"lastTransitionTime":"2026-11-25T13:55:52Z",)"
            R"("reason":"PausedIOError"}],"guestOSInfo":{},"runtimeUser":0})");
}

TEST(VmiStatusJson, UsesKubeVirtFieldNames) {
  const std::string json = ToJson(FullStatus());
  for (const char* key :
       {"\"nodeName\":\"node-1\"", "\"phaseTransitionTimestamps\":",
        "\"phaseTransitionTimestamp\":\"2026-11-25T13:55:52Z\"",
        "\"ipAddress\":\"10.0.2.15\"", "\"ipAddresses\":[",
        "\"interfaceName\":\"eth0\"", "\"infoSource\":\"domain, guest-agent\"",
        "\"queueCount\":2", "\"linkState\":\"up\"", "\"guestOSInfo\":{",
        "\"kernelRelease\":", "\"prettyName\":", "\"versionId\":\"12\"",
        "\"kernelVersion\":", "\"migrationState\":{",
        "\"startTimestamp\":\"2026-11-25T13:56:02Z\"",
        "\"targetDirectMigrationNodePorts\":{\"49152\":0,\"49153\":49153}",
        "\"migrationUid\":\"0e9b6b36\"", "\"migrationMethod\":\"LiveMigration\"",
        "\"qosClass\":\"Burstable\"", "\"launcherContainerImageVersion\":",
        "\"volumeStatus\":[", "\"hotplugVolume\":{\"attachPodName\":\"hp-pod\","
        "\"attachPodUID\":\"uid-1\"}",
        "\"fsFreezeStatus\":\"frozen\"", "\"runtimeUser\":107"}) {
    EXPECT_THAT(json, HasSubstr(key));
  }
  // VolumeStatus.name and .target have no omitempty.
  EXPECT_THAT(json, HasSubstr(R"({"name":"cloudinit","target":""})"));
}

TEST(VmiStatusJson, QdirectExtrasOnlyWhenAsked) {
  EXPECT_THAT(ToJson(FullStatus()), Not(HasSubstr("\"qdirect\":")));
  EXPECT_THAT(ToJson(FullStatus(), {.include_qdirect = true}),
              HasSubstr(R"("qdirect":{"qemuPid":4242,)"
                        R"("runtimeDir":"/run/qdirect/vm1",)"
                        R"("qemuRunstate":"running","exitSignal":9})"));
}

TEST(VmiStatusJson, RoundTripsEveryField) {
  const VmiStatus s = FullStatus();
  absl::StatusOr<VmiStatus> back =
      VmiStatusFromJson(ToJson(s, {.include_qdirect = true}));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
}

TEST(VmiStatusJson, RoundTripsPrettyOutput) {
  const VmiStatus s = FullStatus();
  const std::string pretty = ToJson(s, {.include_qdirect = true, .pretty = true});
  EXPECT_THAT(pretty, HasSubstr("\n  \"nodeName\": \"node-1\""));
  absl::StatusOr<VmiStatus> back = VmiStatusFromJson(pretty);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
}

TEST(VmiStatusJson, ParsesKubeVirtOutputIgnoringUnknownFields) {
  // Shaped like `kubectl get vmi -o json | jq .status` from a cluster.
  constexpr char kJson[] = R"({
    "activePods": {"6a1f": "node01"},
    "conditions": [{"lastProbeTime": null,
                    "lastTransitionTime": "2024-09-18T19:44:09.123+02:00",
                    "status": "True", "type": "Ready"},
                   {"lastProbeTime": null, "lastTransitionTime": null,
                    "status": "True", "type": "LiveMigratable"}],
    "guestOSInfo": {"id": "fedora"},
    "interfaces": [{"infoSource": "domain", "mac": "02:00:00:00:00:01",
                    "name": "default", "queueCount": 1}],
    "launcherContainerImageVersion": "quay.io/kubevirt/virt-launcher:v1.3.0",
    "machine": {"type": "pc-q35-rhel9.4.0"},
    "phase": "Running",
    "qosClass": "Burstable",
    "runtimeUser": 107,
    "selinuxContext": "none"
  })";
  absl::StatusOr<VmiStatus> s = VmiStatusFromJson(kJson);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->phase, VmiPhase::kRunning);
  ASSERT_EQ(s->conditions.size(), 2u);
  EXPECT_EQ(s->conditions[0].last_transition_time,
            absl::FromUnixMillis(1726681449123));
  EXPECT_EQ(s->conditions[1].last_transition_time, std::nullopt);
  EXPECT_EQ(s->guest_os_info.id, "fedora");
  EXPECT_EQ(s->interfaces.at(0).queue_count, 1);
  EXPECT_EQ(s->runtime_user, 107u);
  EXPECT_EQ(s->qos_class, "Burstable");
}

TEST(VmiStatusJson, BadConditionStatusNamesTheField) {
  absl::StatusOr<VmiStatus> s = VmiStatusFromJson(
      R"({"conditions":[{"type":"Ready","status":"True"},)"
      R"({"type":"Paused","status":"yes"}]})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(),
              HasSubstr("status.conditions[1].status: Unsupported value: \"yes\""));
}

TEST(VmiStatusJson, BadPhaseIsRejected) {
  absl::StatusOr<VmiStatus> s = VmiStatusFromJson(R"({"phase":"Sleeping"})");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("status.phase: Unsupported value"));
}

TEST(VmiStatusJson, WrongTypeNamesTheField) {
  absl::StatusOr<VmiStatus> s =
      VmiStatusFromJson(R"({"interfaces":[{"ipAddresses":["10.0.0.1",7]}]})");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(),
              HasSubstr("status.interfaces[0].ipAddresses[1]: Invalid value"));
}

TEST(VmiStatusJson, BadTimeNamesTheField) {
  absl::StatusOr<VmiStatus> s = VmiStatusFromJson(
      R"({"conditions":[{"type":"Ready","status":"True",)"
      R"("lastTransitionTime":"yesterday"}]})");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(),
              HasSubstr("status.conditions[0].lastTransitionTime"));
}

TEST(VmiStatusJson, SyntaxErrorIsInvalidArgument) {
  absl::StatusOr<VmiStatus> s = VmiStatusFromJson(R"({"phase":)");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("JSON syntax error"));
}

TEST(VmiPhase, NamesRoundTrip) {
  for (VmiPhase p : {VmiPhase::kUnset, VmiPhase::kPending, VmiPhase::kScheduling,
                     VmiPhase::kScheduled, VmiPhase::kRunning,
                     VmiPhase::kSucceeded, VmiPhase::kFailed,
                     VmiPhase::kWaitingForSync, VmiPhase::kUnknown}) {
    absl::StatusOr<VmiPhase> back = ParseVmiPhase(VmiPhaseName(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  EXPECT_TRUE(IsFinal(VmiPhase::kFailed));
  EXPECT_TRUE(IsFinal(VmiPhase::kSucceeded));
  EXPECT_FALSE(IsFinal(VmiPhase::kRunning));
}

TEST(KubeTime, FormatsUtcSeconds) {
  EXPECT_EQ(FormatKubeTime(At(kT0) + absl::Milliseconds(999)),
            "2026-11-25T13:55:52Z");
}

}  // namespace
TEST(GuestOsInfoJson, RoundTripsWithKubeVirtNames) {
  GuestOsInfo info;
  info.name = "Debian GNU/Linux";
  info.kernel_release = "6.1.0";
  info.pretty_name = "Debian 12";
  info.id = "debian";

  const std::string json = GuestOsInfoToJson(info);

  EXPECT_EQ(json, R"({"name":"Debian GNU/Linux","kernelRelease":"6.1.0",)"
                  R"("prettyName":"Debian 12","id":"debian"})");
  absl::StatusOr<GuestOsInfo> back = GuestOsInfoFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, info);
}

TEST(GuestOsInfoJson, WrongTypeNamesTheField) {
  absl::StatusOr<GuestOsInfo> bad =
      GuestOsInfoFromJson(R"({"name":7})", "response.guestOSInfo");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("response.guestOSInfo.name"), std::string::npos)
      << bad.status();
}

}  // namespace qdirect
