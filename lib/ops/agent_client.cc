// AgentClient: qemu-ga over the guest agent channel (sync, queue, timeouts,
// reconnects) and its typed commands.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "qdirect/agent.h"
#include "qmp/json_stream.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::agent {
namespace {

// Debian's abseil has its own string_view type.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// qemu-ga puts this byte before a guest-sync-delimited reply; sent to it, it
// makes its parser drop any partial request.
constexpr char kDelimiter = '\xff';
// Unsent bytes beyond which a retry adds no further sync request: the
// channel is stalled and the one already queued will do.
constexpr size_t kMaxUnsentBeforeResync = 64 * 1024;

std::string Serialize(std::string_view command, const rapidjson::Value* args) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("execute");
  w.String(command.data(), static_cast<rapidjson::SizeType>(command.size()));
  if (args != nullptr && args->IsObject()) {
    w.Key("arguments");
    args->Accept(w);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// Moves doc[member] to be the root of doc, keeping doc's allocator (which
// owns the strings): no copy of a large exec output.
rapidjson::Document TakeMember(rapidjson::Document& doc, rapidjson::Value& member) {
  rapidjson::Value taken(std::move(member));
  static_cast<rapidjson::Value&>(doc) = taken;  // rapidjson assignment moves
  return std::move(doc);
}

void AddString(rapidjson::Document& doc, const char* key, std::string_view value) {
  doc.AddMember(rapidjson::StringRef(key),
                rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()),
                                 doc.GetAllocator()),
                doc.GetAllocator());
}

void AddStrings(rapidjson::Document& doc, const char* key, const std::vector<std::string>& values) {
  rapidjson::Value array(rapidjson::kArrayType);
  for (const std::string& v : values) {
    array.PushBack(rapidjson::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()),
                                    doc.GetAllocator()),
                   doc.GetAllocator());
  }
  doc.AddMember(rapidjson::StringRef(key), array, doc.GetAllocator());
}

std::string_view ShutdownModeName(ShutdownMode mode) {
  switch (mode) {
    case ShutdownMode::kPowerdown:
      return "powerdown";
    case ShutdownMode::kReboot:
      return "reboot";
    case ShutdownMode::kHalt:
      return "halt";
  }
  return "powerdown";
}

// Adapts a "return" callback to a typed one.
template <typename T, typename Parser>
AgentClient::Callback<rapidjson::Document> Typed(AgentClient::Callback<T> callback, Parser parse) {
  return [callback = std::move(callback), parse](absl::StatusOr<rapidjson::Document> r) {
    if (!r.ok()) {
      callback(r.status());
      return;
    }
    callback(parse(*r));
  };
}

}  // namespace

Connector UnixSocketConnector(std::string path) {
  return [path = std::move(path)]() -> absl::StatusOr<UniqueFd> {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent: socket path too long (", path.size(), " bytes): ", path));
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return absl::ErrnoToStatus(errno, "agent: socket(AF_UNIX)");
    // A unix stream connect completes or fails at once, even non-blocking.
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("agent: connect ", path));
    }
    return fd;
  };
}

class AgentClient::Impl {
 public:
  Impl(EventLoop* loop, Connector connector, AgentOptions options)
      : loop_(loop),
        connector_(std::move(connector)),
        options_(options),
        stream_(options.max_message_bytes),
        rng_(std::random_device{}()),
        alive_(std::make_shared<char>()) {}

  ~Impl() {
    alive_.reset();
    if (watch_.valid()) loop_->Unwatch(watch_);
    for (TimerId* t : {&sync_timer_, &retry_timer_, &keepalive_timer_}) {
      if (t->valid()) loop_->CancelTimer(*t);
    }
    for (auto& [id, call] : calls_) {
      if (call.timer.valid()) loop_->CancelTimer(call.timer);
      Post(std::move(call.callback),
           absl::CancelledError(absl::StrCat("agent: ", call.command, ": client destroyed")));
    }
    for (auto& [id, wait] : exec_waits_) {
      loop_->CancelTimer(wait.timer);
      auto cb = std::move(wait.callback);
      loop_->Post([cb] { cb(absl::CancelledError("agent: guest-exec: client destroyed")); });
    }
  }

  void Start() {
    Connect();
    ArmKeepalive();
  }

  // For good: hang up, fail what waits, never reconnect.
  void Close(std::string_view reason) {
    if (closed_) return;
    closed_ = true;
    HangUp(std::string(reason));
    closed_status_ = absl::FailedPreconditionError(absl::StrCat("agent: ", AV(reason)));
    last_error_ = closed_status_;
    SetConnected(false);
    for (TimerId* t : {&retry_timer_, &keepalive_timer_}) {
      if (t->valid()) loop_->CancelTimer(*t);
      *t = {};
    }
    while (!queue_.empty()) Finish(queue_.front(), closed_status_);
  }

  void SetStatusCallback(StatusCallback cb) { status_cb_ = std::move(cb); }
  bool connected() const { return connected_; }

  absl::Status WaitConnected(absl::Time deadline) {
    absl::Status st = loop_->RunUntil([this] { return connected_; }, deadline);
    if (absl::IsDeadlineExceeded(st)) {
      return absl::DeadlineExceededError(
          absl::StrCat("agent: not in sync by the deadline",
                       last_error_.ok() ? "" : absl::StrCat(" (last error: ", last_error_.message(), ")")));
    }
    return st;
  }

  // no_reply_ok: the command succeeds if no error comes back within
  // shutdown_grace of sending it (guest-shutdown).
  void Execute(std::string_view command, const rapidjson::Value* args,
               Callback<rapidjson::Document> callback, std::optional<absl::Duration> timeout,
               bool no_reply_ok = false) {
    uint64_t id = next_call_++;
    Call& call = calls_[id];
    call.command = std::string(command);
    call.callback = std::move(callback);
    call.no_reply_ok = no_reply_ok;
    if (closed_) {
      Finish(id, closed_status_);
      return;
    }
    if (args != nullptr && !args->IsObject() && !args->IsNull()) {
      Finish(id, absl::InvalidArgumentError(
                     absl::StrCat("agent: ", AV(command), ": arguments must be a JSON object")));
      return;
    }
    call.bytes = Serialize(command, args);
    absl::Duration limit = timeout.value_or(options_.command_timeout);
    call.timeout = limit;
    call.timer = loop_->AddTimer(limit, [this, id] { OnCallTimeout(id); });
    queue_.push_back(id);
    Pump();
  }

  void ExecAsync(ExecRequest request, Callback<ExecStatus> callback) {
    rapidjson::Document args(rapidjson::kObjectType);
    AddString(args, "path", request.path);
    if (!request.args.empty()) AddStrings(args, "arg", request.args);
    if (!request.env.empty()) AddStrings(args, "env", request.env);
    if (request.input) AddString(args, "input-data", absl::Base64Escape(*request.input));
    args.AddMember("capture-output", request.capture_output, args.GetAllocator());
    absl::Duration limit = request.timeout.value_or(options_.exec_timeout);
    absl::Time deadline = absl::Now() + limit;
    std::weak_ptr<char> alive = alive_;
    std::string path = request.path;
    Execute("guest-exec", &args,
            [this, alive, callback, deadline, limit, path](absl::StatusOr<rapidjson::Document> r) {
              if (!r.ok()) {
                callback(r.status());
                return;
              }
              if (alive.expired()) {
                callback(absl::CancelledError("agent: guest-exec: client destroyed"));
                return;
              }
              auto pid = r->IsObject() ? r->FindMember("pid") : r->MemberEnd();
              if (!r->IsObject() || pid == r->MemberEnd() || !pid->value.IsInt64()) {
                callback(absl::InvalidArgumentError("agent: guest-exec: reply has no integer pid"));
                return;
              }
              PollExec(ExecPoll{pid->value.GetInt64(), path, deadline, limit,
                                options_.exec_poll_initial, callback});
            },
            std::nullopt);
  }

  // Runs the loop until start's callback ran.
  template <typename R>
  R Await(const std::function<void(std::function<void(R)>)>& start) {
    auto result = std::make_shared<std::optional<R>>();
    std::weak_ptr<char> alive = alive_;
    start([result](R r) { *result = std::move(r); });
    EventLoop* loop = loop_;
    absl::Status st = loop->RunUntil([&] { return result->has_value() || alive.expired(); });
    if (result->has_value()) return std::move(**result);
    if (!st.ok()) return R(st);
    return R(absl::CancelledError("agent: client destroyed"));
  }

 private:
  enum class Phase { kNoConnection, kSyncing, kReady };
  // Where the reader is in the byte stream while syncing and after.
  enum class ReadMode { kScanning, kSyncReply, kReplies };

  struct Call {
    std::string command;
    std::string bytes;
    Callback<rapidjson::Document> callback;
    absl::Duration timeout;
    TimerId timer;
    bool no_reply_ok = false;
  };
  struct ExecPoll {
    int64_t pid;
    std::string path;
    absl::Time deadline;
    absl::Duration limit;
    absl::Duration interval;
    Callback<ExecStatus> callback;
  };
  struct ExecWait {
    TimerId timer;
    Callback<ExecStatus> callback;
  };

  void Post(Callback<rapidjson::Document> cb, absl::StatusOr<rapidjson::Document> result) {
    auto shared = std::make_shared<absl::StatusOr<rapidjson::Document>>(std::move(result));
    loop_->Post([cb = std::move(cb), shared] { cb(std::move(*shared)); });
  }

  void Finish(uint64_t id, absl::StatusOr<rapidjson::Document> result) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    if (it->second.timer.valid()) loop_->CancelTimer(it->second.timer);
    Callback<rapidjson::Document> cb = std::move(it->second.callback);
    calls_.erase(it);
    queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    if (current_ == id) current_.reset();
    Post(std::move(cb), std::move(result));
  }

  void SetConnected(bool connected) {
    if (connected == connected_) return;
    connected_ = connected;
    std::weak_ptr<char> alive = alive_;
    loop_->Post([this, alive, connected] {
      if (!alive.expired() && status_cb_) status_cb_(connected);
    });
  }

  void Connect() {
    absl::StatusOr<UniqueFd> fd = connector_();
    if (!fd.ok()) {
      last_error_ = fd.status();
      SetConnected(false);
      ScheduleRetry();
      return;
    }
    fd_ = std::move(*fd);
    int flags = fcntl(fd_.get(), F_GETFL);
    if (flags < 0 || fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
      HangUp(absl::StrCat("making the agent socket non-blocking: ", std::strerror(errno)));
      return;
    }
    absl::StatusOr<WatchId> watch =
        loop_->WatchFd(fd_.get(), kFdReadable, [this](uint32_t events) { OnReady(events); });
    if (!watch.ok()) {
      HangUp(std::string(watch.status().message()));
      return;
    }
    watch_ = *watch;
    watch_events_ = kFdReadable;
    stream_ = qmp::JsonStream(options_.max_message_bytes);
    StartSync();
  }

  void ScheduleRetry() {
    if (closed_) return;
    if (retry_timer_.valid()) loop_->CancelTimer(retry_timer_);
    retry_timer_ = loop_->AddTimer(options_.retry_interval, [this] {
      retry_timer_ = {};
      if (fd_) {
        StartSync();
      } else {
        Connect();
      }
    });
  }

  // Any reply still in the channel is stale from here on: discard bytes up
  // to qemu-ga's delimiter, then expect {"return": sync_id_}.
  void StartSync() {
    phase_ = Phase::kSyncing;
    mode_ = ReadMode::kScanning;
    if (retry_timer_.valid()) loop_->CancelTimer(retry_timer_);
    retry_timer_ = {};
    if (sync_timer_.valid()) loop_->CancelTimer(sync_timer_);
    sync_timer_ = loop_->AddTimer(options_.sync_timeout, [this] { OnSyncTimeout(); });
    if (out_.size() - out_off_ > kMaxUnsentBeforeResync) return;
    sync_id_ = std::uniform_int_distribution<int64_t>(1, (int64_t{1} << 31) - 1)(rng_);
    rapidjson::Document args(rapidjson::kObjectType);
    args.AddMember("id", sync_id_, args.GetAllocator());
    Write(std::string(1, kDelimiter) + Serialize("guest-sync-delimited", &args));
  }

  void OnSyncTimeout() {
    sync_timer_ = {};
    last_error_ = absl::DeadlineExceededError(absl::StrCat(
        "agent: guest-sync-delimited: no reply within ", absl::FormatDuration(options_.sync_timeout)));
    SetConnected(false);
    ScheduleRetry();
  }

  void OnSynced() {
    if (sync_timer_.valid()) loop_->CancelTimer(sync_timer_);
    sync_timer_ = {};
    if (retry_timer_.valid()) loop_->CancelTimer(retry_timer_);
    retry_timer_ = {};
    phase_ = Phase::kReady;
    mode_ = ReadMode::kReplies;
    stream_ = qmp::JsonStream(options_.max_message_bytes);
    last_error_ = absl::OkStatus();
    SetConnected(true);
    Pump();
  }

  void HangUp(std::string reason) {
    last_error_ = absl::UnavailableError(absl::StrCat("agent: channel closed: ", reason));
    if (watch_.valid()) loop_->Unwatch(watch_);
    watch_ = {};
    fd_.reset();
    out_.clear();
    out_off_ = 0;
    phase_ = Phase::kNoConnection;
    if (sync_timer_.valid()) loop_->CancelTimer(sync_timer_);
    sync_timer_ = {};
    if (current_) {
      uint64_t id = *current_;
      if (calls_[id].no_reply_ok) {
        Finish(id, rapidjson::Document());
      } else {
        Finish(id, absl::UnavailableError(
                       absl::StrCat("agent: ", calls_[id].command, ": channel closed: ", reason)));
      }
    }
    SetConnected(false);
    ScheduleRetry();
  }

  void OnCallTimeout(uint64_t id) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    Call& call = it->second;
    call.timer = {};
    if (current_ == id) {
      if (call.no_reply_ok) {
        Finish(id, rapidjson::Document());
      } else {
        Finish(id, absl::DeadlineExceededError(
                       absl::StrCat("agent: ", call.command, ": no reply within ",
                                    absl::FormatDuration(call.timeout))));
      }
      // A late reply would be taken for the next command's: resync first.
      StartSync();
    } else {
      Finish(id, absl::DeadlineExceededError(absl::StrCat(
                     "agent: ", call.command, ": not sent within ", absl::FormatDuration(call.timeout),
                     ": the agent is not in sync",
                     last_error_.ok() ? "" : absl::StrCat(" (", last_error_.message(), ")"))));
    }
    Pump();
  }

  void Pump() {
    if (phase_ != Phase::kReady || current_ || queue_.empty()) return;
    uint64_t id = queue_.front();
    queue_.pop_front();
    current_ = id;
    Call& call = calls_[id];
    if (call.no_reply_ok) {
      // Success is silence from now on, not from the call.
      loop_->CancelTimer(call.timer);
      call.timeout = options_.shutdown_grace;
      call.timer = loop_->AddTimer(options_.shutdown_grace, [this, id] { OnCallTimeout(id); });
    }
    Write(call.bytes);
  }

  void Write(std::string_view bytes) {
    if (out_off_ == out_.size()) {
      out_.clear();
      out_off_ = 0;
    }
    out_.append(bytes);
    Flush();
  }

  void Flush() {
    while (fd_ && out_off_ < out_.size()) {
      ssize_t n = send(fd_.get(), out_.data() + out_off_, out_.size() - out_off_,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          SetWatch(kFdReadable | kFdWritable);
          return;
        }
        HangUp(absl::StrCat("send: ", std::strerror(errno)));
        return;
      }
      out_off_ += static_cast<size_t>(n);
    }
    if (fd_) SetWatch(kFdReadable);
  }

  void SetWatch(uint32_t events) {
    if (events == watch_events_) return;
    absl::Status st = loop_->UpdateWatch(watch_, events);
    if (!st.ok()) {
      HangUp(std::string(st.message()));
      return;
    }
    watch_events_ = events;
  }

  void OnReady(uint32_t events) {
    if (events & kFdWritable) Flush();
    if (!fd_) return;
    if (events & (kFdReadable | kFdHangup | kFdError)) Read();
  }

  void Read() {
    char buf[64 * 1024];
    while (fd_) {
      ssize_t n = recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        HangUp(absl::StrCat("recv: ", std::strerror(errno)));
        return;
      }
      if (n == 0) {
        HangUp("end of file");
        return;
      }
      Consume(std::string_view(buf, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) < sizeof(buf)) return;
    }
  }

  void Consume(std::string_view data) {
    while (!data.empty() && fd_) {
      switch (mode_) {
        case ReadMode::kScanning: {
          size_t pos = data.find(kDelimiter);
          if (pos == std::string_view::npos) return;  // stale bytes
          data.remove_prefix(pos + 1);
          mode_ = ReadMode::kSyncReply;
          sync_stream_ = qmp::JsonStream(4096);
          break;
        }
        case ReadMode::kSyncReply:
          data = ConsumeSyncReply(data);
          break;
        case ReadMode::kReplies:
          ConsumeReplies(data);
          return;
      }
    }
  }

  // Byte by byte, so that what follows the sync reply is not lost: it is
  // short, and only here while syncing.
  std::string_view ConsumeSyncReply(std::string_view data) {
    std::vector<std::string> messages;
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] == kDelimiter) {
        sync_stream_ = qmp::JsonStream(4096);
        continue;
      }
      if (!sync_stream_.Feed(data.substr(i, 1), &messages).ok()) {
        mode_ = ReadMode::kScanning;
        return data.substr(i + 1);
      }
      if (messages.empty()) continue;
      absl::StatusOr<rapidjson::Document> doc = qmp::ParseMessage(messages.front());
      bool ours = false;
      if (doc.ok()) {
        auto ret = doc->FindMember("return");
        ours = ret != doc->MemberEnd() && ret->value.IsInt64() && ret->value.GetInt64() == sync_id_;
      }
      if (ours && phase_ == Phase::kSyncing) {
        OnSynced();
      } else {
        mode_ = ReadMode::kScanning;  // an older sync's reply, or noise
      }
      return data.substr(i + 1);
    }
    return {};
  }

  void ConsumeReplies(std::string_view data) {
    std::vector<std::string> messages;
    absl::Status st = stream_.Feed(data, &messages);
    for (const std::string& m : messages) {
      if (mode_ != ReadMode::kReplies) return;  // resyncing: the rest is stale
      HandleReply(m);
    }
    if (!st.ok() && mode_ == ReadMode::kReplies) {
      if (current_) Finish(*current_, absl::DataLossError(absl::StrCat(
                                          "agent: ", calls_[*current_].command, ": ", st.message())));
      StartSync();
    }
  }

  void HandleReply(const std::string& text) {
    absl::StatusOr<rapidjson::Document> parsed = qmp::ParseMessage(text);
    if (!current_ || !parsed.ok()) {
      // Nothing was asked, or garbage: the stream cannot be trusted.
      if (current_) {
        Finish(*current_, absl::DataLossError(absl::StrCat("agent: ", calls_[*current_].command,
                                                           ": ", parsed.status().message())));
      }
      StartSync();
      return;
    }
    uint64_t id = *current_;
    const std::string& command = calls_[id].command;
    rapidjson::Document& doc = *parsed;
    auto ret = doc.FindMember("return");
    auto err = doc.FindMember("error");
    if (ret != doc.MemberEnd()) {
      Finish(id, TakeMember(doc, ret->value));
    } else if (err != doc.MemberEnd() && err->value.IsObject()) {
      auto cls = err->value.FindMember("class");
      auto desc = err->value.FindMember("desc");
      std::string_view c = cls != err->value.MemberEnd() && cls->value.IsString()
                               ? std::string_view(cls->value.GetString(), cls->value.GetStringLength())
                               : std::string_view("GenericError");
      std::string_view d =
          desc != err->value.MemberEnd() && desc->value.IsString()
              ? std::string_view(desc->value.GetString(), desc->value.GetStringLength())
              : std::string_view("(no description)");
      Finish(id, AgentErrorStatus(command, c, d));
    } else {
      Finish(id, absl::DataLossError(
                     absl::StrCat("agent: ", command, ": reply has neither return nor error")));
      StartSync();
      return;
    }
    Pump();
  }

  void PollExec(ExecPoll poll) {
    rapidjson::Document args(rapidjson::kObjectType);
    args.AddMember("pid", poll.pid, args.GetAllocator());
    std::weak_ptr<char> alive = alive_;
    Execute("guest-exec-status", &args,
            [this, alive, poll](absl::StatusOr<rapidjson::Document> r) mutable {
              if (!r.ok()) {
                poll.callback(r.status());
                return;
              }
              absl::StatusOr<ExecStatus> st = ParseExecStatus(*r);
              if (!st.ok() || st->exited) {
                poll.callback(std::move(st));
                return;
              }
              if (alive.expired()) {
                poll.callback(absl::CancelledError("agent: guest-exec: client destroyed"));
                return;
              }
              if (absl::Now() >= poll.deadline) {
                poll.callback(absl::DeadlineExceededError(
                    absl::StrCat("agent: guest-exec: ", poll.path, " (pid ", poll.pid,
                                 ") still running after ", absl::FormatDuration(poll.limit))));
                return;
              }
              uint64_t key = next_wait_++;
              absl::Duration wait = poll.interval;
              poll.interval = std::min(poll.interval * 2, options_.exec_poll_max);
              ExecWait& w = exec_waits_[key];
              w.callback = poll.callback;
              w.timer = loop_->AddTimer(wait, [this, key, poll] {
                exec_waits_.erase(key);
                PollExec(poll);
              });
            },
            std::nullopt);
  }

  void ArmKeepalive() {
    if (closed_ || options_.keepalive_interval <= absl::ZeroDuration()) return;
    keepalive_timer_ = loop_->AddTimer(options_.keepalive_interval, [this] {
      keepalive_timer_ = {};
      if (phase_ == Phase::kReady && !current_ && queue_.empty()) {
        Execute("guest-ping", nullptr, [](absl::StatusOr<rapidjson::Document>) {},
                options_.sync_timeout);
      }
      ArmKeepalive();
    });
  }

  EventLoop* loop_;
  // Close() was called: calls fail with closed_status_.
  bool closed_ = false;
  absl::Status closed_status_;
  Connector connector_;
  AgentOptions options_;
  StatusCallback status_cb_;
  UniqueFd fd_;
  WatchId watch_;
  uint32_t watch_events_ = 0;
  Phase phase_ = Phase::kNoConnection;
  ReadMode mode_ = ReadMode::kScanning;
  bool connected_ = false;
  absl::Status last_error_;
  qmp::JsonStream stream_;
  qmp::JsonStream sync_stream_{4096};
  std::string out_;
  size_t out_off_ = 0;
  int64_t sync_id_ = 0;
  std::mt19937_64 rng_;
  TimerId sync_timer_;
  TimerId retry_timer_;
  TimerId keepalive_timer_;
  uint64_t next_call_ = 1;
  std::map<uint64_t, Call> calls_;
  std::deque<uint64_t> queue_;
  std::optional<uint64_t> current_;
  uint64_t next_wait_ = 1;
  std::map<uint64_t, ExecWait> exec_waits_;
  std::shared_ptr<char> alive_;
};

absl::StatusOr<std::unique_ptr<AgentClient>> AgentClient::Create(EventLoop* loop,
                                                                 Connector connector,
                                                                 AgentOptions options) {
  if (loop == nullptr || !connector) {
    return absl::InvalidArgumentError("agent: Create: loop and connector are required");
  }
  auto impl = std::make_unique<Impl>(loop, std::move(connector), options);
  impl->Start();
  return std::unique_ptr<AgentClient>(new AgentClient(std::move(impl)));
}

AgentClient::AgentClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AgentClient::~AgentClient() = default;

void AgentClient::Close(std::string_view reason) { impl_->Close(reason); }

void AgentClient::SetStatusCallback(StatusCallback callback) {
  impl_->SetStatusCallback(std::move(callback));
}
bool AgentClient::connected() const { return impl_->connected(); }
absl::Status AgentClient::WaitConnected(absl::Time deadline) {
  return impl_->WaitConnected(deadline);
}

void AgentClient::Execute(std::string_view command, const rapidjson::Value* args,
                          Callback<rapidjson::Document> callback,
                          std::optional<absl::Duration> timeout) {
  impl_->Execute(command, args, std::move(callback), timeout);
}

void AgentClient::PingAsync(DoneCallback callback) {
  impl_->Execute("guest-ping", nullptr,
                 [callback = std::move(callback)](absl::StatusOr<rapidjson::Document> r) {
                   callback(r.status());
                 },
                 std::nullopt);
}
void AgentClient::GetInfoAsync(Callback<AgentInfo> callback) {
  impl_->Execute("guest-info", nullptr, Typed(std::move(callback), ParseAgentInfo), std::nullopt);
}
void AgentClient::GetOsInfoAsync(Callback<GuestOsInfo> callback) {
  impl_->Execute("guest-get-osinfo", nullptr, Typed(std::move(callback), ParseOsInfo),
                 std::nullopt);
}
void AgentClient::GetNetworkInterfacesAsync(Callback<std::vector<NetworkInterface>> callback) {
  impl_->Execute("guest-network-get-interfaces", nullptr,
                 Typed(std::move(callback), ParseNetworkInterfaces), std::nullopt);
}
void AgentClient::GetFsInfoAsync(Callback<std::vector<Filesystem>> callback) {
  impl_->Execute("guest-get-fsinfo", nullptr, Typed(std::move(callback), ParseFsInfo),
                 std::nullopt);
}
void AgentClient::GetUsersAsync(Callback<std::vector<GuestUser>> callback) {
  impl_->Execute("guest-get-users", nullptr, Typed(std::move(callback), ParseUsers), std::nullopt);
}
void AgentClient::ExecAsync(ExecRequest request, Callback<ExecStatus> callback) {
  impl_->ExecAsync(std::move(request), std::move(callback));
}
void AgentClient::ShutdownAsync(ShutdownMode mode, DoneCallback callback) {
  rapidjson::Document args(rapidjson::kObjectType);
  AddString(args, "mode", ShutdownModeName(mode));
  impl_->Execute("guest-shutdown", &args,
                 [callback = std::move(callback)](absl::StatusOr<rapidjson::Document> r) {
                   callback(r.status());
                 },
                 std::nullopt, /*no_reply_ok=*/true);
}

absl::StatusOr<rapidjson::Document> AgentClient::CallSync(std::string_view command,
                                                          const rapidjson::Value* args,
                                                          std::optional<absl::Duration> timeout) {
  using R = absl::StatusOr<rapidjson::Document>;
  return impl_->Await<R>(
      [&](std::function<void(R)> cb) { impl_->Execute(command, args, std::move(cb), timeout); });
}

absl::Status AgentClient::Ping() {
  return impl_->Await<absl::Status>([this](DoneCallback cb) { PingAsync(std::move(cb)); });
}
absl::StatusOr<AgentInfo> AgentClient::GetInfo() {
  return impl_->Await<absl::StatusOr<AgentInfo>>(
      [this](Callback<AgentInfo> cb) { GetInfoAsync(std::move(cb)); });
}
absl::StatusOr<GuestOsInfo> AgentClient::GetOsInfo() {
  return impl_->Await<absl::StatusOr<GuestOsInfo>>(
      [this](Callback<GuestOsInfo> cb) { GetOsInfoAsync(std::move(cb)); });
}
absl::StatusOr<std::vector<NetworkInterface>> AgentClient::GetNetworkInterfaces() {
  return impl_->Await<absl::StatusOr<std::vector<NetworkInterface>>>(
      [this](Callback<std::vector<NetworkInterface>> cb) {
        GetNetworkInterfacesAsync(std::move(cb));
      });
}
absl::StatusOr<std::vector<Filesystem>> AgentClient::GetFsInfo() {
  return impl_->Await<absl::StatusOr<std::vector<Filesystem>>>(
      [this](Callback<std::vector<Filesystem>> cb) { GetFsInfoAsync(std::move(cb)); });
}
absl::StatusOr<std::vector<GuestUser>> AgentClient::GetUsers() {
  return impl_->Await<absl::StatusOr<std::vector<GuestUser>>>(
      [this](Callback<std::vector<GuestUser>> cb) { GetUsersAsync(std::move(cb)); });
}
absl::StatusOr<ExecStatus> AgentClient::Exec(ExecRequest request) {
  return impl_->Await<absl::StatusOr<ExecStatus>>(
      [&](Callback<ExecStatus> cb) { ExecAsync(std::move(request), std::move(cb)); });
}
absl::Status AgentClient::Shutdown(ShutdownMode mode) {
  return impl_->Await<absl::Status>(
      [&](DoneCallback cb) { ShutdownAsync(mode, std::move(cb)); });
}

absl::StatusOr<FileHandle> AgentClient::FileOpen(std::string_view path, std::string_view mode) {
  rapidjson::Document args(rapidjson::kObjectType);
  AddString(args, "path", path);
  AddString(args, "mode", mode);
  ASSIGN_OR_RETURN(rapidjson::Document r, CallSync("guest-file-open", &args));
  if (!r.IsInt64()) return absl::InvalidArgumentError("agent: guest-file-open: handle is not an integer");
  return r.GetInt64();
}

absl::StatusOr<FileChunk> AgentClient::FileRead(FileHandle handle, int64_t count) {
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("handle", handle, args.GetAllocator());
  args.AddMember("count", count, args.GetAllocator());
  ASSIGN_OR_RETURN(rapidjson::Document r, CallSync("guest-file-read", &args));
  if (!r.IsObject()) return absl::InvalidArgumentError("agent: guest-file-read: not an object");
  FileChunk chunk;
  auto buf = r.FindMember("buf-b64");
  if (buf == r.MemberEnd() || !buf->value.IsString() ||
      !absl::Base64Unescape(absl::string_view(buf->value.GetString(), buf->value.GetStringLength()),
                            &chunk.data)) {
    return absl::InvalidArgumentError("agent: guest-file-read: buf-b64 missing or bad base64");
  }
  auto eof = r.FindMember("eof");
  chunk.eof = eof != r.MemberEnd() && eof->value.IsBool() && eof->value.GetBool();
  return chunk;
}

absl::StatusOr<int64_t> AgentClient::FileWrite(FileHandle handle, std::string_view data) {
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("handle", handle, args.GetAllocator());
  AddString(args, "buf-b64", absl::Base64Escape(AV(data)));
  ASSIGN_OR_RETURN(rapidjson::Document r, CallSync("guest-file-write", &args));
  auto count = r.IsObject() ? r.FindMember("count") : r.MemberEnd();
  if (!r.IsObject() || count == r.MemberEnd() || !count->value.IsInt64()) {
    return absl::InvalidArgumentError("agent: guest-file-write: reply has no integer count");
  }
  return count->value.GetInt64();
}

absl::Status AgentClient::FileClose(FileHandle handle) {
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("handle", handle, args.GetAllocator());
  return CallSync("guest-file-close", &args).status();
}

}  // namespace qdirect::agent
