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
#include "qdirect/vmi_status.h"
#include "rapidjson/document.h"

namespace qdirect::agent {

// The virtio-serial port name qemu-ga listens on.
inline constexpr std::string_view kChannelName = "org.qemu.guest_agent.0";

struct AgentOptions {
  // One guest-sync-delimited handshake; on expiry the client reports
  // disconnected and tries again after retry_interval.
  absl::Duration sync_timeout = absl::Seconds(3);
  // Between failed connects or syncs (the guest may not run qemu-ga yet).
  absl::Duration retry_interval = absl::Seconds(1);
  // A command's timeout when the call does not give one; counted from the
  // call, so it includes waiting for the channel to be in sync.
  absl::Duration command_timeout = absl::Seconds(10);
  // An idle, connected client pings this often so that a guest reboot (a
  // stalled channel) is noticed; zero turns it off.
  absl::Duration keepalive_interval = absl::Seconds(10);
  // guest-exec-status polling: first interval, doubled up to the maximum.
  absl::Duration exec_poll_initial = absl::Milliseconds(5);
  absl::Duration exec_poll_max = absl::Milliseconds(200);
  // How long a guest-exec may run when ExecRequest::timeout is not set.
  absl::Duration exec_timeout = absl::Seconds(60);
  // qemu-ga answers a successful guest-shutdown with nothing: no error
  // within this long counts as success.
  absl::Duration shutdown_grace = absl::Seconds(1);
  // qemu-ga caps captured output at 16 MiB; base64 and JSON add a third.
  size_t max_message_bytes = 24 * 1024 * 1024;
};

// Opens a new connection to the agent channel. The client calls it at start
// and again after every hang-up.
using Connector = std::function<absl::StatusOr<UniqueFd>()>;
// Connects to the unix socket QEMU serves for the channel
// (-chardev socket,path=...,server=on,wait=off).
Connector UnixSocketConnector(std::string path);

// guest-info
struct AgentCommandInfo {
  std::string name;
  bool enabled = false;
  bool success_response = false;
};
struct AgentInfo {
  std::string version;
  std::vector<AgentCommandInfo> supported_commands;
};

// guest-network-get-interfaces
struct IpAddress {
  std::string type;     // "ipv4" | "ipv6"
  std::string address;
  int prefix = 0;
};
// The guest's counters of one interface (qemu-ga 7.2 and later).
struct InterfaceStatistics {
  int64_t rx_bytes = 0, rx_packets = 0, rx_errs = 0, rx_dropped = 0;
  int64_t tx_bytes = 0, tx_packets = 0, tx_errs = 0, tx_dropped = 0;
};
struct NetworkInterface {
  std::string name;
  std::string hardware_address;  // empty when the guest gave none
  std::vector<IpAddress> ip_addresses;
  std::optional<InterfaceStatistics> statistics;  // absent from older qemu-ga
};

// guest-get-fsinfo
struct FsDisk {
  std::string serial;
  std::string bus_type;
  std::string dev;
};
struct Filesystem {
  std::string name;
  std::string mountpoint;
  std::string type;
  std::optional<uint64_t> used_bytes;
  std::optional<uint64_t> total_bytes;
  std::vector<FsDisk> disks;
};

// guest-get-users
struct GuestUser {
  std::string user;
  std::string domain;
  double login_time = 0;  // seconds since the epoch
};

// guest-exec
struct ExecRequest {
  std::string path;
  std::vector<std::string> args;  // argv[1..]
  std::vector<std::string> env;   // "NAME=value"
  std::optional<std::string> input;  // fed to stdin
  bool capture_output = true;
  // Until the process has exited; AgentOptions::exec_timeout when unset.
  std::optional<absl::Duration> timeout;
};
// guest-exec-status
struct ExecStatus {
  bool exited = false;
  int exit_code = 0;
  std::optional<int> signal;  // set when a signal ended the process
  std::string out;            // decoded out-data
  std::string err;            // decoded err-data
  bool out_truncated = false;
  bool err_truncated = false;
};

enum class ShutdownMode { kPowerdown, kReboot, kHalt };

// guest-file-*
using FileHandle = int64_t;
struct FileChunk {
  std::string data;
  bool eof = false;
};

// Parsers of qemu-ga's "return" values (pure; exposed for tests).
absl::StatusOr<AgentInfo> ParseAgentInfo(const rapidjson::Value& value);
absl::StatusOr<GuestOsInfo> ParseOsInfo(const rapidjson::Value& value);
absl::StatusOr<std::vector<NetworkInterface>> ParseNetworkInterfaces(const rapidjson::Value& value);
absl::StatusOr<std::vector<Filesystem>> ParseFsInfo(const rapidjson::Value& value);
absl::StatusOr<std::vector<GuestUser>> ParseUsers(const rapidjson::Value& value);
absl::StatusOr<ExecStatus> ParseExecStatus(const rapidjson::Value& value);

// The status for a qemu-ga error reply: "agent: <command>: <Class>: <desc>",
// the code as for QMP, and the class readable with qmp::QmpErrorClass().
absl::Status AgentErrorStatus(std::string_view command, std::string_view error_class,
                              std::string_view desc);

// AgentClient talks to qemu-ga over the guest agent channel, driven by an
// EventLoop. qemu-ga has no greeting and no reply ids, and a stale reply may
// sit in the channel, so every (re)connection and every timed-out command is
// followed by a guest-sync-delimited handshake; commands go one at a time,
// the rest wait in a queue. Until the handshake succeeds (the guest may not
// run qemu-ga yet) the client retries on a timer and reports disconnected.
//
// Callbacks run from the loop, never from inside a method of this class, and
// each exactly once (with kCancelled when the client is destroyed first).
// Not thread-safe: the loop's thread only.
class AgentClient {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;
  using DoneCallback = std::function<void(absl::Status)>;
  // Called on every change: true once in sync, false when the channel hung
  // up or stopped answering.
  using StatusCallback = std::function<void(bool connected)>;

  // Starts connecting and returns at once. loop must outlive the client.
  static absl::StatusOr<std::unique_ptr<AgentClient>> Create(EventLoop* loop, Connector connector,
                                                             AgentOptions options = {});

  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;
  ~AgentClient();

  void SetStatusCallback(StatusCallback callback);
  // Stops for good (the VM is gone): hangs up, fails every waiting call and
  // every later one with FailedPrecondition naming `reason`, and never
  // reconnects.
  void Close(std::string_view reason);
  bool connected() const;
  // Runs the loop until in sync; kDeadlineExceeded at deadline.
  absl::Status WaitConnected(absl::Time deadline);

  // Any command. args: nullptr or an object. The callback gets the
  // "return" value. timeout: AgentOptions::command_timeout when unset.
  void Execute(std::string_view command, const rapidjson::Value* args,
               Callback<rapidjson::Document> callback,
               std::optional<absl::Duration> timeout = std::nullopt);

  // Asynchronous typed commands.
  void PingAsync(DoneCallback callback);
  void GetInfoAsync(Callback<AgentInfo> callback);
  void GetOsInfoAsync(Callback<GuestOsInfo> callback);
  void GetNetworkInterfacesAsync(Callback<std::vector<NetworkInterface>> callback);
  void GetFsInfoAsync(Callback<std::vector<Filesystem>> callback);
  void GetUsersAsync(Callback<std::vector<GuestUser>> callback);
  // guest-exec, then guest-exec-status on a timer until the process exited.
  void ExecAsync(ExecRequest request, Callback<ExecStatus> callback);
  // Succeeds when qemu-ga accepted the request (no error reply within
  // shutdown_grace, or the channel went away).
  void ShutdownAsync(ShutdownMode mode, DoneCallback callback);

  // Blocking conveniences: run the loop until the answer. Not from inside a
  // loop callback.
  absl::StatusOr<rapidjson::Document> CallSync(std::string_view command,
                                               const rapidjson::Value* args = nullptr,
                                               std::optional<absl::Duration> timeout = std::nullopt);
  absl::Status Ping();
  absl::StatusOr<AgentInfo> GetInfo();
  absl::StatusOr<GuestOsInfo> GetOsInfo();
  absl::StatusOr<std::vector<NetworkInterface>> GetNetworkInterfaces();
  absl::StatusOr<std::vector<Filesystem>> GetFsInfo();
  absl::StatusOr<std::vector<GuestUser>> GetUsers();
  absl::StatusOr<ExecStatus> Exec(ExecRequest request);
  absl::Status Shutdown(ShutdownMode mode);
  // guest-file-*: mode as fopen(3) ("r", "w", "a+", ...).
  absl::StatusOr<FileHandle> FileOpen(std::string_view path, std::string_view mode);
  absl::StatusOr<FileChunk> FileRead(FileHandle handle, int64_t count);
  absl::StatusOr<int64_t> FileWrite(FileHandle handle, std::string_view data);
  absl::Status FileClose(FileHandle handle);

 private:
  class Impl;
  explicit AgentClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qdirect::agent
