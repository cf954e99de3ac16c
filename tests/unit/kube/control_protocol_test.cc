#include "kube/control_protocol.h"

#include <string>
#include <variant>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::kube {
namespace {

using ::testing::HasSubstr;

ControlRequest RoundTrip(const ControlRequest& request) {
  absl::StatusOr<std::string> line = EncodeRequest(request);
  EXPECT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->back(), '\n');
  EXPECT_EQ(line->find('\n'), line->size() - 1);
  absl::StatusOr<ControlRequest> decoded = DecodeRequest(*line);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? *decoded : ControlRequest(StatusRequest{});
}

TEST(ControlRequest, EverySimpleRequestRoundTrips) {
  const ControlRequest requests[] = {
      PauseRequest{},       UnpauseRequest{},     ResetRequest{}, SoftRebootRequest{},
      KillRequest{},        StatsRequest{},       ConsoleLogRequest{},  GuestOsInfoRequest{},
      FsListRequest{},      UserListRequest{},    ConsoleAttachRequest{},
  };
  for (const ControlRequest& request : requests) {
    EXPECT_EQ(RoundTrip(request), request) << RequestName(request);
  }
  // StatusRequest last: RoundTrip falls back to it on failure.
  EXPECT_EQ(RequestName(RoundTrip(StatusRequest{})), "status");
}

TEST(ControlRequest, StopKeepsGraceOrItsAbsence) {
  EXPECT_EQ(RoundTrip(StopRequest{.grace_seconds = 7}),
            ControlRequest(StopRequest{.grace_seconds = 7}));
  EXPECT_EQ(RoundTrip(StopRequest{}), ControlRequest(StopRequest{}));
}

TEST(ControlRequest, QmpKeepsCommandAndArguments) {
  const QmpRequest qmp{"human-monitor-command",
                       R"({"command-line":"info \"x\"\n"})"};
  EXPECT_EQ(RoundTrip(qmp), ControlRequest(qmp));
  EXPECT_EQ(RoundTrip(QmpRequest{"query-status", ""}),
            ControlRequest(QmpRequest{"query-status", ""}));
}

TEST(ControlRequest, QmpArgumentsThatAreNotAnObjectDoNotEncode) {
  EXPECT_EQ(EncodeRequest(QmpRequest{"x", "[1]"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeRequest(QmpRequest{"x", "{"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ControlRequest, MalformedInputIsInvalidArgumentNamingTheField) {
  struct Case {
    std::string line;
    std::string message;
  };
  const Case cases[] = {
      {"", "invalid JSON"},
      {"{", "invalid JSON"},
      {"[]", "not a JSON object"},
      {"{}", "request.request: Required value"},
      {R"({"request":3})", "request.request: expected a string"},
      {R"({"request":"reboot"})", "Unsupported value: \"reboot\""},
      {R"({"request":"stop","grace_seconds":-1})", "request.grace_seconds"},
      {R"({"request":"stop","grace_seconds":"5"})", "request.grace_seconds"},
      {R"({"request":"qmp"})", "request.command: Required value"},
      {R"({"request":"qmp","command":"x","arguments":[]})", "request.arguments"},
      {std::string("{\"request\":\"status\"}\0", 21), "invalid JSON"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ControlRequest> decoded = DecodeRequest(c.line);
    ASSERT_FALSE(decoded.ok()) << c.line;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(c.message))
        << c.line;
  }
}

TEST(ControlRequest, OversizedRequestIsRefused) {
  std::string line = R"({"request":"qmp","command":"x","arguments":{"a":")";
  line += std::string(kMaxRequestBytes, 'a');
  line += "\"}}";
  absl::StatusOr<ControlRequest> decoded = DecodeRequest(line);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(std::string(decoded.status().message()), HasSubstr("limit"));
}

TEST(QmpCommandJson, TakesExecuteAndArguments) {
  absl::StatusOr<QmpRequest> qmp = QmpRequestFromCommandJson(
      R"({"execute":"query-block","arguments":{"flat":true}})");
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  EXPECT_EQ(qmp->command, "query-block");
  EXPECT_EQ(qmp->arguments, R"({"flat":true})");
}

TEST(QmpCommandJson, RefusesMissingExecuteAndUnknownKeys) {
  EXPECT_FALSE(QmpRequestFromCommandJson(R"({"arguments":{}})").ok());
  EXPECT_FALSE(QmpRequestFromCommandJson(R"({"execute":"x","id":1})").ok());
  EXPECT_FALSE(QmpRequestFromCommandJson(R"({"execute":"x","arguments":1})").ok());
  EXPECT_FALSE(QmpRequestFromCommandJson("query-status").ok());
}

TEST(ControlResponse, ErrorRoundTripsCodeAndMessage) {
  ControlResponse response;
  response.error = absl::NotFoundError("vm default/x: \"quoted\"\nline");
  absl::StatusOr<ControlResponse> decoded =
      DecodeResponse(EncodeResponse(response));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->error, response.error);
  EXPECT_FALSE(decoded->status.has_value());
}

TEST(ControlResponse, StatusRoundTripsWithQdirectFacts) {
  VmiStatus status;
  status.phase = VmiPhase::kRunning;
  VmiCondition ready;
  ready.type = vmi_condition::kReady;
  ready.status = ConditionStatus::kTrue;
  ready.last_transition_time = absl::FromUnixSeconds(1800000000);
  status.conditions.push_back(ready);
  status.qdirect.qemu_pid = 1234;
  status.qdirect.runtime_dir = "/run/qdirect/default_x";
  ControlResponse response;
  response.status = status;
  absl::StatusOr<ControlResponse> decoded =
      DecodeResponse(EncodeResponse(response));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->error.ok());
  ASSERT_TRUE(decoded->status.has_value());
  EXPECT_EQ(decoded->status->phase, VmiPhase::kRunning);
  EXPECT_EQ(decoded->status->qdirect.qemu_pid, 1234);
  ASSERT_NE(decoded->status->FindCondition(vmi_condition::kReady), nullptr);
}

TEST(ControlResponse, ConsoleLogKeepsEveryByte) {
  ControlResponse response;
  response.console_log = std::string("a\0b\x1b[0m\r\n\xff\"", 11);
  const std::string line = EncodeResponse(response);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  absl::StatusOr<ControlResponse> decoded = DecodeResponse(line);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->console_log, response.console_log);
}

TEST(ControlResponse, StatsRoundTripAndMustBeAnObject) {
  ControlResponse response;
  response.stats = R"({"vcpus":[{"index":0,"threadId":7,"cpuSeconds":1.5}]})";
  absl::StatusOr<ControlResponse> decoded = DecodeResponse(EncodeResponse(response));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->stats, response.stats);
  EXPECT_EQ(DecodeResponse(R"({"stats":[]})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ControlResponse, QmpReturnAndAgentPayloadsRoundTrip) {
  ControlResponse response;
  response.qmp_return = R"({"running":true,"status":"running"})";
  GuestOsInfo os;
  os.name = "Debian";
  os.kernel_release = "6.1";
  os.id = "debian";
  response.guest_os_info = os;
  agent::Filesystem fs;
  fs.name = "vda1";
  fs.mountpoint = "/";
  fs.type = "ext4";
  fs.used_bytes = 10;
  fs.total_bytes = 20;
  fs.disks.push_back({"S1", "virtio", "/dev/vda"});
  response.filesystems = std::vector<agent::Filesystem>{fs};
  response.users = std::vector<agent::GuestUser>{{"root", "", 1.5}};
  absl::StatusOr<ControlResponse> decoded =
      DecodeResponse(EncodeResponse(response));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->qmp_return, response.qmp_return);
  EXPECT_EQ(decoded->guest_os_info, response.guest_os_info);
  ASSERT_EQ(decoded->filesystems->size(), 1u);
  const agent::Filesystem& got = (*decoded->filesystems)[0];
  EXPECT_EQ(got.mountpoint, "/");
  EXPECT_EQ(got.total_bytes, 20u);
  ASSERT_EQ(got.disks.size(), 1u);
  EXPECT_EQ(got.disks[0].bus_type, "virtio");
  ASSERT_EQ(decoded->users->size(), 1u);
  EXPECT_EQ((*decoded->users)[0].user, "root");
  EXPECT_DOUBLE_EQ((*decoded->users)[0].login_time, 1.5);
}

TEST(ControlResponse, MalformedResponsesAreErrors) {
  const std::string lines[] = {
      "",
      "null",
      R"({"error":"boom"})",
      R"({"error":{"code":"NO_SUCH_CODE","message":"x"}})",
      R"({"error":{"code":"OK","message":"x"}})",
      R"({"status":{"phase":"Exploded"}})",
      R"({"console_log":5})",
      R"({"fsList":{"items":[{"usedBytes":-1}]}})",
      R"({"userList":{"items":"root"}})",
  };
  for (const std::string& line : lines) {
    EXPECT_EQ(DecodeResponse(line).status().code(),
              absl::StatusCode::kInvalidArgument)
        << line;
  }
}

TEST(AgentJson, UsesKubeVirtFieldNames) {
  GuestOsInfo os;
  os.name = "Debian";
  os.pretty_name = "D";
  EXPECT_EQ(GuestOsInfoToJson(os, /*pretty=*/false),
            R"({"name":"Debian","prettyName":"D"})");
  EXPECT_EQ(UsersToJson({{"root", "", 0}}, /*pretty=*/false),
            R"({"items":[{"userName":"root"}]})");
}

// --- hotplug requests ---

TEST(ControlRequest, HotplugRequestsRoundTrip) {
  AddVolumeRequest volume;
  volume.name = "data";
  volume.disk_path = "/srv/data.img";
  volume.bus = "scsi";
  volume.serial = "S1";
  volume.read_only = true;
  volume.cache = "writethrough";
  AddInterfaceRequest nic;
  nic.name = "extra";
  nic.mac = "02:00:00:00:00:01";
  const ControlRequest requests[] = {
      volume,
      RemoveVolumeRequest{"data"},
      nic,
      RemoveInterfaceRequest{"extra"},
      SetLinkRequest{"extra", false},
      ScaleRequest{2, std::nullopt},
      ScaleRequest{std::nullopt, int64_t{256} << 20},
      ChangeMediaRequest{"cd", "/srv/a.iso", "", false},
      ChangeMediaRequest{"cd", "", "", true},
  };
  for (const ControlRequest& request : requests) {
    EXPECT_EQ(RoundTrip(request), request) << RequestName(request);
  }
}

TEST(ControlRequest, HotplugRequestsWithoutWhatTheyNeedAreRefused) {
  EXPECT_THAT(DecodeRequest(R"({"request":"add_volume"})").status().message(),
              HasSubstr("request.name: Required value"));
  EXPECT_THAT(DecodeRequest(R"({"request":"scale"})").status().message(),
              HasSubstr("sockets or memory_bytes"));
  EXPECT_THAT(DecodeRequest(R"({"request":"scale","sockets":0})").status().message(),
              HasSubstr("request.sockets"));
  EXPECT_THAT(DecodeRequest(R"({"request":"set_link","name":"a","up":"yes"})").status().message(),
              HasSubstr("request.up: expected a boolean"));
  EXPECT_EQ(EncodeRequest(ScaleRequest{}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ControlResponse, HotplugResultRoundTrips) {
  ControlResponse response;
  response.hotplug = HotplugResult{HotplugOutcome::kPending, "ua-data", "waiting"};
  absl::StatusOr<ControlResponse> decoded = DecodeResponse(EncodeResponse(response));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(decoded->hotplug.has_value());
  EXPECT_EQ(decoded->hotplug->outcome, HotplugOutcome::kPending);
  EXPECT_EQ(decoded->hotplug->device_id, "ua-data");
  EXPECT_EQ(decoded->hotplug->message, "waiting");
}

TEST(ToVolumeHotplug, MapsSourceBusAndCache) {
  AddVolumeRequest request;
  request.name = "data";
  request.claim_name = "claim1";
  request.bus = "scsi";
  request.cache = "none";
  absl::StatusOr<VolumeHotplug> hp = ToVolumeHotplug(request);
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->disk.bus, spec::DiskBus::kScsi);
  EXPECT_EQ(hp->disk.cache, spec::DiskCache::kNone);
  const auto* pvc = std::get_if<spec::PersistentVolumeClaimSource>(&hp->volume.source);
  ASSERT_NE(pvc, nullptr);
  EXPECT_EQ(pvc->claim_name, "claim1");
  EXPECT_TRUE(pvc->hotpluggable);

  request.bus = "sata";
  EXPECT_THAT(ToVolumeHotplug(request).status().message(), HasSubstr("add_volume.bus"));
  request.bus = "virtio";
  request.disk_path = "/x.img";
  EXPECT_THAT(ToVolumeHotplug(request).status().message(), HasSubstr("exactly one"));
}

TEST(ToMediaVolume, OneOfPathClaimOrEject) {
  absl::StatusOr<std::optional<spec::Volume>> eject =
      ToMediaVolume(ChangeMediaRequest{"cd", "", "", true});
  ASSERT_TRUE(eject.ok()) << eject.status();
  EXPECT_FALSE(eject->has_value());
  absl::StatusOr<std::optional<spec::Volume>> claim =
      ToMediaVolume(ChangeMediaRequest{"cd", "", "iso1", false});
  ASSERT_TRUE(claim.ok() && claim->has_value());
  EXPECT_EQ((*claim)->name, "cd");
  EXPECT_EQ(ToMediaVolume(ChangeMediaRequest{"cd", "/a", "", true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToMediaVolume(ChangeMediaRequest{"cd", "", "", false}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ToInterfaceHotplug, RefusesBindingsHotplugCannotServe) {
  AddInterfaceRequest request;
  request.name = "n";
  request.binding = "sriov";
  EXPECT_EQ(ToInterfaceHotplug(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.binding = "masquerade";
  absl::StatusOr<InterfaceHotplug> hp = ToInterfaceHotplug(request);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->network.name, "n");
}

TEST(ControlRequest, HostDeviceRequestsRoundTripWithAndWithoutCompanions) {
  const ControlRequest requests[] = {
      AddHostDeviceRequest{"gpu1", "0000:65:00.0", true},
      AddHostDeviceRequest{"nic1", "0000:66:00.1", false},
      RemoveHostDeviceRequest{"gpu1"},
  };
  for (const ControlRequest& request : requests) {
    EXPECT_EQ(RoundTrip(request), request) << RequestName(request);
  }
  EXPECT_EQ(*EncodeRequest(AddHostDeviceRequest{"gpu1", "0000:65:00.0", false}),
            R"({"request":"add_host_device","name":"gpu1","pci_address":"0000:65:00.0",)"
            R"("with_companions":false})"
            "\n");
  EXPECT_EQ(*EncodeRequest(RemoveHostDeviceRequest{"gpu1"}),
            R"({"request":"remove_host_device","name":"gpu1"})"
            "\n");
}

TEST(ControlRequest, HostDeviceRequestsWithoutWhatTheyNeedAreRefused) {
  // Companions are the default, as KubeVirt passes a GPU's functions.
  absl::StatusOr<ControlRequest> plain = DecodeRequest(
      R"({"request":"add_host_device","name":"g","pci_address":"65:00.0"})");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(std::get<AddHostDeviceRequest>(*plain).with_companions);
  EXPECT_THAT(DecodeRequest(R"({"request":"add_host_device","name":"g"})").status().message(),
              HasSubstr("request.pci_address: Required value"));
  EXPECT_THAT(
      DecodeRequest(R"({"request":"add_host_device","pci_address":"65:00.0"})").status().message(),
      HasSubstr("request.name: Required value"));
  EXPECT_THAT(DecodeRequest(R"({"request":"add_host_device","name":"g",)"
                            R"("pci_address":"65:00.0","with_companions":"yes"})")
                  .status()
                  .message(),
              HasSubstr("request.with_companions: expected a boolean"));
  EXPECT_THAT(DecodeRequest(R"({"request":"remove_host_device"})").status().message(),
              HasSubstr("request.name: Required value"));
  EXPECT_EQ(EncodeRequest(AddHostDeviceRequest{"g", "", true}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ToHostDeviceHotplug, CanonicalisesTheAddressAndRefusesAMalformedOne) {
  absl::StatusOr<HostDeviceHotplug> hp =
      ToHostDeviceHotplug(AddHostDeviceRequest{"gpu1", "65:00.0", false});
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->name, "gpu1");
  EXPECT_EQ(hp->pci_address, "0000:65:00.0");
  EXPECT_FALSE(hp->with_companions);
  absl::StatusOr<HostDeviceHotplug> bad =
      ToHostDeviceHotplug(AddHostDeviceRequest{"gpu1", "65:00", true});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("add_host_device.pci_address: PCI address"));
}

// ---- Live migration

TEST(ControlRequest, MigrateKeepsUriAndEveryOption) {
  MigrateRequest migrate;
  migrate.uri = "tcp:10.0.0.2:49152";
  migrate.options.bandwidth_per_migration = 64 << 20;
  migrate.options.completion_timeout_per_gib = 30;
  migrate.options.progress_timeout = absl::Seconds(20);
  migrate.options.max_downtime_ms = 500;
  migrate.options.allow_auto_converge = true;
  migrate.options.allow_post_copy = true;
  migrate.options.parallel_migration_threads = 4;
  migrate.options.tls_x509_dir = "/etc/pki/qemu";
  EXPECT_EQ(RoundTrip(migrate), ControlRequest(migrate));
  MigrateRequest plain;
  plain.uri = "unix:/x";
  EXPECT_EQ(RoundTrip(plain), ControlRequest(plain));
  EXPECT_EQ(RoundTrip(MigrateCancelRequest{}), ControlRequest(MigrateCancelRequest{}));
  EXPECT_EQ(RoundTrip(MigrationProgressRequest{}),
            ControlRequest(MigrationProgressRequest{}));
}

TEST(ControlRequest, MigrateWithoutUriOrWithBadOptionsIsRefused) {
  EXPECT_FALSE(EncodeRequest(MigrateRequest{}).ok());
  absl::StatusOr<ControlRequest> no_uri = DecodeRequest(R"({"request":"migrate"})");
  ASSERT_FALSE(no_uri.ok());
  EXPECT_THAT(no_uri.status().message(), HasSubstr("request.uri"));
  absl::StatusOr<ControlRequest> bad = DecodeRequest(
      R"({"request":"migrate","uri":"unix:/x","options":{"parallelMigrationThreads":-1}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("request.options.parallelMigrationThreads"));
}

TEST(ControlResponse, MigrationProgressRoundTrips) {
  ControlResponse response;
  MigrationProgress p;
  p.status = "active";
  p.total_time_ms = 1200;
  p.ram_total = 128 << 20;
  p.ram_transferred = 1 << 20;
  p.ram_remaining = 127 << 20;
  p.mbps = 16.5;
  response.migration_progress = p;
  absl::StatusOr<ControlResponse> decoded = DecodeResponse(EncodeResponse(response));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(decoded->migration_progress.has_value());
  EXPECT_EQ(*decoded->migration_progress, p);
}

}  // namespace
}  // namespace qdirect::kube
