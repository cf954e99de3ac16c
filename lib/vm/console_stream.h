#pragma once

// ConsoleStream: the Machine's end of the serial console socket. It reads
// what the guest writes (from the loop), appends it to the ConsoleLog and
// hands it to every attached ConsoleSession; sessions write keystrokes back.
// QEMU drops console output while no client is connected (server=on,
// wait=off), so the Machine connects before the first `cont`.

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "qdirect/event_loop.h"
#include "qdirect/machine.h"
#include "qdirect/unique_fd.h"
#include "vm/console_log.h"

namespace qdirect::vm {

class ConsoleStream {
 public:
  // Watches the connected console `socket` on `loop` (which must outlive
  // this object); `log`, when set, keeps what is read.
  static absl::StatusOr<std::unique_ptr<ConsoleStream>> Start(
      EventLoop* loop, UniqueFd socket, std::optional<ConsoleLog> log);

  ConsoleStream(const ConsoleStream&) = delete;
  ConsoleStream& operator=(const ConsoleStream&) = delete;
  // Stops watching; attached sessions stay valid but their Write fails.
  ~ConsoleStream();

  // A new session; with replay, on_output first gets the retained log
  // (before this returns).
  absl::StatusOr<std::unique_ptr<ConsoleSession>> Attach(
      std::function<void(std::string_view)> on_output, bool replay);

  // Whether the socket is still open (QEMU closes it as it exits).
  bool open() const;

  struct Hub;

 private:
  explicit ConsoleStream(std::shared_ptr<Hub> hub) : hub_(std::move(hub)) {}
  std::shared_ptr<Hub> hub_;
};

}  // namespace qdirect::vm
