#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qdirect/unique_fd.h"

namespace qdirect::launch {

// Who may connect to a listening socket: the file's mode and, when set, its
// owner (e.g. the QEMU uid, or the user a control socket serves).
struct SocketAccess {
  mode_t mode = 0600;
  std::optional<uid_t> uid = std::nullopt;
  std::optional<gid_t> gid = std::nullopt;
};

// A SOCK_STREAM unix socket bound at `path` and listening. A socket file left
// by a dead server (connect refused) is replaced; a live one is AlreadyExists;
// anything that is not a socket is never unlinked (FailedPrecondition).
absl::StatusOr<UniqueFd> BindListeningUnixSocket(
    const std::string& path, const SocketAccess& access = {});

// A blocking SOCK_STREAM connection to `path`.
absl::StatusOr<UniqueFd> ConnectUnixSocket(const std::string& path);

// The peer's credentials as the kernel saw them at connect (SO_PEERCRED).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
absl::StatusOr<PeerCredentials> GetPeerCredentials(int fd);

// OK when the peer of `fd` is root or `owner`; PermissionDenied naming the
// peer otherwise. Control sockets call it on every accepted connection.
absl::Status CheckPeerIsRootOrOwner(int fd, uid_t owner);

// Most fds one message carries (SCM_MAX_FD is 253; we need a handful).
inline constexpr size_t kMaxFdsPerMessage = 16;

// Sends `data` (not empty) with `fds` attached (SCM_RIGHTS) in one sendmsg.
// The fds stay owned by the caller. Returns the bytes sent.
absl::StatusOr<size_t> SendWithFds(int socket, std::span<const char> data,
                                   std::span<const int> fds);

// Receives up to buffer.size() bytes and any fds sent with them (appended to
// *fds, close-on-exec). 0 bytes: the peer closed. Truncated fds (more than
// kMaxFdsPerMessage) are an error, with what did arrive closed.
absl::StatusOr<size_t> ReceiveWithFds(int socket, std::span<char> buffer,
                                      std::vector<UniqueFd>* fds);

}  // namespace qdirect::launch
