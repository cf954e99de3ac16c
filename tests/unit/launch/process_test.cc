#include "launch/process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace qdirect::launch {
namespace {

using ::qdirect::launch::testing::ReadFile;
using ::qdirect::launch::testing::TempDir;
using ::qdirect::launch::testing::WriteFile;
using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);

SpawnOptions Shell(const std::string& script, const std::string& log_path) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", script};
  options.env = {"PATH=/usr/bin:/bin"};
  options.log_path = log_path;
  return options;
}

// Runs `options` to completion; the exit and what it logged.
std::pair<ExitInfo, std::string> RunToEnd(const SpawnOptions& options) {
  absl::StatusOr<Process> process = Spawn(options);
  EXPECT_TRUE(process.ok()) << process.status();
  if (!process.ok()) return {};
  absl::StatusOr<ExitInfo> exit = process->Wait(kPatience);
  EXPECT_TRUE(exit.ok()) << exit.status();
  if (!exit.ok()) return {};
  return {*exit, ReadFile(options.log_path)};
}

// Spawns /bin/cat with `fds` plus a pipe at 0 and 1, proves it is running its
// loop (echo through it), then returns what /proc/<pid>/fd holds: number ->
// link target. Returns an error text instead on failure. Usable in a forked
// child (no gtest assertions).
std::string ListChildFds(const std::vector<FdToPass>& extra,
                         std::map<int, std::string>* listing) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return "pipe2";
  UniqueFd in_read(in[0]), in_write(in[1]), out_read(out[0]), out_write(out[1]);
  SpawnOptions options;
  options.argv = {"/bin/cat"};
  options.fds = {{in_read.get(), 0}, {out_write.get(), 1}};
  options.fds.insert(options.fds.end(), extra.begin(), extra.end());
  absl::StatusOr<Process> process = Spawn(options);
  if (!process.ok()) return std::string(process.status().message());
  in_read.reset();
  out_write.reset();
  char echo[5] = {};
  if (write(in_write.get(), "ping", 4) != 4) return "write to cat";
  size_t got = 0;
  while (got < 4) {
    ssize_t n = read(out_read.get(), echo + got, 4 - got);
    if (n <= 0) return "read from cat";
    got += n;
  }
  if (std::string(echo) != "ping") return "cat echoed " + std::string(echo);
  const std::string dir = "/proc/" + std::to_string(process->pid()) + "/fd";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (*listing)[std::stoi(entry.path().filename())] =
        std::filesystem::read_symlink(entry.path()).string();
  }
  in_write.reset();
  absl::StatusOr<ExitInfo> exit = process->Wait(kPatience);
  if (!exit.ok() || !exit->success()) return "cat did not exit cleanly";
  return "";
}

std::set<int> Numbers(const std::map<int, std::string>& listing) {
  std::set<int> numbers;
  for (const auto& [fd, target] : listing) numbers.insert(fd);
  return numbers;
}

TEST(Spawn, EnvironmentIsExactlyTheGivenList) {
  TempDir dir;
  setenv("QDIRECT_MUST_NOT_LEAK", "1", 1);
  SpawnOptions options;
  options.argv = {"/usr/bin/env"};
  options.env = {"A=1", "B=two words"};
  options.log_path = dir.File("log");
  auto [exit, log] = RunToEnd(options);
  EXPECT_TRUE(exit.success()) << exit.ToString();
  EXPECT_EQ(log, "A=1\nB=two words\n");
}

TEST(Spawn, FdsArriveAtRequestedNumbersEvenSwappedAndNothingElseIsOpen) {
  TempDir dir;
  WriteFile(dir.File("a"), "a");
  WriteFile(dir.File("b"), "b");
  UniqueFd a(open(dir.File("a").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd b(open(dir.File("b").c_str(), O_RDONLY | O_CLOEXEC));
  // Not close-on-exec: only the explicit close in the child keeps it out.
  UniqueFd leak(open("/dev/null", O_RDONLY));
  ASSERT_TRUE(a && b && leak);
  std::map<int, std::string> listing;
  // a goes where b is and b where a is: sources collide with targets.
  ASSERT_EQ(ListChildFds({{a.get(), b.get()}, {b.get(), a.get()}}, &listing),
            "");
  EXPECT_EQ(Numbers(listing), (std::set<int>{0, 1, 2, a.get(), b.get()}));
  EXPECT_EQ(listing[b.get()], dir.File("a"));
  EXPECT_EQ(listing[a.get()], dir.File("b"));
  EXPECT_EQ(listing[2], "/dev/null");
}

TEST(Spawn, FdsMayTargetHighNumbers) {
  UniqueFd file(open("/dev/zero", O_RDONLY | O_CLOEXEC));
  std::map<int, std::string> listing;
  ASSERT_EQ(ListChildFds({{file.get(), 100}}, &listing), "");
  EXPECT_EQ(Numbers(listing), (std::set<int>{0, 1, 2, 100}));
  EXPECT_EQ(listing[100], "/dev/zero");
}

// Without clone3 and close_range (old kernels, container seccomp profiles),
// Spawn falls back to fork + pidfd_open and a /proc/self/fd walk.
TEST(Spawn, FallsBackWithoutClone3AndCloseRange) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(close_range), 0);
    if (seccomp_load(filter) != 0) _exit(2);
    UniqueFd leak(open("/dev/null", O_RDONLY));
    UniqueFd file(open("/dev/zero", O_RDONLY | O_CLOEXEC));
    std::map<int, std::string> listing;
    if (!ListChildFds({{file.get(), 9}}, &listing).empty()) _exit(3);
    _exit(Numbers(listing) == std::set<int>{0, 1, 2, 9} ? 0 : 4);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Spawn, StdinIsDevNull) {
  TempDir dir;
  auto [exit, log] =
      RunToEnd(Shell("readlink /proc/self/fd/0", dir.File("log")));
  EXPECT_TRUE(exit.success());
  EXPECT_EQ(log, "/dev/null\n");
}

TEST(Spawn, ExitCodeIsReported) {
  TempDir dir;
  auto [exit, log] = RunToEnd(Shell("exit 3", dir.File("log")));
  EXPECT_EQ(exit, (ExitInfo{.kind = ExitInfo::Kind::kExited, .code = 3}));
  EXPECT_EQ(exit.ToString(), "exited with code 3");
}

TEST(Spawn, TerminatingSignalIsReported) {
  TempDir dir;
  auto [exit, log] = RunToEnd(Shell("kill -TERM $$", dir.File("log")));
  EXPECT_EQ(exit.kind, ExitInfo::Kind::kSignaled);
  EXPECT_EQ(exit.signal, SIGTERM);
  EXPECT_EQ(exit.ToString(), "killed by SIGTERM");
}

TEST(Spawn, ExecFailureIsReportedWithErrnoText) {
  SpawnOptions options;
  options.argv = {"/nonexistent/qemu-system-x86_64", "-S"};
  absl::StatusOr<Process> process = Spawn(options);
  ASSERT_FALSE(process.ok());
  EXPECT_EQ(process.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(process.status().message(),
            "exec /nonexistent/qemu-system-x86_64: No such file or directory");
}

TEST(Spawn, ChdirFailureNamesTheDirectory) {
  SpawnOptions options = Shell("true", "");
  options.working_dir = "/nonexistent-dir";
  absl::StatusOr<Process> process = Spawn(options);
  ASSERT_FALSE(process.ok());
  EXPECT_EQ(process.status().message(),
            "chdir /nonexistent-dir: No such file or directory");
}

TEST(Spawn, WorkingDirectoryIsSet) {
  TempDir dir;
  SpawnOptions options = Shell("pwd", dir.File("log"));
  options.working_dir = dir.path();
  auto [exit, log] = RunToEnd(options);
  EXPECT_EQ(log, dir.path() + "\n");
}

TEST(Spawn, LogFileGetsStdoutAndStderrAppended) {
  TempDir dir;
  WriteFile(dir.File("log"), "earlier\n");
  auto [exit, log] =
      RunToEnd(Shell("echo out; echo err >&2; echo out2", dir.File("log")));
  EXPECT_TRUE(exit.success());
  EXPECT_EQ(log, "earlier\nout\nerr\nout2\n");
}

TEST(Spawn, NewLogFileIsPrivate) {
  TempDir dir;
  RunToEnd(Shell("echo x", dir.File("log")));
  struct stat info;
  ASSERT_EQ(stat(dir.File("log").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(Spawn, RejectsBadOptionsBeforeCloning) {
  SpawnOptions no_path;
  no_path.argv = {"sh"};
  EXPECT_EQ(Spawn(no_path).status().code(), absl::StatusCode::kInvalidArgument);
  SpawnOptions bad_env = Shell("true", "");
  bad_env.env = {"NOEQUALS"};
  EXPECT_THAT(Spawn(bad_env).status().message(), HasSubstr("NOEQUALS"));
  SpawnOptions twice = Shell("true", "");
  twice.fds = {{0, 5}, {1, 5}};
  EXPECT_THAT(Spawn(twice).status().message(),
              HasSubstr("child fd 5 is mapped twice"));
  SpawnOptions closed = Shell("true", "");
  closed.fds = {{999, 5}};
  EXPECT_EQ(Spawn(closed).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Process, KillThroughPidfdReportsTheSignal) {
  absl::StatusOr<Process> process = Spawn(Shell("exec sleep 1000", ""));
  ASSERT_TRUE(process.ok()) << process.status();
  ASSERT_TRUE(process->Kill(SIGKILL).ok());
  absl::StatusOr<ExitInfo> exit = process->Wait(kPatience);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->ToString(), "killed by SIGKILL");
  EXPECT_EQ(process->Kill(SIGKILL).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Process, WaitTimesOutWhileTheChildRuns) {
  absl::StatusOr<Process> process = Spawn(Shell("exec sleep 1000", ""));
  ASSERT_TRUE(process.ok()) << process.status();
  EXPECT_EQ(process->Wait(absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  absl::StatusOr<std::optional<ExitInfo>> reaped = process->TryReap();
  ASSERT_TRUE(reaped.ok());
  EXPECT_FALSE(reaped->has_value());
  ASSERT_TRUE(process->Kill(SIGTERM).ok());
  EXPECT_EQ(process->Wait(kPatience)->signal, SIGTERM);
}

TEST(Spawn, ResourceLimitsApply) {
  TempDir dir;
  SpawnOptions options = Shell("ulimit -l; ulimit -n", dir.File("log"));
  options.rlimits = {{RLIMIT_MEMLOCK, 64 << 10, 64 << 10},
                     {RLIMIT_NOFILE, 77, 77}};
  auto [exit, log] = RunToEnd(options);
  EXPECT_EQ(log, "64\n77\n");
}

TEST(Spawn, ChildLeadsANewSession) {
  TempDir dir;
  absl::StatusOr<Process> process = Spawn(
      Shell("read -r line < /proc/self/stat; echo \"$line\"", dir.File("log")));
  ASSERT_TRUE(process.ok());
  ASSERT_TRUE(process->Wait(kPatience).ok());
  // pid (comm) state ppid pgrp session ...
  std::istringstream fields(
      ReadFile(dir.File("log"))
          .substr(ReadFile(dir.File("log")).find(')') + 2));
  std::string state;
  int ppid, pgrp, session;
  fields >> state >> ppid >> pgrp >> session;
  EXPECT_EQ(session, process->pid());
  EXPECT_EQ(pgrp, process->pid());
}

TEST(Spawn, SignalDispositionsAndMaskAreReset) {
  TempDir dir;
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous;
  sigaction(SIGUSR2, &ignore, &previous);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  SpawnOptions options;
  options.argv = {"/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"};
  options.log_path = dir.File("log");
  auto [exit, log] = RunToEnd(options);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGUSR2, &previous, nullptr);
  EXPECT_EQ(log, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST(Spawn, ChildDiesWithTheSpawningThread) {
  std::optional<Process> process;
  std::thread([&] {
    absl::StatusOr<Process> spawned = Spawn(Shell("exec sleep 1000", ""));
    ASSERT_TRUE(spawned.ok()) << spawned.status();
    process.emplace(*std::move(spawned));
  }).join();
  ASSERT_TRUE(process);
  absl::StatusOr<ExitInfo> exit = process->Wait(kPatience);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->ToString(), "killed by SIGKILL");
}

TEST(Spawn, ChildOutlivesItsSpawnerWhenAsked) {
  std::optional<Process> process;
  std::thread([&] {
    SpawnOptions options = Shell("exec sleep 1000", "");
    options.kill_with_parent = false;
    absl::StatusOr<Process> spawned = Spawn(options);
    ASSERT_TRUE(spawned.ok()) << spawned.status();
    process.emplace(*std::move(spawned));
  }).join();
  ASSERT_TRUE(process);
  EXPECT_EQ(process->Wait(absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(process->Kill(SIGKILL).ok());
  EXPECT_TRUE(process->Wait(kPatience).ok());
}

TEST(ExitInfo, RendersAsText) {
  EXPECT_EQ((ExitInfo{}).ToString(), "exited with code 0");
  EXPECT_EQ((ExitInfo{.kind = ExitInfo::Kind::kSignaled, .signal = SIGKILL})
                .ToString(),
            "killed by SIGKILL");
  EXPECT_EQ((ExitInfo{.kind = ExitInfo::Kind::kSignaled,
                      .signal = SIGSEGV,
                      .core_dumped = true})
                .ToString(),
            "killed by SIGSEGV (core dumped)");
}

// The lines of /proc/self/status a child running as `options` prints.
std::string ChildStatus(SpawnOptions options, const TempDir& dir) {
  options.argv = {"/bin/grep", "-E",
                  "^(Uid|Gid|Groups|Cap...|NoNewPrivs):", "/proc/self/status"};
  options.log_path = dir.File("log");
  auto [exit, log] = RunToEnd(options);
  EXPECT_TRUE(exit.success()) << exit.ToString() << ": " << log;
  // Kernels differ in the blank after the last group; drop trailing blanks.
  std::string normalized;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    normalized += line + "\n";
  }
  return normalized;
}

TEST(SpawnAsRoot, ChildRunsAsTargetUserWithNoGroupsNoCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  SpawnOptions options;
  options.credentials = Credentials{.uid = 65534, .gid = 65534, .groups = {}};
  options.capabilities = std::vector<int>{};
  EXPECT_EQ(ChildStatus(options, dir),
            "Uid:\t65534\t65534\t65534\t65534\n"
            "Gid:\t65534\t65534\t65534\t65534\n"
            "Groups:\t\n"
            "CapInh:\t0000000000000000\n"
            "CapPrm:\t0000000000000000\n"
            "CapEff:\t0000000000000000\n"
            "CapBnd:\t0000000000000000\n"
            "CapAmb:\t0000000000000000\n"
            "NoNewPrivs:\t1\n");
}

TEST(SpawnAsRoot, KeptCapabilitySurvivesTheUidChangeAsAmbient) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  SpawnOptions options;
  options.credentials =
      Credentials{.uid = 65534, .gid = 65534, .groups = {100}};
  options.capabilities = std::vector<int>{CAP_NET_BIND_SERVICE};
  EXPECT_EQ(ChildStatus(options, dir),
            "Uid:\t65534\t65534\t65534\t65534\n"
            "Gid:\t65534\t65534\t65534\t65534\n"
            "Groups:\t100\n"
            "CapInh:\t0000000000000400\n"
            "CapPrm:\t0000000000000400\n"
            "CapEff:\t0000000000000400\n"
            "CapBnd:\t0000000000000400\n"
            "CapAmb:\t0000000000000400\n"
            "NoNewPrivs:\t1\n");
}

// The kernel clears the parent-death signal when credentials change, so
// Spawn must set it after the switch.
TEST(SpawnAsRoot, ChildWithCredentialsStillDiesWithTheSpawningThread) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::optional<Process> process;
  std::thread([&] {
    SpawnOptions options = Shell("exec sleep 1000", "");
    options.credentials = Credentials{.uid = 65534, .gid = 65534, .groups = {}};
    absl::StatusOr<Process> spawned = Spawn(options);
    ASSERT_TRUE(spawned.ok()) << spawned.status();
    process.emplace(*std::move(spawned));
  }).join();
  ASSERT_TRUE(process);
  absl::StatusOr<ExitInfo> exit = process->Wait(kPatience);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->ToString(), "killed by SIGKILL");
}

TEST(SpawnAsRoot, UnprivilegedChildCannotReadRootFiles) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  WriteFile(dir.File("secret"), "s");
  chmod(dir.File("secret").c_str(), 0600);
  SpawnOptions options = Shell("cat " + dir.File("secret"), dir.File("log"));
  options.credentials = Credentials{.uid = 65534, .gid = 65534, .groups = {}};
  chmod(dir.path().c_str(), 0755);
  auto [exit, log] = RunToEnd(options);
  EXPECT_EQ(exit.code, 1);
  EXPECT_THAT(log, HasSubstr("Permission denied"));
}

}  // namespace
}  // namespace qdirect::launch
