#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qdirect/event_loop.h"
#include "qdirect/unique_fd.h"
#include "rapidjson/document.h"

namespace qdirect::qmp {

// Type URL of the Status payload that carries QEMU's error class.
inline constexpr std::string_view kErrorClassPayloadUrl = "qdirect.dev/qmp-error-class";

// QEMU's error class ("GenericError", "DeviceNotFound", ...) of a status
// returned for a QMP error reply; nullopt for any other status.
std::optional<std::string> QmpErrorClass(const absl::Status& status);

// The status for an error reply: message "qmp: <command>: <Class>: <desc>",
// the class as payload, and the code:
//   CommandNotFound -> kUnimplemented    DeviceNotFound -> kNotFound
//   DeviceNotActive -> kFailedPrecondition  KVMMissingCap -> kUnimplemented
//   GenericError (mostly "not in this state", "already ...", bad argument
//   values) -> kFailedPrecondition     any other class -> kUnknown
absl::Status ErrorReplyStatus(std::string_view command, std::string_view error_class,
                              std::string_view desc);

// An asynchronous event from QEMU.
struct Event {
  std::string name;          // "STOP", "DEVICE_DELETED", ...
  absl::Time timestamp;      // QEMU's, InfinitePast if absent
  rapidjson::Document data;  // always an object ({} when QEMU sent none)
};

// Chooses events: by name, and by data when predicate is set.
struct EventMatcher {
  std::string name;
  std::function<bool(const rapidjson::Value& data)> predicate;

  bool Matches(const Event& event) const;
  // DEVICE_DELETED for the device with this id (ignores the id-less
  // ".../virtio-backend" event QEMU 7.2 sends first).
  static EventMatcher DeviceDeleted(std::string device_id);
};

// A successful reply.
struct Reply {
  rapidjson::Document value;   // the "return" member
  std::optional<Event> event;  // the event that completed the call, if asked
};

struct ExecuteOptions {
  // Default: CommandTimeout(command, client options).
  std::optional<absl::Duration> timeout;
  // Sent as exec-oob when QEMU offered the `oob` capability (the client
  // then enables it): QEMU runs it at once on its monitor thread, even
  // while its main thread is blocked (say, on a guest page that a broken
  // postcopy keeps from arriving), and it does not wait behind in-band
  // calls. Only for commands QEMU marks allow-oob (migrate-recover,
  // migrate-pause, yank). In-band when QEMU did not offer it, or when sent
  // before the handshake completed.
  bool out_of_band = false;
  // Sent with the command's bytes (SCM_RIGHTS), for getfd / add-fd.
  std::vector<UniqueFd> fds;
  // When set, the call succeeds only once the reply has succeeded AND a
  // matching event has arrived. The matcher is in place before the command
  // is sent, so an event racing the reply is not missed.
  std::optional<EventMatcher> complete_on_event;
};

struct ClientOptions {
  absl::Duration greeting_timeout = absl::Seconds(10);
  // query-* and everything not listed as long.
  absl::Duration short_timeout = absl::Seconds(5);
  // device_add/del, stop, cont, migrate*, block jobs, ...
  absl::Duration long_timeout = absl::Seconds(60);
  // QEMU queues at most 8 in-band commands; more are queued here.
  size_t max_in_flight = 8;
  // Enable QMP's `oob` capability when QEMU offers it (ExecuteOptions::
  // out_of_band needs it; in-band commands behave the same either way).
  bool enable_oob = true;
  size_t max_message_bytes = 10 * 1024 * 1024;
};

// The timeout a command gets when ExecuteOptions::timeout is not set.
absl::Duration CommandTimeout(std::string_view command, const ClientOptions& options);

// query-status
struct StatusInfo {
  bool running = false;
  std::string status;  // QEMU's RunState: "running", "paused", "prelaunch", ...
};
// query-version
struct VersionInfo {
  int major = 0;
  int minor = 0;
  int micro = 0;
  std::string package;
};
absl::StatusOr<StatusInfo> ParseStatusInfo(const rapidjson::Value& value);
absl::StatusOr<VersionInfo> ParseVersionInfo(const rapidjson::Value& value);

// Identifies an asynchronous call for Cancel(); never reused.
struct CallId {
  uint64_t value = 0;
};
struct SubscriptionId {
  uint64_t value = 0;
};

// QmpClient speaks QMP over a connected unix socket, driven by an EventLoop.
// Many calls may be in flight; replies are matched by id ("qd-<n>").
//
// Reply and event callbacks run from the loop after the read that produced
// them, in arrival order; never from inside Execute/Cancel/Subscribe (only
// from the loop, which the blocking methods run). A callback may destroy the
// client. Not thread-safe (the loop's thread only).
//
// Failures of a call, by code: an error reply -> see ErrorReplyStatus;
// timeout -> kDeadlineExceeded; Cancel -> kCancelled; EOF -> kUnavailable
// "qmp: <command>: connection closed by QEMU"; protocol error (bad JSON,
// oversized or too deep message, unknown reply id, reply with neither return
// nor error) -> kInternal. EOF and protocol errors close the session and
// fail every pending call at once; a call that timed out or was cancelled
// leaves the session usable and its late reply is dropped.
class QmpClient {
 public:
  using ReplyCallback = std::function<void(absl::StatusOr<Reply>)>;
  using EventCallback = std::function<void(const Event&)>;

  // Starts the handshake (greeting, qmp_capabilities) and returns at once;
  // calls made meanwhile wait for it. loop must outlive the client.
  static absl::StatusOr<std::unique_ptr<QmpClient>> Create(EventLoop* loop, UniqueFd socket,
                                                           ClientOptions options = {});
  // Create, then runs the loop until the handshake completed.
  static absl::StatusOr<std::unique_ptr<QmpClient>> Connect(EventLoop* loop, UniqueFd socket,
                                                            ClientOptions options = {});

  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;
  ~QmpClient();

  // Runs the loop until the handshake completed (or failed).
  absl::Status WaitReady(absl::Time deadline = absl::InfiniteFuture());
  bool ready() const;
  // OK while open; why it closed otherwise.
  absl::Status closed_status() const;
  // The greeting's QEMU version (zero before the greeting).
  const VersionInfo& qemu_version() const;

  // args: nullptr or an object. The callback runs exactly once.
  CallId Execute(std::string_view command, const rapidjson::Value* args, ExecuteOptions options,
                 ReplyCallback callback);
  // Fails the call with kCancelled (its callback runs later, from the loop).
  // No-op for a finished call.
  void Cancel(CallId id);
  // Runs the loop until the reply. Not from inside a loop callback.
  absl::StatusOr<Reply> CallSync(std::string_view command, const rapidjson::Value* args = nullptr,
                                 ExecuteOptions options = {});

  SubscriptionId Subscribe(EventMatcher matcher, EventCallback callback);
  void Unsubscribe(SubscriptionId id);

  // Typed commands (blocking).
  absl::StatusOr<StatusInfo> QueryStatus();
  absl::StatusOr<VersionInfo> QueryVersion();
  absl::Status Stop();
  absl::Status Cont();
  absl::Status SystemPowerdown();
  absl::Status SystemReset();
  // Succeeds when QEMU answered, or closed the connection as it exits.
  absl::Status Quit();
  // Hands fd to QEMU under fdname (for later "fd=fdname" / "fdname" args).
  absl::Status GetFd(std::string_view fdname, UniqueFd fd);

 private:
  class Impl;
  explicit QmpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qdirect::qmp
