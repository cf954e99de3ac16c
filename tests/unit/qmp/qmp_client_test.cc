#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_qmp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/qmp.h"
#include "qmp/json_stream.h"

namespace qdirect::qmp {
namespace {

using ::qdirect::qmp::testing::FakeQmp;
using ::testing::HasSubstr;

// Collects the outcome of one asynchronous call.
struct Result {
  std::optional<absl::StatusOr<Reply>> value;
  QmpClient::ReplyCallback Callback() {
    return [this](absl::StatusOr<Reply> r) { value = std::move(r); };
  }
  bool done() const { return value.has_value(); }
  const absl::Status status() const { return value->status(); }
};

class QmpClientTest : public ::testing::TestWithParam<EventLoop::Backend> {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create(GetParam());
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
    client_fd_ = UniqueFd(fds[0]);
    fake_ = std::make_unique<FakeQmp>(loop_.get(), UniqueFd(fds[1]));
  }

  void StartClient(ClientOptions options = {}) {
    auto client = QmpClient::Create(loop_.get(), std::move(client_fd_), options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  void StartReady(ClientOptions options = {}) {
    StartClient(options);
    fake_->Greet();
    ASSERT_TRUE(client_->WaitReady(absl::Now() + absl::Seconds(5)).ok());
  }

  void RunUntil(const std::function<bool()>& done) {
    ASSERT_TRUE(loop_->RunUntil(done, absl::Now() + absl::Seconds(5)).ok());
  }

  // Runs the loop briefly so deferred callbacks get their chance.
  void Settle() {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(2)).ok());
  }

  CallId Exec(const std::string& cmd, Result* r, ExecuteOptions options = {}) {
    return client_->Execute(cmd, nullptr, std::move(options), r->Callback());
  }

  std::unique_ptr<EventLoop> loop_;
  UniqueFd client_fd_;
  std::unique_ptr<FakeQmp> fake_;
  std::unique_ptr<QmpClient> client_;
};

TEST_P(QmpClientTest, HandshakeToleratesEventsBeforeTheGreeting) {
  StartClient();
  std::vector<std::string> events;
  client_->Subscribe({"RESUME", nullptr}, [&](const Event& e) { events.push_back(e.name); });
  fake_->Event("RESUME", "{}");
  fake_->Greet();
  ASSERT_TRUE(client_->WaitReady(absl::Now() + absl::Seconds(5)).ok());
  Settle();
  EXPECT_EQ(events, std::vector<std::string>{"RESUME"});
  EXPECT_EQ(client_->qemu_version().major, 7);
  EXPECT_EQ(client_->qemu_version().minor, 2);
}

TEST_P(QmpClientTest, CallsMadeBeforeTheHandshakeWaitForIt) {
  StartClient();
  Result r;
  Exec("query-status", &r);
  fake_->Greet();  // asserts the first command is qmp_capabilities
  rapidjson::Document cmd = fake_->Next();
  EXPECT_STREQ(cmd["execute"].GetString(), "query-status");
  EXPECT_EQ(FakeQmp::Id(cmd), "qd-1");
  fake_->Reply(cmd, R"({"running": false, "status": "prelaunch"})");
  RunUntil([&] { return r.done(); });
  ASSERT_TRUE(r.value->ok()) << r.status();
  auto info = ParseStatusInfo((*r.value)->value);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->running);
  EXPECT_EQ(info->status, "prelaunch");
}

TEST_P(QmpClientTest, HandshakeEnablesOobWhenOffered) {
  StartClient();
  fake_->Send(std::string(qmp::testing::kGreeting) + "\n");
  rapidjson::Document caps = fake_->Next();
  EXPECT_STREQ(caps["execute"].GetString(), "qmp_capabilities");
  ASSERT_TRUE(caps.HasMember("arguments"));
  ASSERT_TRUE(caps["arguments"]["enable"].IsArray());
  EXPECT_STREQ(caps["arguments"]["enable"][0].GetString(), "oob");
  fake_->Reply(caps, "{}");
  ASSERT_TRUE(client_->WaitReady(absl::Now() + absl::Seconds(5)).ok());
}

TEST_P(QmpClientTest, WithoutOobOfferedAnOutOfBandCallGoesInBand) {
  StartClient();
  fake_->Send(
      R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}})"
      "\n");
  rapidjson::Document caps = fake_->Next();
  EXPECT_FALSE(caps.HasMember("arguments"));
  fake_->Reply(caps, "{}");
  ASSERT_TRUE(client_->WaitReady(absl::Now() + absl::Seconds(5)).ok());
  Result r;
  ExecuteOptions oob;
  oob.out_of_band = true;
  Exec("migrate-recover", &r, std::move(oob));
  rapidjson::Document cmd = fake_->Next();
  EXPECT_STREQ(cmd["execute"].GetString(), "migrate-recover");
}

TEST_P(QmpClientTest, OutOfBandCallSkipsTheInBandQueueAndTakesNoSlot) {
  ClientOptions options;
  options.max_in_flight = 1;
  StartReady(options);
  Result busy, queued, recover;
  Exec("query-status", &busy);
  Exec("query-migrate", &queued);  // waits for query-status's slot
  ExecuteOptions oob;
  oob.out_of_band = true;
  Exec("migrate-recover", &recover, std::move(oob));
  rapidjson::Document first = fake_->Next();
  EXPECT_STREQ(first["execute"].GetString(), "query-status");
  rapidjson::Document second = fake_->Next();
  ASSERT_TRUE(second.HasMember("exec-oob"));
  EXPECT_STREQ(second["exec-oob"].GetString(), "migrate-recover");
  EXPECT_FALSE(second.HasMember("execute"));
  fake_->Reply(second, "{}");
  RunUntil([&] { return recover.done(); });
  EXPECT_TRUE(recover.status().ok()) << recover.status();
  // The out-of-band reply freed no in-band slot: query-migrate still waits.
  EXPECT_FALSE(fake_->HasCommand());
  fake_->Reply(first, "{}");
  rapidjson::Document third = fake_->Next();
  EXPECT_STREQ(third["execute"].GetString(), "query-migrate");
}

TEST_P(QmpClientTest, SendsArgumentsAndId) {
  StartReady();
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("id", "net1", args.GetAllocator());
  Result r;
  client_->Execute("device_del", &args, {}, r.Callback());
  rapidjson::Document cmd = fake_->Next();
  EXPECT_STREQ(cmd["execute"].GetString(), "device_del");
  EXPECT_STREQ(cmd["arguments"]["id"].GetString(), "net1");
  EXPECT_THAT(FakeQmp::Id(cmd), HasSubstr("qd-"));
}

TEST_P(QmpClientTest, EventsInterleavedWithRepliesArriveInOrder) {
  StartReady();
  std::vector<std::string> log;
  client_->Subscribe({"STOP", nullptr}, [&](const Event& e) {
    log.push_back("event " + e.name);
    EXPECT_EQ(e.timestamp, absl::FromUnixSeconds(1700000000) + absl::Microseconds(5));
  });
  client_->Execute("stop", nullptr, {}, [&](absl::StatusOr<Reply> r) {
    log.push_back(r.ok() ? "reply ok" : "reply error");
  });
  rapidjson::Document cmd = fake_->Next();
  fake_->Event("STOP", "{}");
  fake_->Reply(cmd, "{}");
  fake_->Event("STOP", "{}");
  RunUntil([&] { return log.size() == 3; });
  EXPECT_EQ(log, (std::vector<std::string>{"event STOP", "reply ok", "event STOP"}));
}

TEST_P(QmpClientTest, LargeCommandIsWrittenAcrossManyWrites) {
  StartReady();
  // Far larger than a socketpair's buffer: the client must wait for writable.
  std::string big(4 * 1024 * 1024, 'x');
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("blob", rapidjson::StringRef(big.data(), big.size()), args.GetAllocator());
  Result r;
  client_->Execute("qom-set", &args, {}, r.Callback());
  rapidjson::Document cmd = fake_->Next();
  ASSERT_TRUE(cmd.HasMember("arguments"));
  EXPECT_EQ(cmd["arguments"]["blob"].GetStringLength(), big.size());
  fake_->Reply(cmd, "{}");
  RunUntil([&] { return r.done(); });
  EXPECT_TRUE(r.value->ok()) << r.status();
}

TEST_P(QmpClientTest, NoGreetingFailsTheHandshake) {
  ClientOptions options;
  options.greeting_timeout = absl::Milliseconds(20);
  StartClient(options);
  Result r;
  Exec("query-status", &r);
  absl::Status st = client_->WaitReady(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(st.message(), HasSubstr("no greeting"));
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_P(QmpClientTest, RepliesBeforeEofAreStillDelivered) {
  StartReady();
  Result a, b;
  Exec("query-a", &a);
  Exec("query-b", &b);
  rapidjson::Document ca = fake_->Next();
  fake_->Next();
  fake_->Reply(ca, "1");
  fake_->Close();
  RunUntil([&] { return a.done() && b.done(); });
  EXPECT_TRUE(a.value->ok()) << a.status();
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
}

TEST_P(QmpClientTest, OutOfOrderRepliesReachTheirCallers) {
  StartReady();
  Result a, b;
  Exec("query-a", &a);
  Exec("query-b", &b);
  rapidjson::Document ca = fake_->Next();
  rapidjson::Document cb = fake_->Next();
  fake_->Reply(cb, R"("for b")");
  fake_->Reply(ca, R"("for a")");
  RunUntil([&] { return a.done() && b.done(); });
  ASSERT_TRUE(a.value->ok() && b.value->ok());
  EXPECT_STREQ((*a.value)->value.GetString(), "for a");
  EXPECT_STREQ((*b.value)->value.GetString(), "for b");
}

TEST_P(QmpClientTest, NeverMoreThanEightOutstanding) {
  StartReady();
  constexpr int kCalls = 20;
  std::vector<Result> results(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    client_->Execute("query-n", nullptr, {}, results[i].Callback());
  }
  std::deque<rapidjson::Document> outstanding;
  int answered = 0;
  size_t max_seen = 0;
  while (answered < kCalls) {
    // Read everything the client is willing to send now.
    while (fake_->HasCommand()) outstanding.push_back(fake_->Next());
    max_seen = std::max(max_seen, outstanding.size());
    ASSERT_LE(outstanding.size(), 8u);
    ASSERT_FALSE(outstanding.empty());
    // Answer the newest first, echoing the id as the value.
    rapidjson::Document cmd = std::move(outstanding.back());
    outstanding.pop_back();
    fake_->Reply(cmd, "\"" + FakeQmp::Id(cmd) + "\"");
    ++answered;
  }
  EXPECT_EQ(max_seen, 8u);
  RunUntil([&] {
    for (auto& r : results) {
      if (!r.done()) return false;
    }
    return true;
  });
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(results[i].value->ok()) << results[i].status();
    EXPECT_EQ(std::string((*results[i].value)->value.GetString()), "qd-" + std::to_string(i + 1));
  }
}

TEST_P(QmpClientTest, OversizedMessageClosesTheSession) {
  ClientOptions options;
  options.max_message_bytes = 1024;
  StartReady(options);
  Result r;
  Exec("query-status", &r);
  rapidjson::Document cmd = fake_->Next();
  fake_->Reply(cmd, "\"" + std::string(2000, 'x') + "\"");
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("qmp: query-status: protocol error"));
  EXPECT_THAT(r.status().message(), HasSubstr("longer than 1024"));
  EXPECT_FALSE(client_->closed_status().ok());
}

TEST_P(QmpClientTest, MalformedMessageFailsPendingCalls) {
  StartReady();
  Result r;
  Exec("query-status", &r);
  fake_->Next();
  fake_->Send("{\"return\": {,}}\n");
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("invalid JSON"));
  // A closed session fails new calls at once (but still from the loop).
  Result after;
  Exec("query-status", &after);
  EXPECT_FALSE(after.done());
  RunUntil([&] { return after.done(); });
  EXPECT_EQ(after.status().code(), absl::StatusCode::kInternal);
}

TEST_P(QmpClientTest, ReplyWithUnknownIdIsAProtocolError) {
  StartReady();
  Result r;
  Exec("query-status", &r);
  fake_->Next();
  fake_->Send(R"({"return": {"running": true, "status": "running"}, "id": "qd-77"})");
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("unknown id \"qd-77\""));
  EXPECT_THAT(client_->closed_status().message(), HasSubstr("unknown id"));
}

TEST_P(QmpClientTest, ReplyWithNeitherReturnNorErrorIsAProtocolError) {
  StartReady();
  Result r;
  Exec("query-status", &r);
  rapidjson::Document cmd = fake_->Next();
  fake_->Send(R"({"id": ")" + FakeQmp::Id(cmd) + R"("})");
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("neither return nor error"));
}

TEST_P(QmpClientTest, EofFailsEveryPendingCallAtOnce) {
  StartReady();
  Result a, b, queued;
  Exec("query-status", &a);
  Exec("cont", &b);
  fake_->Next();
  fake_->Next();
  fake_->Close();
  RunUntil([&] { return a.done() || b.done(); });
  EXPECT_TRUE(a.done() && b.done());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.status().message(), "qmp: query-status: connection closed by QEMU");
  EXPECT_EQ(b.status().message(), "qmp: cont: connection closed by QEMU");
}

TEST_P(QmpClientTest, TimeoutLeavesTheSessionUsableAndDropsTheLateReply) {
  StartReady();
  Result slow;
  ExecuteOptions options;
  options.timeout = absl::Milliseconds(20);
  Exec("query-slow", &slow, std::move(options));
  rapidjson::Document slow_cmd = fake_->Next();
  RunUntil([&] { return slow.done(); });
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(slow.status().message(), HasSubstr("qmp: query-slow: no reply within"));

  fake_->Reply(slow_cmd, "{}");  // late
  Result next;
  Exec("query-status", &next);
  rapidjson::Document cmd = fake_->Next();
  fake_->Reply(cmd, R"({"running": true, "status": "running"})");
  RunUntil([&] { return next.done(); });
  EXPECT_TRUE(next.value->ok()) << next.status();
  EXPECT_TRUE(client_->closed_status().ok());
}

TEST_P(QmpClientTest, CancelRunsTheCallbackLaterAndDropsTheReply) {
  StartReady();
  Result r;
  CallId id = Exec("query-status", &r);
  rapidjson::Document cmd = fake_->Next();
  client_->Cancel(id);
  EXPECT_FALSE(r.done());  // never from inside Cancel
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  fake_->Reply(cmd, "{}");
  Result next;
  Exec("query-status", &next);
  fake_->Reply(fake_->Next(), "{}");
  RunUntil([&] { return next.done(); });
  EXPECT_TRUE(next.value->ok()) << next.status();
}

TEST_P(QmpClientTest, CancelledQueuedCallIsNeverSent) {
  StartClient();
  Result cancelled, kept;
  CallId id = Exec("query-cancelled", &cancelled);
  Exec("query-kept", &kept);
  client_->Cancel(id);
  fake_->Greet();
  rapidjson::Document cmd = fake_->Next();
  EXPECT_STREQ(cmd["execute"].GetString(), "query-kept");
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
}

TEST_P(QmpClientTest, FdTravelsWithItsCommand) {
  StartReady();
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]), write_end(p[1]);
  ASSERT_EQ(write(write_end.get(), "payload", 7), 7);
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("fdname", "tap0", args.GetAllocator());
  ExecuteOptions options;
  options.fds.push_back(std::move(read_end));
  Result r;
  client_->Execute("getfd", &args, std::move(options), r.Callback());
  rapidjson::Document cmd = fake_->Next();
  EXPECT_STREQ(cmd["execute"].GetString(), "getfd");
  ASSERT_EQ(fake_->fds().size(), 1u);
  char buf[16] = {};
  ASSERT_EQ(read(fake_->fds()[0].get(), buf, sizeof(buf)), 7);
  EXPECT_STREQ(buf, "payload");
  fake_->Reply(cmd, "{}");
  RunUntil([&] { return r.done(); });
  EXPECT_TRUE(r.value->ok());
}

TEST_P(QmpClientTest, ErrorReplyKeepsClassAndDescription) {
  StartReady();
  Result r;
  Exec("device_del", &r);
  rapidjson::Document cmd = fake_->Next();
  fake_->Send(
      R"({"error": {"class": "DeviceNotFound", "desc": "Device 'net9' not found"}, "id": ")" +
      FakeQmp::Id(cmd) + "\"}");
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "qmp: device_del: DeviceNotFound: Device 'net9' not found");
  EXPECT_EQ(QmpErrorClass(r.status()), "DeviceNotFound");
  EXPECT_EQ(QmpErrorClass(absl::NotFoundError("x")), std::nullopt);
  EXPECT_TRUE(client_->closed_status().ok());  // an error reply is not a protocol error
}

TEST(QmpErrorMapping, CodesPerClass) {
  EXPECT_EQ(ErrorReplyStatus("x", "CommandNotFound", "d").code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ErrorReplyStatus("x", "GenericError", "d").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReplyStatus("x", "SomethingNew", "d").code(), absl::StatusCode::kUnknown);
}

TEST(QmpTimeouts, ByCommandClass) {
  ClientOptions o;
  EXPECT_EQ(CommandTimeout("query-status", o), o.short_timeout);
  EXPECT_EQ(CommandTimeout("device_del", o), o.long_timeout);
  EXPECT_EQ(CommandTimeout("migrate-incoming", o), o.long_timeout);
  EXPECT_EQ(CommandTimeout("block-job-cancel", o), o.long_timeout);
}

TEST_P(QmpClientTest, CompleteOnEventIgnoresTheVirtioBackendDecoy) {
  StartReady();
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("id", "net1", args.GetAllocator());
  ExecuteOptions options;
  options.complete_on_event = EventMatcher::DeviceDeleted("net1");
  Result r;
  client_->Execute("device_del", &args, std::move(options), r.Callback());
  rapidjson::Document cmd = fake_->Next();
  fake_->Reply(cmd, "{}");
  fake_->Event("DEVICE_DELETED", R"({"path": "/machine/peripheral/net1/virtio-backend"})");
  fake_->Event("DEVICE_DELETED", R"({"device": "net2", "path": "/machine/peripheral/net2"})");
  Settle();
  EXPECT_FALSE(r.done());
  fake_->Event("DEVICE_DELETED", R"({"device": "net1", "path": "/machine/peripheral/net1"})");
  RunUntil([&] { return r.done(); });
  ASSERT_TRUE(r.value->ok()) << r.status();
  ASSERT_TRUE((*r.value)->event.has_value());
  EXPECT_STREQ((*r.value)->event->data["device"].GetString(), "net1");
}

TEST_P(QmpClientTest, CompleteOnEventSeenBeforeTheReply) {
  StartReady();
  ExecuteOptions options;
  options.complete_on_event = EventMatcher::DeviceDeleted("blk0");
  Result r;
  Exec("device_del", &r, std::move(options));
  rapidjson::Document cmd = fake_->Next();
  fake_->Event("DEVICE_DELETED", R"({"device": "blk0", "path": "/machine/peripheral/blk0"})");
  Settle();
  EXPECT_FALSE(r.done());
  fake_->Reply(cmd, "{}");
  RunUntil([&] { return r.done(); });
  ASSERT_TRUE(r.value->ok()) << r.status();
  EXPECT_TRUE((*r.value)->event.has_value());
}

TEST_P(QmpClientTest, CompleteOnEventTimesOutWaitingForTheEvent) {
  StartReady();
  ExecuteOptions options;
  options.complete_on_event = EventMatcher::DeviceDeleted("blk0");
  options.timeout = absl::Milliseconds(30);
  Result r;
  Exec("device_del", &r, std::move(options));
  fake_->Reply(fake_->Next(), "{}");
  RunUntil([&] { return r.done(); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("no DEVICE_DELETED event"));
}

TEST_P(QmpClientTest, UnsubscribedCallbackIsNotCalled) {
  StartReady();
  int calls = 0;
  SubscriptionId id = client_->Subscribe({"STOP", nullptr}, [&](const Event&) { ++calls; });
  fake_->Event("STOP", "{}");
  RunUntil([&] { return calls == 1; });
  client_->Unsubscribe(id);
  fake_->Event("STOP", "{}");
  Settle();
  EXPECT_EQ(calls, 1);
}

TEST_P(QmpClientTest, CallbackMayDestroyTheClient) {
  StartReady();
  bool second_called = false;
  client_->Execute("query-a", nullptr, {}, [&](absl::StatusOr<Reply>) { client_.reset(); });
  client_->Execute("query-b", nullptr, {}, [&](absl::StatusOr<Reply>) { second_called = true; });
  rapidjson::Document a = fake_->Next();
  rapidjson::Document b = fake_->Next();
  fake_->Reply(a, "{}");
  fake_->Reply(b, "{}");
  RunUntil([&] { return client_ == nullptr; });
  Settle();
  EXPECT_FALSE(second_called);
}

// A QMP server on its own thread with blocking I/O: answers each command
// with answer(command name).
void ServeBlocking(int fd, int commands, const std::function<std::string(std::string)>& answer) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  std::string greeting = std::string(testing::kGreeting) + "\n";
  ASSERT_EQ(write(fd, greeting.data(), greeting.size()), static_cast<ssize_t>(greeting.size()));
  JsonStream stream;
  std::vector<std::string> msgs;
  for (int i = 0; i < commands + 1;) {
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    ASSERT_TRUE(stream.Feed(std::string_view(buf, n), &msgs).ok());
    for (const std::string& m : msgs) {
      rapidjson::Document cmd;
      cmd.Parse(m.c_str());
      std::string name = cmd["execute"].GetString();
      std::string reply = R"({"return": )" + (name == "qmp_capabilities" ? "{}" : answer(name)) +
                          R"(, "id": ")" + FakeQmp::Id(cmd) + "\"}\n";
      ASSERT_EQ(write(fd, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
      ++i;
    }
    msgs.clear();
  }
}

TEST_P(QmpClientTest, BlockingApiAgainstAThreadedServer) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd server_fd(fds[1]);
  std::thread server([&] {
    ServeBlocking(server_fd.get(), 3, [](const std::string& name) -> std::string {
      if (name == "query-status") return R"({"running": true, "status": "running"})";
      if (name == "query-version")
        return R"({"qemu": {"major": 7, "minor": 2, "micro": 9}, "package": "x"})";
      return "{}";
    });
  });
  auto client = QmpClient::Connect(loop_.get(), UniqueFd(fds[0]));
  ASSERT_TRUE(client.ok()) << client.status();
  auto info = (*client)->QueryStatus();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->status, "running");
  auto version = (*client)->QueryVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->micro, 9);
  EXPECT_TRUE((*client)->Stop().ok());
  server.join();
}

INSTANTIATE_TEST_SUITE_P(Backends, QmpClientTest,
                         ::testing::Values(EventLoop::Backend::kIoUring,
                                           EventLoop::Backend::kEpoll),
                         [](const auto& info) {
                           return info.param == EventLoop::Backend::kIoUring ? "IoUring" : "Epoll";
                         });

}  // namespace
}  // namespace qdirect::qmp
