// Starts real QEMU (7.2) through launch::Spawn the way the launcher will:
// unprivileged uid, full -sandbox, the QMP listening socket passed as fd 3.

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/credentials.h"
#include "launch/log_tail.h"
#include "launch/process.h"
#include "launch/unix_socket.h"

namespace qdirect::launch {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kQemu[] = "/usr/bin/qemu-system-x86_64";
constexpr absl::Duration kPatience = absl::Seconds(30);

class LaunchQemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kQemu, X_OK) != 0) GTEST_SKIP() << kQemu << " not installed";
    char pattern[] = "/tmp/qdirect-launch-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    socket_path_ = dir_ + "/qmp.sock";
    log_path_ = dir_ + "/qemu.log";
  }
  void TearDown() override {
    if (!dir_.empty()) {
      unlink(socket_path_.c_str());
      unlink(log_path_.c_str());
      rmdir(dir_.c_str());
    }
  }

  // QEMU's argv with the QMP monitor on the listening socket at fd 3.
  SpawnOptions QemuOptions(int listener, std::vector<std::string> extra = {}) {
    SpawnOptions options;
    options.argv = {kQemu,
                    "-S",
                    "-machine",
                    "none",
                    "-accel",
                    "tcg",
                    "-nodefaults",
                    "-display",
                    "none",
                    "-chardev",
                    "socket,id=qmp,fd=3,server=on,wait=off",
                    "-mon",
                    "chardev=qmp,mode=control",
                    "-sandbox",
                    "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                    "resourcecontrol=deny"};
    options.argv.insert(options.argv.end(), extra.begin(), extra.end());
    options.fds = {{listener, 3}};
    options.log_path = log_path_;
    if (geteuid() == 0) {
      absl::StatusOr<Credentials> qemu = ResolveQemuCredentials("");
      EXPECT_TRUE(qemu.ok()) << qemu.status();
      if (qemu.ok()) options.credentials = *qemu;
      options.capabilities = std::vector<int>{};
    }
    return options;
  }

  std::string dir_, socket_path_, log_path_;
};

// Reads from `fd` until a full line arrived or the deadline passed.
absl::StatusOr<std::string> ReadLine(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string line;
  char byte;
  while (true) {
    struct pollfd poll_fd = {fd, POLLIN, 0};
    int wait_ms = static_cast<int>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    int ready = poll(&poll_fd, 1, wait_ms);
    if (ready == 0)
      return absl::DeadlineExceededError("no line from QEMU: " + line);
    if (ready < 0) return absl::ErrnoToStatus(errno, "poll");
    ssize_t n = read(fd, &byte, 1);
    if (n <= 0)
      return absl::UnavailableError("QEMU closed the socket: " + line);
    line.push_back(byte);
    if (byte == '\n') return line;
  }
}

bool WriteAll(int fd, const std::string& text) {
  return write(fd, text.data(), text.size()) ==
         static_cast<ssize_t>(text.size());
}

TEST_F(LaunchQemuTest, QmpHandshakeAndQuitAsUnprivilegedUser) {
  absl::StatusOr<UniqueFd> listener = BindListeningUnixSocket(socket_path_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<Process> qemu = Spawn(QemuOptions(listener->get()));
  ASSERT_TRUE(qemu.ok()) << qemu.status();

  absl::StatusOr<UniqueFd> qmp = ConnectUnixSocket(socket_path_);
  ASSERT_TRUE(qmp.ok()) << qmp.status();
  absl::StatusOr<std::string> greeting = ReadLine(qmp->get(), kPatience);
  ASSERT_TRUE(greeting.ok()) << greeting.status() << "\n"
                             << ReadLogTail(log_path_, 2048);
  EXPECT_THAT(*greeting, StartsWith("{\"QMP\":"));

  if (geteuid() == 0) {
    // QEMU runs as the unprivileged uid with no capabilities.
    std::string status;
    FILE* file = fopen(
        ("/proc/" + std::to_string(qemu->pid()) + "/status").c_str(), "r");
    ASSERT_NE(file, nullptr);
    char line[256];
    while (fgets(line, sizeof line, file)) status += line;
    fclose(file);
    // The QEMU user of this host (libvirt-qemu, qemu or nobody), never root.
    absl::StatusOr<Credentials> expected = ResolveQemuCredentials("");
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_NE(expected->uid, 0u);
    std::string uid = std::to_string(expected->uid);
    EXPECT_THAT(status, HasSubstr("Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n"));
    EXPECT_THAT(status, HasSubstr("CapEff:\t0000000000000000\n"));
    EXPECT_THAT(status, HasSubstr("Seccomp:\t2\n"));
  }

  ASSERT_TRUE(WriteAll(qmp->get(), "{\"execute\":\"qmp_capabilities\"}\n"));
  absl::StatusOr<std::string> reply = ReadLine(qmp->get(), kPatience);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, HasSubstr("\"return\""));
  ASSERT_TRUE(WriteAll(qmp->get(), "{\"execute\":\"quit\"}\n"));
  absl::StatusOr<ExitInfo> exit = qemu->Wait(kPatience);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n"
                               << ReadLogTail(log_path_, 2048);
}

TEST_F(LaunchQemuTest, BadArgumentExitsOneAndTheLogSaysWhy) {
  absl::StatusOr<UniqueFd> listener = BindListeningUnixSocket(socket_path_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<Process> qemu =
      Spawn(QemuOptions(listener->get(), {"-no-such-option"}));
  ASSERT_TRUE(qemu.ok()) << qemu.status();
  absl::StatusOr<ExitInfo> exit = qemu->Wait(kPatience);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->ToString(), "exited with code 1");
  EXPECT_THAT(ReadLogTail(log_path_, 1024),
              HasSubstr("-no-such-option: invalid option"));
}

TEST_F(LaunchQemuTest, SigkillMakesThePidfdReadable) {
  absl::StatusOr<UniqueFd> listener = BindListeningUnixSocket(socket_path_);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<Process> qemu = Spawn(QemuOptions(listener->get()));
  ASSERT_TRUE(qemu.ok()) << qemu.status();
  ASSERT_TRUE(qemu->Kill(SIGKILL).ok());
  struct pollfd poll_fd = {qemu->pidfd(), POLLIN, 0};
  ASSERT_EQ(poll(&poll_fd, 1, absl::ToInt64Milliseconds(kPatience)), 1);
  absl::StatusOr<ExitInfo> exit = qemu->Wait(absl::ZeroDuration());
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->ToString(), "killed by SIGKILL");
}

// Reports (never asserts) the median time from Spawn to QMP greeting.
TEST_F(LaunchQemuTest, ExecToQmpGreetingMedianOfTwenty) {
  std::vector<absl::Duration> samples;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<UniqueFd> listener = BindListeningUnixSocket(socket_path_);
    ASSERT_TRUE(listener.ok()) << listener.status();
    SpawnOptions options = QemuOptions(listener->get());
    const absl::Time start = absl::Now();
    absl::StatusOr<Process> qemu = Spawn(options);
    ASSERT_TRUE(qemu.ok()) << qemu.status();
    absl::StatusOr<UniqueFd> qmp = ConnectUnixSocket(socket_path_);
    ASSERT_TRUE(qmp.ok()) << qmp.status();
    absl::StatusOr<std::string> greeting = ReadLine(qmp->get(), kPatience);
    ASSERT_TRUE(greeting.ok()) << greeting.status();
    samples.push_back(absl::Now() - start);
    ASSERT_TRUE(qemu->Kill(SIGKILL).ok());
    ASSERT_TRUE(qemu->Wait(kPatience).ok());
    listener->reset();
    unlink(socket_path_.c_str());
  }
  std::sort(samples.begin(), samples.end());
  const absl::Duration median = (samples[9] + samples[10]) / 2;
  RecordProperty("exec_to_qmp_greeting_median_us",
                 std::to_string(absl::ToInt64Microseconds(median)));
  std::printf("exec -> QMP greeting: median %s, min %s, max %s (n=20)\n",
              absl::FormatDuration(median).c_str(),
              absl::FormatDuration(samples.front()).c_str(),
              absl::FormatDuration(samples.back()).c_str());
}

}  // namespace
}  // namespace qdirect::launch
