// The hotplug QMP sequences against the scripted fake QMP server, which
// runs its script on a thread of its own while the test's thread runs the
// client's loop inside the blocking calls.

#include "ops/hotplug_ops.h"

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../qmp/fake_qmp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::ops {
namespace {

using ::qdirect::qmp::testing::FakeQmp;
using ::testing::HasSubstr;
using ::testing::Not;

class HotplugOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    auto fake_loop = EventLoop::Create();
    ASSERT_TRUE(fake_loop.ok());
    fake_loop_ = std::move(*fake_loop);
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
    client_fd_ = UniqueFd(fds[0]);
    fake_ = std::make_unique<FakeQmp>(fake_loop_.get(), UniqueFd(fds[1]));
  }

  void TearDown() override {
    if (server_.joinable()) server_.join();
  }

  // Connects the client while the fake greets, then runs script on the
  // server thread.
  void Serve(std::function<void(FakeQmp&)> script) {
    server_ = std::thread([this, script = std::move(script)] {
      fake_->Greet();
      script(*fake_);
    });
    auto client = qmp::QmpClient::Connect(loop_.get(), std::move(client_fd_));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  static void ReplyError(FakeQmp& fake, const rapidjson::Document& cmd,
                         const std::string& desc) {
    fake.Send(R"({"error": {"class": "GenericError", "desc": ")" + desc + R"("}, "id": ")" +
              FakeQmp::Id(cmd) + "\"}\n");
  }

  // Unplugs with a short guest wait while the fake holds the device back:
  // the answer is kPending and nothing has completed; once `release` lets
  // the fake go on, the completion comes, OK, and the fake's script ends.
  void ExpectPendingThenCompleted(UnplugRequest request, std::atomic<bool>& release) {
    request.guest_wait = absl::Milliseconds(100);
    std::optional<absl::Status> completed;
    absl::StatusOr<HotplugOutcome> out = UnplugDevice(
        *loop_, *client_, request, [&](absl::Status st) { completed = st; });
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(*out, HotplugOutcome::kPending);
    EXPECT_FALSE(completed.has_value());

    release = true;
    ASSERT_TRUE(loop_->RunUntil([&] { return completed.has_value(); },
                                absl::Now() + absl::Seconds(5))
                    .ok());
    server_.join();
    EXPECT_TRUE(completed->ok()) << *completed;
  }

  static std::string Command(const rapidjson::Document& cmd) {
    return cmd.HasMember("execute") ? cmd["execute"].GetString() : "";
  }
  static std::string Arg(const rapidjson::Document& cmd, const char* key) {
    if (!cmd.HasMember("arguments") || !cmd["arguments"].HasMember(key)) return "";
    return cmd["arguments"][key].GetString();
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<EventLoop> fake_loop_;
  UniqueFd client_fd_;
  std::unique_ptr<FakeQmp> fake_;
  std::unique_ptr<qmp::QmpClient> client_;
  std::thread server_;
};

std::vector<DeviceEntry> DiskEntries() {
  return {
      {DeviceEntry::Kind::kBlockdev, "hp0-file", "", "", "data",
       R"({"driver":"file","filename":"/d.img","node-name":"hp0-file"})", ""},
      {DeviceEntry::Kind::kBlockdev, "hp0-fmt", "", "", "data",
       R"({"driver":"raw","file":"hp0-file","node-name":"hp0-fmt"})", ""},
      {DeviceEntry::Kind::kDevice, "ua-data", "rp3", "0x0", "data",
       R"({"driver":"virtio-blk-pci","id":"ua-data","drive":"hp0-fmt","bus":"rp3","addr":"0x0"})",
       ""},
  };
}

TEST_F(HotplugOpsTest, AddEntriesSendsEachJsonInOrder) {
  std::vector<std::string> seen;
  Serve([&](FakeQmp& fake) {
    for (int i = 0; i < 3; ++i) {
      rapidjson::Document cmd = fake.Next();
      seen.push_back(Command(cmd) + " " +
                     (cmd["arguments"].HasMember("id") ? Arg(cmd, "id") : Arg(cmd, "node-name")));
      fake.Reply(cmd, "{}");
    }
  });
  EXPECT_TRUE(AddEntries(*client_, DiskEntries()).ok());
  server_.join();
  EXPECT_THAT(seen, ::testing::ElementsAre("blockdev-add hp0-file", "blockdev-add hp0-fmt",
                                           "device_add ua-data"));
}

TEST_F(HotplugOpsTest, DeviceAddFailureRollsBackTheBlockdevs) {
  std::vector<std::string> after_failure;
  Serve([&](FakeQmp& fake) {
    fake.Reply(fake.Next(), "{}");
    fake.Reply(fake.Next(), "{}");
    ReplyError(fake, fake.Next(), "Bus 'rp3' not found");
    for (int i = 0; i < 2; ++i) {
      rapidjson::Document cmd = fake.Next();
      after_failure.push_back(Command(cmd) + " " + Arg(cmd, "node-name"));
      fake.Reply(cmd, "{}");
    }
  });
  absl::Status st = AddEntries(*client_, DiskEntries());
  server_.join();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("hotplug ua-data"));
  EXPECT_THAT(st.message(), HasSubstr("Bus 'rp3' not found"));
  EXPECT_THAT(st.message(), HasSubstr("rolled back 2"));
  EXPECT_THAT(after_failure,
              ::testing::ElementsAre("blockdev-del hp0-fmt", "blockdev-del hp0-file"));
}

TEST_F(HotplugOpsTest, DuplicateIdFromQemuIsReportedWithNothingLeft) {
  bool extra_command = false;
  Serve([&](FakeQmp& fake) {
    ReplyError(fake, fake.Next(), "Duplicate nodes with node-name='hp0-file'");
    extra_command = fake.HasCommand();
  });
  absl::Status st = AddEntries(*client_, DiskEntries());
  server_.join();
  EXPECT_THAT(st.message(), HasSubstr("Duplicate nodes"));
  EXPECT_FALSE(extra_command) << "nothing was added, so nothing is removed";
}

TEST_F(HotplugOpsTest, UnplugWaitsForTheDevicesOwnEventThenRemovesBackends) {
  std::vector<std::string> seen;
  Serve([&](FakeQmp& fake) {
    rapidjson::Document del = fake.Next();
    seen.push_back(Command(del) + " " + Arg(del, "id"));
    fake.Reply(del, "{}");
    // QEMU 7.2 first reports the virtio backend, without "device".
    fake.Event("DEVICE_DELETED", R"({"path": "/machine/peripheral/ua-data/virtio-backend"})");
    fake.Event("DEVICE_DELETED", R"({"device": "ua-data", "path": "/machine/peripheral/ua-data"})");
    for (int i = 0; i < 2; ++i) {
      rapidjson::Document cmd = fake.Next();
      seen.push_back(Command(cmd) + " " + Arg(cmd, "node-name"));
      fake.Reply(cmd, "{}");
    }
  });
  UnplugRequest request;
  request.device_id = "ua-data";
  request.backends = {DiskEntries()[1], DiskEntries()[0]};
  absl::StatusOr<HotplugOutcome> out = UnplugDevice(*loop_, *client_, request, nullptr);
  server_.join();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, HotplugOutcome::kDone);
  EXPECT_THAT(seen, ::testing::ElementsAre("device_del ua-data", "blockdev-del hp0-fmt",
                                           "blockdev-del hp0-file"));
}

TEST_F(HotplugOpsTest, UnplugIsPendingWhileTheGuestHoldsTheDeviceAndCompletesOnTheEvent) {
  std::atomic<bool> release{false};
  std::vector<std::string> later;
  Serve([&](FakeQmp& fake) {
    fake.Reply(fake.Next(), "{}");
    while (!release) fake_loop_->RunOnce(absl::Milliseconds(5)).IgnoreError();
    fake.Event("DEVICE_DELETED", R"({"device": "ua-data", "path": "/machine/peripheral/ua-data"})");
    rapidjson::Document cmd = fake.Next();
    later.push_back(Command(cmd) + " " + Arg(cmd, "node-name"));
    fake.Reply(cmd, "{}");
  });
  UnplugRequest request;
  request.device_id = "ua-data";
  request.backends = {DiskEntries()[1]};
  ASSERT_NO_FATAL_FAILURE(ExpectPendingThenCompleted(request, release));
  EXPECT_THAT(later, ::testing::ElementsAre("blockdev-del hp0-fmt"));
}

TEST_F(HotplugOpsTest, UnplugRefusedByQemuIsTheError) {
  Serve([&](FakeQmp& fake) {
    ReplyError(fake, fake.Next(), "Device ua-data is already in the process of unplug");
  });
  UnplugRequest request;
  request.device_id = "ua-data";
  absl::StatusOr<HotplugOutcome> out = UnplugDevice(*loop_, *client_, request, nullptr);
  server_.join();
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(out.status().message(), HasSubstr("unplug ua-data"));
  EXPECT_THAT(out.status().message(), HasSubstr("already in the process of unplug"));
}

// A GPU with its HDMI audio, as VfioHotplugDevices orders them.
std::vector<DeviceEntry> GpuFunctions() {
  return {
      {DeviceEntry::Kind::kDevice, "ua-gpu-fn1", "rp3", "0x0.0x1", "gpu",
       R"({"driver":"vfio-pci","host":"0000:65:00.1","id":"ua-gpu-fn1","bus":"rp3","addr":"0x0.0x1"})",
       ""},
      {DeviceEntry::Kind::kDevice, "ua-gpu", "rp3", "0x0", "gpu",
       R"({"driver":"vfio-pci","host":"0000:65:00.0","id":"ua-gpu","multifunction":true,"bus":"rp3","addr":"0x0"})",
       ""},
  };
}

TEST_F(HotplugOpsTest, MultifunctionDeviceIsAddedFunctionZeroLast) {
  std::vector<std::string> seen;
  Serve([&](FakeQmp& fake) {
    for (int i = 0; i < 2; ++i) {
      rapidjson::Document cmd = fake.Next();
      seen.push_back(Command(cmd) + " " + Arg(cmd, "id") + " " + Arg(cmd, "addr"));
      fake.Reply(cmd, "{}");
    }
  });
  absl::Status st = AddMultifunctionDevice(*loop_, *client_, GpuFunctions(), absl::Seconds(5));
  server_.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_THAT(seen, ::testing::ElementsAre("device_add ua-gpu-fn1 0x0.0x1",
                                           "device_add ua-gpu 0x0"));
}

TEST_F(HotplugOpsTest, FunctionZeroRefusedRollsBackTheCompanionOnceTheGuestEjectsIt) {
  std::vector<std::string> after_failure;
  Serve([&](FakeQmp& fake) {
    fake.Reply(fake.Next(), "{}");
    ReplyError(fake, fake.Next(),
               "vfio 0000:65:00.0: failed to open /dev/vfio/12: No such file or directory");
    rapidjson::Document del = fake.Next();
    after_failure.push_back(Command(del) + " " + Arg(del, "id"));
    fake.Reply(del, "{}");
    fake.Event("DEVICE_DELETED",
               R"({"device": "ua-gpu-fn1", "path": "/machine/peripheral/ua-gpu-fn1"})");
    after_failure.push_back(fake.HasCommand() ? "extra command" : "");
  });
  absl::Status st = AddMultifunctionDevice(*loop_, *client_, GpuFunctions(), absl::Seconds(5));
  server_.join();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("hotplug ua-gpu: "));
  EXPECT_THAT(st.message(), HasSubstr("GenericError: vfio 0000:65:00.0: failed to open"));
  EXPECT_THAT(st.message(), HasSubstr("(rolled back 1 added before it: ua-gpu-fn1)"));
  EXPECT_THAT(st.message(), Not(HasSubstr("left behind")));
  EXPECT_THAT(after_failure, ::testing::ElementsAre("device_del ua-gpu-fn1", ""));
}

TEST_F(HotplugOpsTest, CompanionRefusedFirstLeavesNothingToRollBack) {
  bool extra_command = false;
  Serve([&](FakeQmp& fake) {
    ReplyError(fake, fake.Next(), "vfio 0000:65:00.1: no such host device");
    extra_command = fake.HasCommand();
  });
  absl::Status st = AddMultifunctionDevice(*loop_, *client_, GpuFunctions(), absl::Seconds(5));
  server_.join();
  EXPECT_THAT(st.message(), HasSubstr("hotplug ua-gpu-fn1: "));
  EXPECT_THAT(st.message(), Not(HasSubstr("rolled back")));
  EXPECT_FALSE(extra_command);
}

TEST_F(HotplugOpsTest, RollbackTheGuestDoesNotCompleteIsNamedInTheError) {
  Serve([&](FakeQmp& fake) {
    fake.Reply(fake.Next(), "{}");
    ReplyError(fake, fake.Next(), "vfio 0000:65:00.0: no such host device");
    fake.Reply(fake.Next(), "{}");  // device_del ua-gpu-fn1; no event follows
  });
  absl::Status st =
      AddMultifunctionDevice(*loop_, *client_, GpuFunctions(), absl::Milliseconds(50));
  server_.join();
  EXPECT_THAT(st.message(), HasSubstr("no such host device"));
  EXPECT_THAT(st.message(), HasSubstr("rollback incomplete, left behind: ua-gpu-fn1 "
                                      "(device_del sent, the guest has not ejected it"));
}

TEST_F(HotplugOpsTest, UnplugOfFunctionZeroWaitsForEveryFunctionOfTheSlot) {
  std::vector<std::string> seen;
  std::atomic<bool> release{false};
  Serve([&](FakeQmp& fake) {
    rapidjson::Document del = fake.Next();
    seen.push_back(Command(del) + " " + Arg(del, "id"));
    fake.Reply(del, "{}");
    fake.Event("DEVICE_DELETED", R"({"device": "ua-gpu", "path": "/machine/peripheral/ua-gpu"})");
    while (!release) fake_loop_->RunOnce(absl::Milliseconds(5)).IgnoreError();
    fake.Event("DEVICE_DELETED",
               R"({"device": "ua-gpu-fn1", "path": "/machine/peripheral/ua-gpu-fn1"})");
    seen.push_back(fake.HasCommand() ? "extra command" : "");
  });
  UnplugRequest request;
  request.device_id = "ua-gpu";
  request.other_functions = {"ua-gpu-fn1"};
  // Function 0 alone is not the slot.
  ASSERT_NO_FATAL_FAILURE(ExpectPendingThenCompleted(request, release));
  EXPECT_THAT(seen, ::testing::ElementsAre("device_del ua-gpu", ""));
}

TEST_F(HotplugOpsTest, UnplugOfAMultifunctionDeviceIsDoneWhenTheWholeSlotIsGone) {
  Serve([&](FakeQmp& fake) {
    fake.Reply(fake.Next(), "{}");
    fake.Event("DEVICE_DELETED",
               R"({"device": "ua-gpu-fn1", "path": "/machine/peripheral/ua-gpu-fn1"})");
    fake.Event("DEVICE_DELETED", R"({"device": "ua-gpu", "path": "/machine/peripheral/ua-gpu"})");
  });
  UnplugRequest request;
  request.device_id = "ua-gpu";
  request.other_functions = {"ua-gpu-fn1"};
  absl::StatusOr<HotplugOutcome> out = UnplugDevice(*loop_, *client_, request, nullptr);
  server_.join();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, HotplugOutcome::kDone);
}

TEST_F(HotplugOpsTest, VirtioMemSizeIsDoneOnTheSizeChangeEventOfThatSize) {
  std::vector<std::string> seen;
  Serve([&](FakeQmp& fake) {
    rapidjson::Document get = fake.Next();
    seen.push_back(Command(get) + " " + Arg(get, "property"));
    fake.Reply(get, "0");
    rapidjson::Document set = fake.Next();
    seen.push_back(Command(set) + " " + Arg(set, "property") + " " +
                   std::to_string(set["arguments"]["value"].GetInt64()));
    fake.Reply(set, "{}");
    // A step on the way does not complete it; the requested size does.
    fake.Event("MEMORY_DEVICE_SIZE_CHANGE", R"({"id": "virtiomem0", "size": 2097152, "qom-path": "/machine/peripheral/virtiomem0"})");
    fake.Event("MEMORY_DEVICE_SIZE_CHANGE", R"({"id": "virtiomem0", "size": 134217728, "qom-path": "/machine/peripheral/virtiomem0"})");
  });
  absl::StatusOr<HotplugOutcome> out =
      SetVirtioMemSize(*loop_, *client_, "virtiomem0", 128 << 20, absl::Seconds(5));
  server_.join();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, HotplugOutcome::kDone);
  EXPECT_THAT(seen, ::testing::ElementsAre("qom-get size", "qom-set requested-size 134217728"));
}

TEST_F(HotplugOpsTest, VirtioMemSizeIsPendingWhileTheGuestHasNotPlugged) {
  Serve([&](FakeQmp& fake) {
    fake.Reply(fake.Next(), "0");
    fake.Reply(fake.Next(), "{}");
    fake.Event("MEMORY_DEVICE_SIZE_CHANGE", R"({"id": "virtiomem0", "size": 2097152, "qom-path": "/machine/peripheral/virtiomem0"})");
  });
  absl::StatusOr<HotplugOutcome> out =
      SetVirtioMemSize(*loop_, *client_, "virtiomem0", 128 << 20, absl::Milliseconds(200));
  server_.join();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, HotplugOutcome::kPending);
}

// query-hotpluggable-cpus of `-smp cpus=1,sockets=3,cores=1,threads=1,maxcpus=3`.
constexpr char kCpus[] = R"([
  {"props": {"core-id": 0, "thread-id": 0, "socket-id": 2}, "vcpus-count": 1, "type": "max-x86_64-cpu"},
  {"props": {"core-id": 0, "thread-id": 0, "socket-id": 1}, "vcpus-count": 1, "type": "max-x86_64-cpu"},
  {"props": {"core-id": 0, "thread-id": 0, "socket-id": 0}, "vcpus-count": 1, "qom-path": "/machine/unattached/device[0]", "type": "max-x86_64-cpu"}
])";

TEST(CpusToPlug, PlugsTheFreeSlotsBelowTheSocketCount) {
  rapidjson::Document doc;
  doc.Parse(kCpus);
  absl::StatusOr<std::vector<HotpluggableCpu>> cpus = ParseHotpluggableCpus(doc);
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  absl::StatusOr<std::vector<DeviceEntry>> plug = CpusToPlug(*cpus, 2);
  ASSERT_TRUE(plug.ok()) << plug.status();
  ASSERT_EQ(plug->size(), 1u);
  EXPECT_EQ((*plug)[0].id, "vcpu-s1-c0-t0");
  EXPECT_EQ((*plug)[0].json,
            R"({"driver":"max-x86_64-cpu","id":"vcpu-s1-c0-t0","core-id":0,"thread-id":0,"socket-id":1})");
}

TEST(CpusToPlug, BeyondMaxSocketsOrBelowPluggedIsRefused) {
  rapidjson::Document doc;
  doc.Parse(kCpus);
  absl::StatusOr<std::vector<HotpluggableCpu>> cpus = ParseHotpluggableCpus(doc);
  ASSERT_TRUE(cpus.ok());
  EXPECT_THAT(CpusToPlug(*cpus, 4).status().message(), HasSubstr("maxSockets"));
  EXPECT_EQ(CpusToPlug(*cpus, 0).status().code(), absl::StatusCode::kInvalidArgument);
  (*cpus)[1].qom_path = "/machine/peripheral/vcpu-s1-c0-t0";
  EXPECT_THAT(CpusToPlug(*cpus, 1).status().message(), HasSubstr("not supported"));
  absl::StatusOr<std::vector<DeviceEntry>> none = CpusToPlug(*cpus, 2);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace qdirect::ops
