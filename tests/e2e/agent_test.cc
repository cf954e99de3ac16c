// AgentClient against the real qemu-ga of the test guest (tests/guest),
// booted with raw QEMU under TCG by tests/guest/run-raw.sh.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/unique_fd.h"

#ifndef QDIRECT_SOURCE_ROOT
#error "QDIRECT_SOURCE_ROOT must be defined by the build"
#endif

namespace qdirect::agent {
namespace {

using ::testing::Contains;
using ::testing::Field;

std::string ImageDir() {
  const char* env = getenv("QDIRECT_IMAGE_DIR");
  return env != nullptr && *env != '\0' ? env : "/var/lib/qdirect/images";
}

bool GuestPresent(const std::string& dir) {
  std::string boot = dir + "/qdirect_test-guest/boot/";
  return access((boot + "vmlinuz").c_str(), R_OK) == 0 &&
         access((boot + "initrd.img").c_str(), R_OK) == 0;
}

// The test guest under raw QEMU; the agent socket is bound here and passed
// as fd 3, so connecting never races QEMU's socket creation.
class Guest {
 public:
  ~Guest() { Stop(); }

  absl::Status Start(const std::string& image_dir) {
    char tmpl[] = "/tmp/qdirect-agent-e2e-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
    dir_ = tmpl;
    agent_path_ = dir_ + "/agent.sock";
    UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener) return absl::ErrnoToStatus(errno, "socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, agent_path_.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener.get(), 1) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("bind/listen ", agent_path_));
    }
    std::string script = std::string(QDIRECT_SOURCE_ROOT) + "/tests/guest/run-raw.sh";
    std::string log = dir_ + "/qemu.log";
    started_ = absl::Now();
    pid_ = fork();
    if (pid_ < 0) return absl::ErrnoToStatus(errno, "fork");
    if (pid_ == 0) {
      if (listener.get() == 3) {
        if (fcntl(3, F_SETFD, 0) < 0) _exit(126);
      } else if (dup2(listener.get(), 3) < 0) {
        _exit(126);
      }
      int devnull = open("/dev/null", O_RDONLY);
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (devnull < 0 || out < 0) _exit(126);
      dup2(devnull, 0);
      dup2(out, 1);
      dup2(out, 2);
      setenv("QDIRECT_GUEST_FD_AGENT", "3", 1);
      execl("/bin/bash", "bash", script.c_str(), image_dir.c_str(), dir_.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    return absl::OkStatus();
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::string cmd = "rm -rf '" + dir_ + "'";
      [[maybe_unused]] int rc = system(cmd.c_str());
      dir_.clear();
    }
  }

  // QEMU's output so far (for failure messages).
  std::string Log() const {
    std::string text;
    FILE* f = fopen((dir_ + "/qemu.log").c_str(), "r");
    if (f == nullptr) return text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    fclose(f);
    return text;
  }

  const std::string& agent_path() const { return agent_path_; }
  std::string console_path() const { return dir_ + "/console.sock"; }
  absl::Time started() const { return started_; }

 private:
  std::string dir_;
  std::string agent_path_;
  pid_t pid_ = -1;
  absl::Time started_;
};

class AgentE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (access("/usr/bin/qemu-system-x86_64", X_OK) != 0) {
      skip_reason_ = new std::string("no QEMU");
      return;
    }
    std::string images = ImageDir();
    if (!GuestPresent(images)) {
      std::string cmd = absl::StrCat(QDIRECT_SOURCE_ROOT, "/tests/guest/build.sh '", images,
                                     "' >&2");
      if (system(cmd.c_str()) != 0 || !GuestPresent(images)) {
        skip_reason_ = new std::string("the test guest is missing and tests/guest/build.sh failed");
        return;
      }
    }
    auto loop = EventLoop::Create();
    if (!loop.ok()) {
      setup_error_ = new std::string(loop.status().ToString());
      return;
    }
    loop_ = loop->release();
    guest_ = new Guest();
    absl::Status st = guest_->Start(images);
    if (!st.ok()) {
      setup_error_ = new std::string(st.ToString());
      return;
    }
    AgentOptions options;
    // Short, so that the stall test below notices within seconds.
    options.keepalive_interval = absl::Milliseconds(500);
    options.sync_timeout = absl::Seconds(1);
    auto client = AgentClient::Create(loop_, UnixSocketConnector(guest_->agent_path()), options);
    if (!client.ok()) {
      setup_error_ = new std::string(client.status().ToString());
      return;
    }
    client_ = client->release();
    client_->SetStatusCallback([](bool c) { transitions_->push_back(c); });
    WatchConsole();
    st = client_->WaitConnected(absl::Now() + absl::Seconds(90));
    if (!st.ok()) {
      setup_error_ = new std::string(absl::StrCat(st.ToString(), "\nQEMU log:\n", guest_->Log()));
      return;
    }
    absl::Time synced = absl::Now();
    printf("figure: agent first sync %.3f s after QEMU exec (TCG)\n",
           absl::ToDoubleSeconds(synced - guest_->started()));
    // The guest starts qemu-ga just before it prints its marker.
    if (loop_->RunUntil([] { return marker_at_ != absl::InfinitePast(); },
                        absl::Now() + absl::Seconds(10)).ok()) {
      printf("figure: agent first sync %.1f ms after the guest's marker (TCG)\n",
             absl::ToDoubleMilliseconds(synced - marker_at_));
    }
  }

  // Notes when the guest's QDIRECT-GUEST-UP marker shows on the console. QEMU
  // creates the console socket a moment after exec: poll for it.
  static void WatchConsole() {
    Connector connect = UnixSocketConnector(guest_->console_path());
    absl::Time until = absl::Now() + absl::Seconds(10);
    absl::StatusOr<UniqueFd> fd = connect();
    while (!fd.ok() && absl::Now() < until) {
      if (!loop_->RunOnce(absl::Milliseconds(5)).ok()) return;
      fd = connect();
    }
    if (!fd.ok()) return;
    console_ = new UniqueFd(std::move(*fd));
    auto watch = loop_->WatchFd(console_->get(), kFdReadable, [](uint32_t) {
      char buf[4096];
      ssize_t n = read(console_->get(), buf, sizeof(buf));
      if (n <= 0) return;
      console_text_->append(buf, static_cast<size_t>(n));
      if (marker_at_ == absl::InfinitePast() &&
          console_text_->find("QDIRECT-GUEST-UP") != std::string::npos) {
        marker_at_ = absl::Now();
      }
    });
    if (watch.ok()) console_watch_ = *watch;
  }

  static void TearDownTestSuite() {
    if (console_watch_.valid()) loop_->Unwatch(console_watch_);
    delete console_;
    console_ = nullptr;
    delete client_;
    client_ = nullptr;
    delete guest_;
    guest_ = nullptr;
    delete loop_;
    loop_ = nullptr;
  }

  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
  }

  static inline EventLoop* loop_ = nullptr;
  static inline Guest* guest_ = nullptr;
  static inline AgentClient* client_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
  static inline std::string* setup_error_ = nullptr;
  static inline std::vector<bool>* transitions_ = new std::vector<bool>();
  static inline UniqueFd* console_ = nullptr;
  static inline WatchId console_watch_;
  static inline std::string* console_text_ = new std::string();
  static inline absl::Time marker_at_ = absl::InfinitePast();
};

TEST_F(AgentE2eTest, PingAnswersAndItsLatencyIsReported) {
  std::vector<double> ms;
  for (int i = 0; i < 30; ++i) {
    absl::Time t = absl::Now();
    ASSERT_TRUE(client_->Ping().ok());
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
  }
  std::sort(ms.begin(), ms.end());
  printf("figure: guest-ping p50 %.2f ms, max %.2f ms over %zu (TCG)\n", ms[ms.size() / 2],
         ms.back(), ms.size());
}

TEST_F(AgentE2eTest, InfoListsExec) {
  auto info = client_->GetInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->version.empty());
  EXPECT_THAT(info->supported_commands, Contains(Field(&AgentCommandInfo::name, "guest-exec")));
}

TEST_F(AgentE2eTest, OsInfoHasNameAndKernel) {
  auto os = client_->GetOsInfo();
  ASSERT_TRUE(os.ok()) << os.status();
  EXPECT_FALSE(os->name.empty());
  EXPECT_FALSE(os->kernel_release.empty());
  EXPECT_FALSE(os->kernel_version.empty());
  EXPECT_EQ(os->machine, "x86_64");
}

TEST_F(AgentE2eTest, NetworkInterfacesIncludeLoopback) {
  auto ifaces = client_->GetNetworkInterfaces();
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  auto lo = std::find_if(ifaces->begin(), ifaces->end(),
                         [](const NetworkInterface& i) { return i.name == "lo"; });
  ASSERT_NE(lo, ifaces->end());
  EXPECT_THAT(lo->ip_addresses, Contains(Field(&IpAddress::address, "127.0.0.1")));
}

TEST_F(AgentE2eTest, ExecCapturesOutputAndExitCode) {
  ExecRequest req;
  req.path = "/bin/echo";
  req.args = {"hello"};
  auto st = client_->Exec(req);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->out, "hello\n");
  EXPECT_EQ(st->exit_code, 0);
}

TEST_F(AgentE2eTest, ExecFeedsInputAndReportsFailure) {
  ExecRequest req;
  req.path = "/bin/sh";
  req.args = {"-c", "cat; echo oops >&2; exit 3"};
  req.input = "from the host";
  auto st = client_->Exec(req);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->out, "from the host");
  EXPECT_EQ(st->err, "oops\n");
  EXPECT_EQ(st->exit_code, 3);
}

TEST_F(AgentE2eTest, ExecOfAMissingBinaryFails) {
  ExecRequest req;
  req.path = "/nonexistent/binary";
  auto st = client_->Exec(req);
  printf("missing binary: %s\n",
         st.ok() ? absl::StrCat("exit ", st->exit_code).c_str() : st.status().ToString().c_str());
  if (st.ok()) {
    EXPECT_NE(st->exit_code, 0);
  } else {
    EXPECT_THAT(std::string(st.status().message()), ::testing::HasSubstr("agent: guest-exec"));
  }
  // Either way the session goes on.
  EXPECT_TRUE(client_->Ping().ok());
}

TEST_F(AgentE2eTest, FsInfoAndUsersAnswer) {
  auto fs = client_->GetFsInfo();
  EXPECT_TRUE(fs.ok()) << fs.status();
  auto users = client_->GetUsers();
  EXPECT_TRUE(users.ok()) << users.status();
}

TEST_F(AgentE2eTest, FileWriteThenReadBack) {
  auto h = client_->FileOpen("/tmp/agent-e2e", "w+");
  ASSERT_TRUE(h.ok()) << h.status();
  auto n = client_->FileWrite(*h, "written by the host");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 19);
  ASSERT_TRUE(client_->FileClose(*h).ok());
  ExecRequest req;
  req.path = "/bin/cat";
  req.args = {"/tmp/agent-e2e"};
  auto st = client_->Exec(req);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->out, "written by the host");
}

// Runs last (gtest keeps file order): qemu-ga stops answering for a while
// (SIGSTOP, as a guest rebooting leaves the channel stalled); the keepalive
// notices, the client reports disconnected, and syncs again once it answers.
TEST_F(AgentE2eTest, ZzResyncsAfterTheChannelStalls) {
  size_t before = transitions_->size();
  ExecRequest req;
  req.path = "/bin/sh";
  req.args = {"-c",
              "(sleep 0.2; killall -STOP qemu-ga; sleep 6; killall -CONT qemu-ga) >/dev/null 2>&1 &"};
  auto st = client_->Exec(req);
  ASSERT_TRUE(st.ok()) << st.status();
  absl::Time t = absl::Now();
  ASSERT_TRUE(loop_->RunUntil([&] { return !client_->connected(); },
                              absl::Now() + absl::Seconds(60)).ok());
  ASSERT_TRUE(client_->WaitConnected(absl::Now() + absl::Seconds(60)).ok());
  printf("figure: agent stalled 6 s -> disconnected -> in sync again after %.2f s\n",
         absl::ToDoubleSeconds(absl::Now() - t));
  EXPECT_TRUE(client_->Ping().ok());
  ASSERT_TRUE(loop_->RunUntil([&] { return transitions_->size() >= before + 2; },
                              absl::Now() + absl::Seconds(5)).ok());
  EXPECT_FALSE((*transitions_)[before]);
  EXPECT_TRUE(transitions_->back());
}

}  // namespace
}  // namespace qdirect::agent
