#include "launch/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace qdirect::launch {
namespace {

using ::qdirect::launch::testing::TempDir;
using ::qdirect::launch::testing::WriteFile;
using ::testing::HasSubstr;

UniqueFd Accept(int listener) {
  return UniqueFd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
}

TEST(UnixSocket, BindConnectAndPeerCredentials) {
  TempDir dir;
  const std::string path = dir.File("control.sock");
  absl::StatusOr<UniqueFd> listener =
      BindListeningUnixSocket(path, {.mode = 0660});
  ASSERT_TRUE(listener.ok()) << listener.status();
  struct stat info;
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0660u);

  absl::StatusOr<UniqueFd> client = ConnectUnixSocket(path);
  ASSERT_TRUE(client.ok()) << client.status();
  UniqueFd server = Accept(listener->get());
  ASSERT_TRUE(server);
  absl::StatusOr<PeerCredentials> peer = GetPeerCredentials(server.get());
  ASSERT_TRUE(peer.ok());
  EXPECT_EQ(peer->pid, getpid());
  EXPECT_EQ(peer->uid, geteuid());
  EXPECT_EQ(peer->gid, getegid());
}

TEST(UnixSocket, StaleSocketIsReplacedLiveOneIsNot) {
  TempDir dir;
  const std::string path = dir.File("qmp.sock");
  {
    absl::StatusOr<UniqueFd> dead = BindListeningUnixSocket(path);
    ASSERT_TRUE(dead.ok());
  }  // closed: the file stays, nobody listens
  absl::StatusOr<UniqueFd> live = BindListeningUnixSocket(path);
  ASSERT_TRUE(live.ok()) << live.status();
  absl::StatusOr<UniqueFd> second = BindListeningUnixSocket(path);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(UnixSocket, NeverReplacesANonSocket) {
  TempDir dir;
  const std::string path = dir.File("disk.img");
  WriteFile(path, "precious");
  absl::Status status = BindListeningUnixSocket(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("is not a socket"));
  EXPECT_EQ(testing::ReadFile(path), "precious");
}

TEST(UnixSocket, TooLongPathIsRefusedBeforeBind) {
  const std::string path = "/tmp/" + std::string(110, 's');
  absl::Status status = BindListeningUnixSocket(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("115 bytes long"));
  EXPECT_EQ(ConnectUnixSocket(path).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UnixSocket, ConnectToNothingNamesThePath) {
  absl::Status status = ConnectUnixSocket("/nonexistent/x.sock").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("connect /nonexistent/x.sock"));
}

TEST(UnixSocket, FdsTravelWithData) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  TempDir dir;
  WriteFile(dir.File("payload"), "through the socket");
  UniqueFd file(open(dir.File("payload").c_str(), O_RDONLY | O_CLOEXEC));
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  const int to_send[] = {file.get(), pipe_write.get()};
  ASSERT_EQ(*SendWithFds(a.get(), std::span<const char>("hi", 2), to_send), 2u);

  char buffer[16];
  std::vector<UniqueFd> received;
  absl::StatusOr<size_t> got = ReceiveWithFds(b.get(), buffer, &received);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(std::string(buffer, *got), "hi");
  ASSERT_EQ(received.size(), 2u);
  char text[32] = {};
  ASSERT_GT(pread(received[0].get(), text, sizeof text - 1, 0), 0);
  EXPECT_EQ(std::string(text), "through the socket");
  EXPECT_EQ(fcntl(received[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(write(received[1].get(), "x", 1), 1);
  char x;
  ASSERT_EQ(read(pipe_read.get(), &x, 1), 1);
  EXPECT_EQ(x, 'x');
}

TEST(UnixSocket, PeerCheckAllowsRootOrOwnerOnly) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  TempDir dir;
  chmod(dir.path().c_str(), 0755);
  const std::string path = dir.File("control.sock");
  absl::StatusOr<UniqueFd> listener =
      BindListeningUnixSocket(path, {.mode = 0666});
  ASSERT_TRUE(listener.ok());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0)
      _exit(1);
    absl::StatusOr<UniqueFd> client = ConnectUnixSocket(path);
    char byte;
    // Wait for the server to close us.
    _exit(client.ok() && read(client->get(), &byte, 1) == 0 ? 0 : 2);
  }
  UniqueFd server = Accept(listener->get());
  ASSERT_TRUE(server);
  EXPECT_TRUE(CheckPeerIsRootOrOwner(server.get(), 65534).ok());
  absl::Status refused = CheckPeerIsRootOrOwner(server.get(), 1000);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("uid 65534: only root or uid 1000"));
  server.reset();
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace qdirect::launch
