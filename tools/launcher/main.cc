// qdirect-launcher --manifest FILE [--name N] [--ready-fd N]
//                  [--runtime-root DIR] [--incoming URI --migration-options JSON]
//                  [--hotplugged FILE]
//
// One process per VM, the virt-launcher of this stack: starts the Machine on
// its own EventLoop, serves <vm runtime dir>/control.sock (lib/kube's control
// protocol) and exits once the VM's phase is final, answering what is
// pending first; the Machine removes the runtime dir. Readiness goes to the
// parent through --ready-fd: "ok\n" once Running, or "error: <message>\n"
// (and a non-zero exit). SIGTERM or SIGINT stops the VM with its grace
// period.
// Live migration: a `migrate` request migrates the VM away (the control
// socket keeps serving status, migration_progress and migrate_cancel while
// it runs; the launcher exits once the VM runs on the target). With
// --incoming the launcher is a migration target: ready ("ok") once QEMU
// listens on URI, then it waits for the stream, and only then serves the
// control socket (so that the VM's name reaches the source until the end).
// The manifest is copied to <runtime dir>/vmi.yaml and the devices hot-plugged
// since start are kept in <runtime dir>/hotplugged.json, so that `vmctl
// migrate` can start a target with the same spec and device layout
// (--hotplugged FILE: those devices are cold-plugged at start).

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kube/control_protocol.h"
#include "launch/startup_pages.h"
#include "launch/unix_socket.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/hotplug.h"
#include "qdirect/machine.h"
#include "qdirect/migration.h"
#include "qdirect/qmp.h"
#include "qdirect/unique_fd.h"
#include "qdirect/vmi_status.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tools/vmctl/manifest_file.h"
#include "vm/console_log.h"

namespace qdirect::launcher {
namespace {

constexpr char kUsage[] =
    "usage: qdirect-launcher --manifest FILE [--name NAME] [--ready-fd N]\n"
    "         [--runtime-root DIR] [--incoming URI [--migration-options JSON]]\n"
    "         [--hotplugged FILE]\n";
// How often a migration target waiting for its stream looks at signals.
constexpr absl::Duration kIncomingPoll = absl::Seconds(1);
// The copy of the manifest in the runtime dir (for a migration target).
constexpr char kManifestCopy[] = "vmi.yaml";
// The devices hot-plugged so far (DeviceEntriesToJson), kept current in the
// runtime dir: a migration target starts with them (--hotplugged).
constexpr char kHotpluggedFile[] = "hotplugged.json";
// A console client that reads slower than the guest writes loses output
// beyond this much, rather than growing our memory.
constexpr size_t kMaxConsoleBacklog = 1 << 20;
// Clients beyond this many at once are refused: each holds buffers.
constexpr size_t kMaxConnections = 64;
// After the final phase, how long QEMU may take to exit on its own.
constexpr absl::Duration kQemuExit = absl::Seconds(10);
// After the VM ended, how long clients get to read their answers.
constexpr absl::Duration kFinalFlush = absl::Seconds(5);
// Control requests (status, hotplug, migration ...) fault code back in;
// this long after the last connection it leaves the resident set again.
constexpr absl::Duration kIdleRelease = absl::Seconds(30);

void WriteLine(int fd, const std::string& line) {
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

struct Connection {
  UniqueFd fd;
  WatchId watch;
  std::string in;
  std::string out;
  // A request is being served; further lines wait.
  bool busy = false;
  bool close_after_flush = false;
  // After console_attach's answer: raw console bytes both ways.
  bool console_mode = false;
  std::unique_ptr<vm::ConsoleSession> console;
};

kube::ControlResponse ErrorResponse(absl::Status error) {
  kube::ControlResponse response;
  response.error = std::move(error);
  return response;
}

kube::ControlResponse StatusResponse(VmiStatus status) {
  kube::ControlResponse response;
  response.status = std::move(status);
  return response;
}

class Launcher {
 public:
  Launcher(EventLoop* loop, vm::Machine* machine)
      : loop_(loop), machine_(machine) {
    // An unplug the guest completes late changes the devices too. The
    // Machine may outlive us: the callback checks that we are still here.
    std::weak_ptr<bool> alive = alive_;
    machine_->OnStatusChange([this, alive](const VmiStatus&) {
      if (!alive.expired()) (void)SaveHotplugged();
    });
  }
  ~Launcher() {
    CloseAll();
    if (release_timer_.valid()) loop_->CancelTimer(release_timer_);
  }

  // Drops what only starting the VM or serving a request needed from the
  // resident set (launch/startup_pages.h); a failure costs only memory.
  static void ReleasePages() {
    if (absl::StatusOr<launch::ReleasedPages> released = launch::ReleaseStartupPages();
        !released.ok()) {
      std::fprintf(stderr, "qdirect-launcher: %s\n",
                   std::string(released.status().message()).c_str());
    }
  }

  // Writes <runtime dir>/hotplugged.json when the hot-plugged devices
  // changed since the last write (new file, then rename: a reader never
  // sees half of it).
  absl::Status SaveHotplugged() {
    const std::string json = DeviceEntriesToJson(machine_->HotpluggedDevices());
    if (json == saved_hotplugged_) return absl::OkStatus();
    const std::string path = absl::StrCat(machine_->runtime_dir(), "/", kHotpluggedFile);
    const std::string temp = path + ".new";
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                       0600));
    if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat(temp, ": open"));
    WriteLine(fd.get(), json);
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": rename"));
    }
    saved_hotplugged_ = json;
    return absl::OkStatus();
  }

  absl::Status Listen() {
    const std::string path =
        absl::StrCat(machine_->runtime_dir(), "/",
                     std::string(kube::kControlSocketName));
    absl::StatusOr<UniqueFd> listener =
        launch::BindListeningUnixSocket(path, launch::SocketAccess{});  // 0600
    if (!listener.ok()) return listener.status();
    listener_ = std::move(*listener);
    absl::StatusOr<WatchId> watch = loop_->WatchFd(
        listener_.get(), kFdReadable, [this](uint32_t) { Accept(); });
    if (!watch.ok()) return watch.status();
    listen_watch_ = *watch;
    return absl::OkStatus();
  }

  // Runs until the VM's phase is final, serving requests; a stop signal
  // starts the stop policy.
  void Serve(const bool* signalled) {
    bool stop_started = false;
    for (;;) {
      (void)loop_->RunUntil([&] {
        return !queue_.empty() || Final() || (*signalled && !stop_started);
      });
      if (*signalled && !stop_started) {
        stop_started = true;
        (void)machine_->Shutdown();
      }
      while (!queue_.empty()) {
        auto [id, request] = std::move(queue_.front());
        queue_.pop_front();
        Complete(id, RunBlocking(request));
      }
      if (Final()) break;
    }
    // The guest ended it: QEMU follows shortly (quit after SHUTDOWN); let it
    // exit on its own rather than be killed by the Machine's destructor.
    (void)loop_->RunUntil(
        [&] { return machine_->Status().qdirect.qemu_pid == 0; },
        absl::Now() + kQemuExit);
    // Answers still being written go out before we leave.
    (void)loop_->RunUntil(
        [&] {
          for (const auto& [id, conn] : conns_) {
            if (!conn->out.empty() && !conn->console_mode) return false;
          }
          return true;
        },
        absl::Now() + kFinalFlush);
  }

  void CloseAll() {
    while (!conns_.empty()) Close(conns_.begin()->first);
    if (listen_watch_.valid()) loop_->Unwatch(listen_watch_);
    listen_watch_ = {};
    listener_.reset();
  }

 private:
  bool Final() const { return IsFinal(machine_->Status().phase); }

  void Accept() {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (absl::Status st = launch::CheckPeerIsRootOrOwner(fd.get(), geteuid());
        !st.ok()) {
      WriteLine(fd.get(), kube::EncodeResponse(ErrorResponse(st)));
      return;
    }
    if (conns_.size() >= kMaxConnections) {
      WriteLine(fd.get(), kube::EncodeResponse(ErrorResponse(
                              absl::ResourceExhaustedError(absl::StrCat(
                                  "launcher: more than ", kMaxConnections,
                                  " control connections")))));
      return;
    }
    if (release_timer_.valid()) loop_->CancelTimer(release_timer_);
    release_timer_ = loop_->AddTimer(kIdleRelease, [this] {
      release_timer_ = {};
      ReleasePages();
    });
    const uint64_t id = ++next_id_;
    auto conn = std::make_unique<Connection>();
    conn->fd = std::move(fd);
    absl::StatusOr<WatchId> watch = loop_->WatchFd(
        conn->fd.get(), kFdReadable, [this, id](uint32_t events) {
          OnEvents(id, events);
        });
    if (!watch.ok()) return;
    conn->watch = *watch;
    conns_[id] = std::move(conn);
  }

  Connection* Find(uint64_t id) {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : it->second.get();
  }

  void Close(uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    if (it->second->watch.valid()) loop_->Unwatch(it->second->watch);
    conns_.erase(it);  // the console session detaches with it
  }

  void OnEvents(uint64_t id, uint32_t events) {
    Connection* conn = Find(id);
    if (conn == nullptr) return;
    if (events & kFdWritable) {
      if (!Flush(id)) return;
    }
    if (events & (kFdReadable | kFdHangup | kFdError)) {
      char buffer[16384];
      ssize_t n = ::read(conn->fd.get(), buffer, sizeof buffer);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) {
        Close(id);
        return;
      }
      std::string_view bytes(buffer, static_cast<size_t>(n));
      if (conn->console_mode) {
        if (conn->console) (void)conn->console->Write(bytes);
        return;
      }
      if (conn->close_after_flush) return;
      conn->in.append(bytes);
      ProcessInput(id);
    }
  }

  // Serves complete request lines while no request is in flight.
  void ProcessInput(uint64_t id) {
    Connection* conn = Find(id);
    while (conn != nullptr && !conn->busy && !conn->console_mode &&
           !conn->close_after_flush) {
      const size_t newline = conn->in.find('\n');
      if (newline == std::string::npos) {
        if (conn->in.size() > kube::kMaxRequestBytes) {
          conn->close_after_flush = true;
          Send(id, ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
                       "request: longer than the limit of ",
                       kube::kMaxRequestBytes, " bytes"))));
        }
        return;
      }
      const std::string line = conn->in.substr(0, newline);
      conn->in.erase(0, newline + 1);
      absl::StatusOr<kube::ControlRequest> request = kube::DecodeRequest(line);
      if (!request.ok()) {
        Send(id, ErrorResponse(request.status()));
      } else {
        Dispatch(id, std::move(*request));
      }
      conn = Find(id);
    }
  }

  void Dispatch(uint64_t id, kube::ControlRequest request) {
    Connection* conn = Find(id);
    if (std::holds_alternative<kube::StatusRequest>(request)) {
      Send(id, StatusResponse(machine_->Status()));
    } else if (std::holds_alternative<kube::ConsoleLogRequest>(request)) {
      kube::ControlResponse response;
      absl::StatusOr<std::string> log = vm::ReadConsoleLog(
          absl::StrCat(machine_->runtime_dir(), "/console.log"));
      if (log.ok()) {
        response.console_log = std::move(*log);
      } else {
        response.error = log.status();
      }
      Send(id, response);
    } else if (std::holds_alternative<kube::ConsoleAttachRequest>(request)) {
      AttachConsole(id);
    } else if (std::holds_alternative<kube::MigrateCancelRequest>(request)) {
      // Answered at once: the migration runs the loop we are called from.
      kube::ControlResponse response;
      response.error = machine_->CancelMigration();
      if (response.error.ok()) response.status = machine_->Status();
      Send(id, response);
    } else if (std::holds_alternative<kube::MigrationProgressRequest>(request)) {
      kube::ControlResponse response;
      if (last_progress_) {
        response.migration_progress = *last_progress_;
      } else {
        response.error = absl::NotFoundError(
            "migration progress: no migration has run in this launcher");
      }
      Send(id, response);
    } else {
      // Machine's blocking calls run the loop: not from inside a callback.
      conn->busy = true;
      queue_.emplace_back(id, std::move(request));
    }
  }

  void AttachConsole(uint64_t id) {
    Connection* conn = Find(id);
    // Output is only queued here: writing could close the connection, and
    // with it the session, from inside the session's own callback.
    absl::StatusOr<std::unique_ptr<vm::ConsoleSession>> session =
        machine_->AttachConsole(
            [this, id](std::string_view bytes) {
              Connection* c = Find(id);
              if (c == nullptr || c->out.size() > kMaxConsoleBacklog) return;
              c->out.append(bytes);
              (void)loop_->UpdateWatch(c->watch, kFdReadable | kFdWritable);
            },
            /*replay=*/false);
    if (!session.ok()) {
      conn->close_after_flush = true;
      Send(id, ErrorResponse(session.status()));
      return;
    }
    conn->out += kube::EncodeResponse(kube::ControlResponse{});
    conn->console_mode = true;
    conn->console = std::move(*session);
    (void)Flush(id);
  }

  kube::ControlResponse RunBlocking(const kube::ControlRequest& request) {
    kube::ControlResponse response;
    absl::Status st;
    bool with_status = true;
    if (std::holds_alternative<kube::PauseRequest>(request)) {
      st = machine_->Pause();
    } else if (std::holds_alternative<kube::UnpauseRequest>(request)) {
      st = machine_->Unpause();
    } else if (std::holds_alternative<kube::ResetRequest>(request)) {
      st = machine_->Reset();
    } else if (std::holds_alternative<kube::SoftRebootRequest>(request)) {
      st = machine_->SoftReboot();
    } else if (const auto* stop = std::get_if<kube::StopRequest>(&request)) {
      std::optional<absl::Duration> grace;
      if (stop->grace_seconds) grace = absl::Seconds(*stop->grace_seconds);
      st = machine_->Shutdown(grace);
    } else if (std::holds_alternative<kube::KillRequest>(request)) {
      st = machine_->Kill();
    } else if (const auto* qmp = std::get_if<kube::QmpRequest>(&request)) {
      with_status = false;
      st = RunQmp(*qmp, &response);
    } else if (std::holds_alternative<kube::StatsRequest>(request)) {
      with_status = false;
      absl::StatusOr<VmStats> stats = machine_->Stats();
      st = stats.status();
      if (stats.ok()) response.stats = VmStatsToJson(*stats, /*pretty=*/false);
    } else if (std::optional<absl::Status> hotplug = RunHotplug(request, &response)) {
      st = *hotplug;
      // Also after a failure: a pending unplug may have completed meanwhile.
      if (absl::Status saved = SaveHotplugged(); st.ok()) st = saved;
    } else if (const auto* migrate = std::get_if<kube::MigrateRequest>(&request)) {
      absl::StatusOr<MigrationProgress> done = machine_->Migrate(
          migrate->uri, migrate->options,
          [this](const MigrationProgress& p) { last_progress_ = p; });
      if (done.ok()) {
        last_progress_ = *done;
        response.migration_progress = *done;
      }
      st = done.status();
    } else {
      with_status = false;
      st = RunAgent(request, &response);
    }
    response.error = st;
    if (st.ok() && with_status) response.status = machine_->Status();
    return response;
  }

  absl::Status RunQmp(const kube::QmpRequest& request,
                      kube::ControlResponse* response) {
    absl::StatusOr<qmp::QmpClient*> client = machine_->Qmp();
    if (!client.ok()) return client.status();
    rapidjson::Document args;
    if (!request.arguments.empty()) {
      args.Parse(request.arguments.data(), request.arguments.size());
      if (args.HasParseError() || !args.IsObject()) {
        return absl::InvalidArgumentError("qmp: arguments: not a JSON object");
      }
    }
    absl::StatusOr<qmp::Reply> reply = (*client)->CallSync(
        request.command, request.arguments.empty() ? nullptr : &args);
    if (!reply.ok()) return reply.status();
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    reply->value.Accept(writer);
    response->qmp_return = std::string(buffer.GetString(), buffer.GetSize());
    return absl::OkStatus();
  }

  // The hotplug requests; nullopt for any other.
  std::optional<absl::Status> RunHotplug(const kube::ControlRequest& request,
                                         kube::ControlResponse* response) {
    absl::StatusOr<HotplugResult> result;
    if (const auto* r = std::get_if<kube::AddVolumeRequest>(&request)) {
      absl::StatusOr<VolumeHotplug> volume = kube::ToVolumeHotplug(*r);
      result = volume.ok() ? machine_->AddVolume(*volume) : volume.status();
    } else if (const auto* r = std::get_if<kube::RemoveVolumeRequest>(&request)) {
      result = machine_->RemoveVolume(r->name);
    } else if (const auto* r = std::get_if<kube::AddInterfaceRequest>(&request)) {
      absl::StatusOr<InterfaceHotplug> nic = kube::ToInterfaceHotplug(*r);
      result = nic.ok() ? machine_->AddInterface(*nic) : nic.status();
    } else if (const auto* r = std::get_if<kube::RemoveInterfaceRequest>(&request)) {
      result = machine_->RemoveInterface(r->name);
    } else if (const auto* r = std::get_if<kube::SetLinkRequest>(&request)) {
      absl::Status st = machine_->SetInterfaceLink(r->name, r->up);
      if (!st.ok()) return st;
      result = HotplugResult{HotplugOutcome::kDone, "ua-" + r->name, ""};
    } else if (const auto* r = std::get_if<kube::ChangeMediaRequest>(&request)) {
      absl::StatusOr<std::optional<spec::Volume>> volume = kube::ToMediaVolume(*r);
      if (!volume.ok()) return volume.status();
      absl::Status st = machine_->ChangeMedia(r->name, *volume);
      if (!st.ok()) return st;
      result = HotplugResult{HotplugOutcome::kDone, "ua-" + r->name, ""};
    } else if (const auto* r = std::get_if<kube::AddHostDeviceRequest>(&request)) {
      absl::StatusOr<HostDeviceHotplug> device = kube::ToHostDeviceHotplug(*r);
      result = device.ok() ? machine_->AddHostDevice(*device) : device.status();
    } else if (const auto* r = std::get_if<kube::RemoveHostDeviceRequest>(&request)) {
      result = machine_->RemoveHostDevice(r->name);
    } else if (const auto* r = std::get_if<kube::ScaleRequest>(&request)) {
      if (r->sockets) result = machine_->SetVcpus({*r->sockets});
      if (r->memory_bytes && (!r->sockets || result.ok())) {
        result = machine_->SetGuestMemory({*r->memory_bytes});
      }
    } else {
      return std::nullopt;
    }
    if (!result.ok()) return result.status();
    response->hotplug = *std::move(result);
    return absl::OkStatus();
  }

  absl::Status RunAgent(const kube::ControlRequest& request,
                        kube::ControlResponse* response) {
    absl::StatusOr<agent::AgentClient*> agent = machine_->Agent();
    if (!agent.ok()) return agent.status();
    agent::AgentClient* client = *agent;
    if (std::holds_alternative<kube::GuestOsInfoRequest>(request)) {
      absl::StatusOr<GuestOsInfo> info = client->GetOsInfo();
      if (!info.ok()) return info.status();
      response->guest_os_info = std::move(*info);
    } else if (std::holds_alternative<kube::FsListRequest>(request)) {
      absl::StatusOr<std::vector<agent::Filesystem>> list = client->GetFsInfo();
      if (!list.ok()) return list.status();
      response->filesystems = std::move(*list);
    } else if (std::holds_alternative<kube::UserListRequest>(request)) {
      absl::StatusOr<std::vector<agent::GuestUser>> users = client->GetUsers();
      if (!users.ok()) return users.status();
      response->users = std::move(*users);
    } else {
      return absl::InternalError(absl::StrCat(
          "launcher: request ", std::string(kube::RequestName(request)),
          " has no handler"));
    }
    return absl::OkStatus();
  }

  // Queues a response and serves the next request line, if any.
  void Complete(uint64_t id, const kube::ControlResponse& response) {
    Connection* conn = Find(id);
    if (conn == nullptr) return;
    conn->busy = false;
    Send(id, response);
    ProcessInput(id);
  }

  void Send(uint64_t id, const kube::ControlResponse& response) {
    Connection* conn = Find(id);
    if (conn == nullptr) return;
    conn->out += kube::EncodeResponse(response);
    (void)Flush(id);
  }

  // Writes what it can; watches for writability while bytes remain. False
  // when the connection is gone.
  bool Flush(uint64_t id) {
    Connection* conn = Find(id);
    if (conn == nullptr) return false;
    while (!conn->out.empty()) {
      ssize_t n = ::send(conn->fd.get(), conn->out.data(), conn->out.size(),
                         MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      if (n <= 0) {
        Close(id);
        return false;
      }
      conn->out.erase(0, static_cast<size_t>(n));
    }
    if (conn->out.empty() && conn->close_after_flush) {
      Close(id);
      return false;
    }
    (void)loop_->UpdateWatch(
        conn->watch, conn->out.empty() ? uint32_t{kFdReadable} : uint32_t{kFdReadable | kFdWritable});
    return true;
  }

  EventLoop* loop_;
  vm::Machine* machine_;
  UniqueFd listener_;
  WatchId listen_watch_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::unique_ptr<Connection>> conns_;
  std::deque<std::pair<uint64_t, kube::ControlRequest>> queue_;
  // The last query-migrate sample of a migration from here.
  std::optional<MigrationProgress> last_progress_;
  // What SaveHotplugged wrote last.
  std::string saved_hotplugged_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  TimerId release_timer_;
};

// Copies the manifest into the runtime dir (0600) for a migration target.
absl::Status CopyManifest(const std::string& from, const std::string& dir) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(from, ": cannot read"));
  const std::string to = absl::StrCat(dir, "/", kManifestCopy);
  UniqueFd fd(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat(to, ": open"));
  std::ostringstream text;
  text << in.rdbuf();
  WriteLine(fd.get(), text.str());
  return absl::OkStatus();
}

struct Flags {
  std::string manifest;
  std::string name;
  int ready_fd = -1;
  std::string runtime_root;
  std::string incoming;
  std::string migration_options;
  std::string hotplugged;
};

int Fail(int ready_fd, const absl::Status& status) {
  const std::string message(status.message());
  if (ready_fd >= 0) WriteLine(ready_fd, absl::StrCat("error: ", message, "\n"));
  std::fprintf(stderr, "qdirect-launcher: %s\n", message.c_str());
  return 1;
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--manifest" && i + 1 < argc) {
      flags.manifest = argv[++i];
    } else if (arg == "--name" && i + 1 < argc) {
      flags.name = argv[++i];
    } else if (arg == "--runtime-root" && i + 1 < argc) {
      flags.runtime_root = argv[++i];
    } else if (arg == "--incoming" && i + 1 < argc) {
      flags.incoming = argv[++i];
    } else if (arg == "--migration-options" && i + 1 < argc) {
      flags.migration_options = argv[++i];
    } else if (arg == "--hotplugged" && i + 1 < argc) {
      flags.hotplugged = argv[++i];
    } else if (arg == "--ready-fd" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &flags.ready_fd) || flags.ready_fd < 0) {
        std::fputs(kUsage, stderr);
        return 2;
      }
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (flags.manifest.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  UniqueFd ready(flags.ready_fd);

  // Stop signals become loop events; SIGPIPE is answered by send's EPIPE.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    return Fail(ready.get(), absl::ErrnoToStatus(errno, "launcher: sigprocmask"));
  }
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signals(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signals) {
    return Fail(ready.get(), absl::ErrnoToStatus(errno, "launcher: signalfd"));
  }

  absl::StatusOr<spec::Vmi> vmi = vmctl::LoadOneVmi(flags.manifest, flags.name);
  if (!vmi.ok()) return Fail(ready.get(), vmi.status());
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return Fail(ready.get(), loop.status());

  vm::MachineOptions options;
  options.loop = loop->get();
  options.runtime_root = flags.runtime_root;
  if (!flags.hotplugged.empty()) {
    std::ifstream in(flags.hotplugged);
    std::ostringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<DeviceEntry>> devices = DeviceEntriesFromJson(text.str());
    if (!in || !devices.ok()) {
      return Fail(ready.get(), absl::InvalidArgumentError(absl::StrCat(
                                   flags.hotplugged, ": ",
                                   devices.ok() ? "cannot read" : devices.status().message())));
    }
    options.hotplugged_devices = *std::move(devices);
  }
  if (!flags.incoming.empty()) {
    MigrationOptions migration;
    if (!flags.migration_options.empty()) {
      absl::StatusOr<MigrationOptions> parsed =
          kube::MigrationOptionsFromJson(flags.migration_options);
      if (!parsed.ok()) return Fail(ready.get(), parsed.status());
      migration = *parsed;
    }
    options.incoming = vm::MachineOptions::Incoming{migration, flags.incoming};
  }
  absl::StatusOr<std::unique_ptr<vm::Machine>> machine =
      vm::Machine::Start(*vmi, options);
  if (!machine.ok()) return Fail(ready.get(), machine.status());

  bool signalled = false;
  absl::StatusOr<WatchId> signal_watch = (*loop)->WatchFd(
      signals.get(), kFdReadable, [&](uint32_t) {
        signalfd_siginfo info;
        while (::read(signals.get(), &info, sizeof info) ==
               static_cast<ssize_t>(sizeof info)) {
          signalled = true;
        }
      });
  if (!signal_watch.ok()) return Fail(ready.get(), signal_watch.status());

  int code = 0;
  {
    Launcher launcher(loop->get(), machine->get());
    if (absl::Status st = CopyManifest(flags.manifest, (*machine)->runtime_dir());
        !st.ok()) {
      (*loop)->Unwatch(*signal_watch);
      return Fail(ready.get(), st);
    }
    if (absl::Status st = launcher.SaveHotplugged(); !st.ok()) {
      (*loop)->Unwatch(*signal_watch);
      return Fail(ready.get(), st);
    }
    // A started VM answers control requests as soon as vmctl hears "ok"; a
    // target's control socket comes after the stream (below).
    if (!options.incoming) {
      if (absl::Status st = launcher.Listen(); !st.ok()) {
        (*loop)->Unwatch(*signal_watch);
        return Fail(ready.get(), st);
      }
    }
    if (ready) {
      WriteLine(ready.get(), "ok\n");
      ready.reset();
    }
    if (options.incoming) {
      // Until the stream completes the VM's name belongs to the source's
      // launcher. A failed stream ends QEMU, and with it this launcher; a
      // stop signal ends the wait.
      absl::Status st;
      do {
        st = (*machine)->WaitIncoming(absl::Now() + kIncomingPoll);
      } while (absl::IsDeadlineExceeded(st) && !signalled);
      if (!st.ok()) {
        std::fprintf(stderr, "qdirect-launcher: %s\n",
                     std::string(st.message()).c_str());
        machine->reset();
        (*loop)->Unwatch(*signal_watch);
        return 1;
      }
      if (absl::Status st = launcher.Listen(); !st.ok()) {
        (*loop)->Unwatch(*signal_watch);
        return Fail(ready.get(), st);
      }
    }
    // The VM runs (a target's guest has arrived): what only starting it
    // needed (decoder, planner, file writers) leaves the resident set. After
    // "ok", so vmctl does not wait for it.
    Launcher::ReleasePages();
    launcher.Serve(&signalled);
    code = (*machine)->Status().phase == VmiPhase::kSucceeded ? 0 : 1;
    // The runtime dir (and the socket file) go first, then the connections
    // close: a client that sees EOF finds the VM gone.
    machine->reset();
  }
  (*loop)->Unwatch(*signal_watch);
  return code;
}

}  // namespace
}  // namespace qdirect::launcher

int main(int argc, char** argv) { return qdirect::launcher::Main(argc, argv); }
