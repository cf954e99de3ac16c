#include "vm/console_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace qdirect::vm {

// Shared by the stream and its sessions, so a session outliving the stream
// (or the Machine) finds it closed instead of dangling.
struct ConsoleStream::Hub {
  EventLoop* loop = nullptr;
  UniqueFd fd;
  WatchId watch;
  std::optional<ConsoleLog> log;
  std::map<uint64_t, std::function<void(std::string_view)>> sessions;
  uint64_t next_session = 1;
  // First log write error; logging stops then, streaming goes on.
  absl::Status log_status;

  void Close() {
    if (watch.valid()) loop->Unwatch(watch);
    watch = {};
    fd.reset();
  }

  void OnReadable() {
    char buffer[16384];
    for (;;) {
      ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {  // EOF or error: QEMU is going away
        Close();
        return;
      }
      Deliver(std::string_view(buffer, static_cast<size_t>(n)));
      if (!fd) return;  // a callback tore things down
    }
  }

  void Deliver(std::string_view bytes) {
    if (log && log_status.ok()) log_status = log->Append(bytes);
    // A callback may detach itself or another session: walk a copy of the
    // ids and look each one up again.
    std::vector<uint64_t> ids;
    ids.reserve(sessions.size());
    for (const auto& [id, unused] : sessions) ids.push_back(id);
    for (uint64_t id : ids) {
      auto it = sessions.find(id);
      if (it == sessions.end()) continue;
      auto callback = it->second;  // survives the session's destruction
      callback(bytes);
    }
  }

  absl::Status Write(std::string_view bytes) {
    while (!bytes.empty()) {
      if (!fd) {
        return absl::FailedPreconditionError("console: closed (QEMU is gone)");
      }
      ssize_t n = ::write(fd.get(), bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Keystrokes are few; waiting here briefly beats queueing them.
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, 1000) == 0) {
          return absl::UnavailableError("console: guest not reading input");
        }
        continue;
      }
      if (n < 0) return absl::ErrnoToStatus(errno, "console: write");
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }
};

namespace {

class Session : public ConsoleSession {
 public:
  Session(std::weak_ptr<ConsoleStream::Hub> hub, uint64_t id)
      : hub_(std::move(hub)), id_(id) {}
  ~Session() override {
    if (auto hub = hub_.lock()) hub->sessions.erase(id_);
  }
  absl::Status Write(std::string_view bytes) override {
    auto hub = hub_.lock();
    if (!hub) return absl::FailedPreconditionError("console: machine is gone");
    return hub->Write(bytes);
  }

 private:
  std::weak_ptr<ConsoleStream::Hub> hub_;
  uint64_t id_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ConsoleStream>> ConsoleStream::Start(
    EventLoop* loop, UniqueFd socket, std::optional<ConsoleLog> log) {
  int flags = ::fcntl(socket.get(), F_GETFL);
  if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::ErrnoToStatus(errno, "console: set O_NONBLOCK");
  }
  auto hub = std::make_shared<Hub>();
  hub->loop = loop;
  hub->fd = std::move(socket);
  hub->log = std::move(log);
  Hub* raw = hub.get();
  ASSIGN_OR_RETURN(hub->watch,
                   loop->WatchFd(hub->fd.get(), kFdReadable,
                                 [raw](uint32_t) { raw->OnReadable(); }));
  return std::unique_ptr<ConsoleStream>(new ConsoleStream(std::move(hub)));
}

ConsoleStream::~ConsoleStream() {
  hub_->Close();
  hub_->sessions.clear();
}

bool ConsoleStream::open() const { return hub_->fd.valid(); }

absl::StatusOr<std::unique_ptr<ConsoleSession>> ConsoleStream::Attach(
    std::function<void(std::string_view)> on_output, bool replay) {
  if (replay && hub_->log) {
    ASSIGN_OR_RETURN(std::string retained, hub_->log->ReadAll());
    if (!retained.empty()) on_output(retained);
  }
  uint64_t id = hub_->next_session++;
  hub_->sessions.emplace(id, std::move(on_output));
  return std::unique_ptr<ConsoleSession>(new Session(hub_, id));
}

}  // namespace qdirect::vm
