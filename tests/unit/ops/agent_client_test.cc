#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "fake_agent.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/qmp.h"

namespace qdirect::agent {
namespace {

using ::qdirect::agent::testing::FakeAgent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Short timers so that timeouts and retries happen within the test.
AgentOptions FastOptions() {
  AgentOptions o;
  o.sync_timeout = absl::Milliseconds(100);
  o.retry_interval = absl::Milliseconds(10);
  o.command_timeout = absl::Seconds(5);
  o.keepalive_interval = absl::ZeroDuration();
  o.exec_poll_initial = absl::Milliseconds(1);
  o.exec_poll_max = absl::Milliseconds(2);
  o.shutdown_grace = absl::Milliseconds(50);
  return o;
}

class AgentClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create(EventLoop::Backend::kEpoll);
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    fake_ = std::make_unique<FakeAgent>(loop_.get());
  }
  void TearDown() override {
    client_.reset();
    fake_.reset();
  }

  void StartClient(AgentOptions options = FastOptions()) {
    auto client = AgentClient::Create(loop_.get(), fake_->MakeConnector(), options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    client_->SetStatusCallback([this](bool c) { transitions_.push_back(c); });
  }

  absl::Time Deadline() { return absl::Now() + absl::Seconds(5); }

  // Runs the loop until pred holds (5 s at most).
  bool RunUntil(const std::function<bool()>& pred) {
    return loop_->RunUntil(pred, Deadline()).ok();
  }

  // Gives the loop a few turns (to show that something does NOT happen).
  void Spin() {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(2)).ok());
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<FakeAgent> fake_;
  std::unique_ptr<AgentClient> client_;
  std::vector<bool> transitions_;
};

TEST_F(AgentClientTest, SyncIsDelimitedWithAnIntegerId) {
  StartClient();
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  ASSERT_EQ(fake_->received().size(), 1u);
  const FakeAgent::Received& sync = fake_->received()[0];
  EXPECT_EQ(sync.command, "guest-sync-delimited");
  EXPECT_TRUE(sync.after_delimiter);
  EXPECT_THAT(sync.arguments, ::testing::MatchesRegex(R"(\{"id":[0-9]+\})"));
  EXPECT_TRUE(RunUntil([&] { return !transitions_.empty(); }));
  EXPECT_THAT(transitions_, ElementsAre(true));
}

TEST_F(AgentClientTest, StaleBytesBeforeTheSyncReplyAreDiscarded) {
  // A late reply, garbage and an older sync's reply sit in the channel.
  fake_->set_before_next_sync_reply(
      "{\"return\": {\"version\": \"stale\"}}\nnot json}]\xff{\"return\": 1}\n");
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-info") return R"({"return": {"version": "7.2.0"}})";
    return "";
  });
  StartClient();
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  absl::StatusOr<AgentInfo> info = client_->GetInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version, "7.2.0");
}

TEST_F(AgentClientTest, PingSucceeds) {
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    return r.command == "guest-ping" ? "{\"return\": {}}\n" : "";
  });
  StartClient();
  EXPECT_TRUE(client_->Ping().ok());
  EXPECT_EQ(fake_->count("guest-ping"), 1);
}

TEST_F(AgentClientTest, OsInfoIsParsedIntoGuestOsInfo) {
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    if (r.command != "guest-get-osinfo") return "";
    return R"json({"return": {"name": "Debian GNU/Linux", "kernel-release": "6.1.0-13-cloud-amd64",
      "version": "12 (bookworm)", "pretty-name": "Debian GNU/Linux 12 (bookworm)",
      "version-id": "12", "kernel-version": "#1 SMP PREEMPT_DYNAMIC", "machine": "x86_64",
      "id": "debian"}})json";
  });
  StartClient();
  absl::StatusOr<GuestOsInfo> os = client_->GetOsInfo();
  ASSERT_TRUE(os.ok()) << os.status();
  EXPECT_EQ(os->name, "Debian GNU/Linux");
  EXPECT_EQ(os->kernel_release, "6.1.0-13-cloud-amd64");
  EXPECT_EQ(os->version, "12 (bookworm)");
  EXPECT_EQ(os->pretty_name, "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(os->version_id, "12");
  EXPECT_EQ(os->kernel_version, "#1 SMP PREEMPT_DYNAMIC");
  EXPECT_EQ(os->machine, "x86_64");
  EXPECT_EQ(os->id, "debian");
}

TEST_F(AgentClientTest, ExecPollsStatusUntilExitedAndDecodesOutput) {
  int polls = 0;
  std::string exec_args;
  fake_->set_handler([&](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-exec") {
      exec_args = r.arguments;
      return R"({"return": {"pid": 42}})";
    }
    if (r.command == "guest-exec-status") {
      EXPECT_EQ(r.arguments, R"({"pid":42})");
      if (++polls == 1) return R"({"return": {"exited": false}})";
      return "{\"return\": {\"exited\": true, \"exitcode\": 3, \"out-data\": \"" +
             absl::Base64Escape("hello\n") + "\", \"err-data\": \"" + absl::Base64Escape("warn") +
             "\"}}";
    }
    return "";
  });
  StartClient();
  ExecRequest req;
  req.path = "/bin/sh";
  req.args = {"-c", "cat; echo hello"};
  req.input = "in";
  absl::StatusOr<ExecStatus> st = client_->Exec(req);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->exit_code, 3);
  EXPECT_EQ(st->out, "hello\n");
  EXPECT_EQ(st->err, "warn");
  EXPECT_EQ(polls, 2);
  EXPECT_EQ(exec_args, R"({"path":"/bin/sh","arg":["-c","cat; echo hello"],"input-data":")" +
                           absl::Base64Escape("in") + R"(","capture-output":true})");
}

TEST_F(AgentClientTest, ExecGivesUpAtItsDeadline) {
  fake_->set_handler([&](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-exec") return R"({"return": {"pid": 7}})";
    if (r.command == "guest-exec-status") return R"({"return": {"exited": false}})";
    return "";
  });
  StartClient();
  ExecRequest req;
  req.path = "/bin/sleep";
  req.timeout = absl::Milliseconds(30);
  absl::StatusOr<ExecStatus> st = client_->Exec(req);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(st.status().message(), HasSubstr("/bin/sleep (pid 7) still running"));
}

TEST_F(AgentClientTest, ErrorReplyKeepsTheClass) {
  fake_->set_handler([](const FakeAgent::Received&) -> std::string {
    return R"({"error": {"class": "CommandNotFound", "desc": "Command guest-get-users has been disabled"}})";
  });
  StartClient();
  absl::StatusOr<std::vector<GuestUser>> users = client_->GetUsers();
  EXPECT_EQ(users.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(qmp::QmpErrorClass(users.status()), "CommandNotFound");
  EXPECT_THAT(users.status().message(),
              HasSubstr("agent: guest-get-users: CommandNotFound: Command guest-get-users"));
  // The session is still usable.
  fake_->set_handler([](const FakeAgent::Received&) -> std::string { return "{\"return\": {}}"; });
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(AgentClientTest, TimeoutResyncsAndTheLateReplyIsNotTakenForTheNext) {
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-get-osinfo") return R"({"return": {"name": "right"}})";
    return "";  // guest-info: no answer in time
  });
  StartClient();
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  // The late reply shows up only when the client resyncs.
  fake_->set_before_next_sync_reply(R"({"return": {"name": "late"}})");
  absl::StatusOr<rapidjson::Document> r =
      client_->CallSync("guest-info", nullptr, absl::Milliseconds(30));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("agent: guest-info: no reply within"));

  absl::StatusOr<GuestOsInfo> os = client_->GetOsInfo();
  ASSERT_TRUE(os.ok()) << os.status();
  EXPECT_EQ(os->name, "right");
  EXPECT_EQ(fake_->count("guest-sync-delimited"), 2);
}

TEST_F(AgentClientTest, HangUpReportsDisconnectedThenReconnectsAndResyncs) {
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    return r.command == "guest-ping" ? "{\"return\": {}}" : "";
  });
  StartClient();
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  ASSERT_TRUE(RunUntil([&] { return transitions_.size() == 1; }));

  // A call in flight when the channel goes away fails.
  fake_->set_handler([](const FakeAgent::Received&) -> std::string { return ""; });
  std::optional<absl::Status> info;
  client_->Execute("guest-info", nullptr,
                   [&](absl::StatusOr<rapidjson::Document> r) { info = r.status(); });
  ASSERT_TRUE(RunUntil([&] { return fake_->count("guest-info") == 1; }));
  fake_->Close();
  ASSERT_TRUE(RunUntil([&] { return info.has_value(); }));
  EXPECT_EQ(info->code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(RunUntil([&] { return transitions_.size() >= 2; }));
  EXPECT_FALSE(transitions_[1]);

  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    return r.command == "guest-ping" ? "{\"return\": {}}" : "";
  });
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  EXPECT_TRUE(client_->Ping().ok());
  EXPECT_EQ(fake_->connects(), 2);
  EXPECT_EQ(fake_->count("guest-sync-delimited"), 2);
  ASSERT_TRUE(RunUntil([&] { return transitions_.size() == 3; }));
  EXPECT_THAT(transitions_, ElementsAre(true, false, true));
}

TEST_F(AgentClientTest, KeepaliveNoticesAStalledChannelAndResyncs) {
  bool answer = true;
  fake_->set_handler([&](const FakeAgent::Received& r) -> std::string {
    return answer && r.command == "guest-ping" ? "{\"return\": {}}" : "";
  });
  AgentOptions options = FastOptions();
  options.keepalive_interval = absl::Milliseconds(10);
  options.sync_timeout = absl::Milliseconds(30);
  StartClient(options);
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  ASSERT_TRUE(RunUntil([&] { return fake_->count("guest-ping") >= 2; }));

  // The guest goes quiet (a reboot): no ping or sync answers.
  answer = false;
  fake_->set_answer_sync(false);
  ASSERT_TRUE(RunUntil([&] { return !client_->connected(); }));
  answer = true;
  fake_->set_answer_sync(true);
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  ASSERT_TRUE(RunUntil([&] { return transitions_.size() == 3; }));
  EXPECT_THAT(transitions_, ElementsAre(true, false, true));
  EXPECT_EQ(fake_->connects(), 1);
}

TEST_F(AgentClientTest, GarbageReplyFailsTheCallAndResyncs) {
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-info") return "}garbage";
    return "{\"return\": {}}";
  });
  StartClient();
  absl::StatusOr<AgentInfo> info = client_->GetInfo();
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(info.status().message(), HasSubstr("agent: guest-info: "));
  EXPECT_TRUE(client_->Ping().ok());
  EXPECT_EQ(fake_->count("guest-sync-delimited"), 2);
}

TEST_F(AgentClientTest, RetriesTheSyncUntilTheAgentAnswers) {
  fake_->set_answer_sync(false);  // qemu-ga not running yet
  StartClient();
  ASSERT_TRUE(RunUntil([&] { return fake_->count("guest-sync-delimited") >= 2; }));
  EXPECT_FALSE(client_->connected());
  fake_->set_answer_sync(true);
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  EXPECT_EQ(fake_->connects(), 1);  // the same connection all along
}

TEST_F(AgentClientTest, CloseFailsWaitingCallsAndNeverReconnects) {
  fake_->set_handler([](const FakeAgent::Received&) -> std::string { return ""; });
  StartClient();
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  std::optional<absl::Status> info;
  client_->Execute("guest-info", nullptr,
                   [&](absl::StatusOr<rapidjson::Document> r) { info = r.status(); });

  client_->Close("QEMU has exited");

  ASSERT_TRUE(RunUntil([&] { return info.has_value(); }));
  EXPECT_FALSE(info->ok());
  EXPECT_FALSE(client_->connected());
  absl::Status later = client_->Ping();
  EXPECT_EQ(later.code(), absl::StatusCode::kFailedPrecondition) << later;
  EXPECT_NE(later.message().find("QEMU has exited"), std::string::npos) << later;
  // FastOptions retry within milliseconds: a closed client stays away.
  const int connects = fake_->connects();
  ASSERT_TRUE(loop_->RunUntil([] { return false; }, absl::Now() + absl::Milliseconds(200))
                  .code() == absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(fake_->connects(), connects);
}

TEST_F(AgentClientTest, RetriesTheConnectUntilTheSocketExists) {
  fake_->set_refuse_connect(true);
  StartClient();
  ASSERT_TRUE(RunUntil([&] { return fake_->connects() >= 2; }));
  EXPECT_FALSE(client_->connected());
  fake_->set_refuse_connect(false);
  EXPECT_TRUE(client_->WaitConnected(Deadline()).ok());
}

TEST_F(AgentClientTest, SecondCommandIsSentOnlyAfterTheFirstReply) {
  fake_->set_handler([](const FakeAgent::Received&) -> std::string { return ""; });
  StartClient();
  ASSERT_TRUE(client_->WaitConnected(Deadline()).ok());
  std::vector<std::string> done;
  client_->PingAsync([&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    done.push_back("ping");
  });
  client_->GetInfoAsync([&](absl::StatusOr<AgentInfo> i) {
    ASSERT_TRUE(i.ok()) << i.status();
    EXPECT_EQ(i->version, "1");
    done.push_back("info");
  });
  ASSERT_TRUE(RunUntil([&] { return fake_->count("guest-ping") == 1; }));
  Spin();
  EXPECT_EQ(fake_->count("guest-info"), 0);

  fake_->Send("{\"return\": {}}\n");
  ASSERT_TRUE(RunUntil([&] { return fake_->count("guest-info") == 1; }));
  fake_->Send(R"({"return": {"version": "1"}})");
  ASSERT_TRUE(RunUntil([&] { return done.size() == 2; }));
  EXPECT_THAT(done, ElementsAre("ping", "info"));
}

TEST_F(AgentClientTest, CommandsWaitForTheFirstSync) {
  fake_->set_answer_sync(false);
  fake_->set_handler([](const FakeAgent::Received&) -> std::string { return "{\"return\": {}}"; });
  StartClient();
  std::optional<absl::Status> ping;
  client_->PingAsync([&](absl::Status s) { ping = s; });
  ASSERT_TRUE(RunUntil([&] { return fake_->count("guest-sync-delimited") >= 1; }));
  Spin();
  EXPECT_EQ(fake_->count("guest-ping"), 0);
  fake_->set_answer_sync(true);
  ASSERT_TRUE(RunUntil([&] { return ping.has_value(); }));
  EXPECT_TRUE(ping->ok()) << *ping;
}

TEST_F(AgentClientTest, ShutdownSucceedsOnSilenceAndFailsOnError) {
  fake_->set_handler([](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-shutdown" && r.arguments == R"({"mode":"halt"})") {
      return R"({"error": {"class": "GenericError", "desc": "child process has failed to shutdown"}})";
    }
    return "";
  });
  StartClient();
  EXPECT_TRUE(client_->Shutdown(ShutdownMode::kPowerdown).ok());
  absl::Status halt = client_->Shutdown(ShutdownMode::kHalt);
  EXPECT_EQ(halt.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(halt.message(), HasSubstr("agent: guest-shutdown: GenericError"));
  EXPECT_EQ(fake_->received()[1].arguments, R"({"mode":"powerdown"})");
}

TEST_F(AgentClientTest, DestroyingTheClientCancelsPendingCalls) {
  fake_->set_handler([](const FakeAgent::Received&) -> std::string { return ""; });
  StartClient();
  std::optional<absl::Status> ping;
  client_->PingAsync([&](absl::Status s) { ping = s; });
  client_.reset();
  ASSERT_TRUE(RunUntil([&] { return ping.has_value(); }));
  EXPECT_EQ(ping->code(), absl::StatusCode::kCancelled);
}

TEST_F(AgentClientTest, FileWriteAndReadRoundTripBase64) {
  std::string written;
  fake_->set_handler([&](const FakeAgent::Received& r) -> std::string {
    if (r.command == "guest-file-open") return R"({"return": 1000})";
    if (r.command == "guest-file-write") {
      written = r.arguments;
      return R"({"return": {"count": 3, "eof": false}})";
    }
    if (r.command == "guest-file-read") {
      return "{\"return\": {\"count\": 3, \"buf-b64\": \"" + absl::Base64Escape("abc") +
             "\", \"eof\": true}}";
    }
    if (r.command == "guest-file-close") return R"({"return": {}})";
    return "";
  });
  StartClient();
  absl::StatusOr<FileHandle> h = client_->FileOpen("/tmp/x", "w+");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, 1000);
  absl::StatusOr<int64_t> n = client_->FileWrite(*h, "abc");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
  EXPECT_EQ(written, R"({"handle":1000,"buf-b64":")" + absl::Base64Escape("abc") + "\"}");
  absl::StatusOr<FileChunk> chunk = client_->FileRead(*h, 3);
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_EQ(chunk->data, "abc");
  EXPECT_TRUE(chunk->eof);
  EXPECT_TRUE(client_->FileClose(*h).ok());
}

}  // namespace
}  // namespace qdirect::agent
