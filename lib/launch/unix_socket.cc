#include "launch/unix_socket.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "launch/runtime_dir.h"

namespace qdirect::launch {
namespace {

absl::StatusOr<sockaddr_un> AddressOf(const std::string& path) {
  RETURN_IF_ERROR(CheckSocketPath(path));
  sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, path.data(), path.size());
  return address;
}

absl::StatusOr<UniqueFd> NewSocket(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("socket for ", path));
  return fd;
}

int ConnectTo(int fd, const sockaddr_un& address) {
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<const sockaddr*>(&address),
                 sizeof address);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

// A socket file at `path` whose server is gone (connect refused) may be
// unlinked; a live socket or a non-socket may not.
absl::Status RemoveStaleSocket(const std::string& path,
                               const sockaddr_un& address) {
  struct stat info;
  if (lstat(path.c_str(), &info) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", path, ": lstat"));
  }
  if (!S_ISSOCK(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bind ", path, ": exists and is not a socket; refusing to replace it"));
  }
  ASSIGN_OR_RETURN(UniqueFd probe, NewSocket(path));
  if (ConnectTo(probe.get(), address) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("bind ", path, ": a server is listening there"));
  }
  if (errno != ECONNREFUSED) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("bind ", path, ": probing the existing socket"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("bind ", path, ": unlink stale socket"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> BindListeningUnixSocket(const std::string& path,
                                                 const SocketAccess& access) {
  ASSIGN_OR_RETURN(sockaddr_un address, AddressOf(path));
  ASSIGN_OR_RETURN(UniqueFd fd, NewSocket(path));
  const sockaddr* raw = reinterpret_cast<const sockaddr*>(&address);
  if (bind(fd.get(), raw, sizeof address) != 0) {
    if (errno != EADDRINUSE) {
      return absl::ErrnoToStatus(errno, absl::StrCat("bind ", path));
    }
    RETURN_IF_ERROR(RemoveStaleSocket(path, address));
    if (bind(fd.get(), raw, sizeof address) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("bind ", path));
    }
  }
  // Until listen() nobody can connect, so setting the mode after bind leaves
  // no window (and needs no process-wide umask change).
  if (chmod(path.c_str(), access.mode) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  }
  if ((access.uid || access.gid) && chown(path.c_str(), access.uid.value_or(-1),
                                          access.gid.value_or(-1)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chown ", path));
  }
  if (listen(fd.get(), SOMAXCONN) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen ", path));
  }
  return fd;
}

absl::StatusOr<UniqueFd> ConnectUnixSocket(const std::string& path) {
  ASSIGN_OR_RETURN(sockaddr_un address, AddressOf(path));
  ASSIGN_OR_RETURN(UniqueFd fd, NewSocket(path));
  if (ConnectTo(fd.get(), address) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("connect ", path));
  }
  return fd;
}

absl::StatusOr<PeerCredentials> GetPeerCredentials(int fd) {
  struct ucred cred;
  socklen_t size = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("SO_PEERCRED on fd ", fd));
  }
  return PeerCredentials{.pid = cred.pid, .uid = cred.uid, .gid = cred.gid};
}

absl::Status CheckPeerIsRootOrOwner(int fd, uid_t owner) {
  ASSIGN_OR_RETURN(PeerCredentials peer, GetPeerCredentials(fd));
  if (peer.uid == 0 || peer.uid == owner) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("peer pid ", peer.pid, " uid ", peer.uid,
                   ": only root or uid ", owner, " may use this socket"));
}

absl::StatusOr<size_t> SendWithFds(int socket, std::span<const char> data,
                                   std::span<const int> fds) {
  if (data.empty()) {
    // A message without data bytes carries no ancillary data on stream sockets.
    return absl::InvalidArgumentError("send: fds need at least one data byte");
  }
  if (fds.size() > kMaxFdsPerMessage) {
    return absl::InvalidArgumentError(
        absl::StrCat("send: ", fds.size(), " fds, at most ", kMaxFdsPerMessage,
                     " per message"));
  }
  struct iovec iov = {const_cast<char*>(data.data()), data.size()};
  alignas(
      struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  struct msghdr message;
  memset(&message, 0, sizeof message);
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (!fds.empty()) {
    memset(control, 0, sizeof control);
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = sendmsg(socket, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("sendmsg on fd ", socket));
  return static_cast<size_t>(sent);
}

absl::StatusOr<size_t> ReceiveWithFds(int socket, std::span<char> buffer,
                                      std::vector<UniqueFd>* fds) {
  struct iovec iov = {buffer.data(), buffer.size()};
  alignas(
      struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)];
  struct msghdr message;
  memset(&message, 0, sizeof message);
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("recvmsg on fd ", socket));
  std::vector<UniqueFd> received;
  for (struct cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS)
      continue;
    const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
      received.emplace_back(fd);
    }
  }
  if (message.msg_flags & MSG_CTRUNC) {
    return absl::ResourceExhaustedError(
        absl::StrCat("recvmsg on fd ", socket, ": more than ",
                     kMaxFdsPerMessage, " fds in one message; dropped"));
  }
  for (UniqueFd& fd : received) fds->push_back(std::move(fd));
  return static_cast<size_t>(got);
}

}  // namespace qdirect::launch
