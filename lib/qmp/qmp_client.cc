#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "qdirect/qmp.h"
#include "qmp/json_stream.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::qmp {
namespace {

// Debian's abseil has its own string_view type.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::string_view kIdPrefix = "qd-";
// qmp_capabilities uses id qd-0; calls start at 1.
constexpr uint64_t kCapabilitiesId = 0;

std::string_view AsView(const rapidjson::Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// Moves doc[member] to be the root of doc, keeping doc's allocator (which
// owns the strings). The old root's memory stays in the pool until doc dies.
rapidjson::Document TakeMember(rapidjson::Document& doc, rapidjson::Value& member) {
  rapidjson::Value taken(std::move(member));
  static_cast<rapidjson::Value&>(doc) = taken;  // rapidjson assignment moves
  return std::move(doc);
}

rapidjson::Document CopyDocument(const rapidjson::Document& from) {
  rapidjson::Document to;
  to.CopyFrom(from, to.GetAllocator());
  return to;
}

Event CopyEvent(const Event& e) { return Event{e.name, e.timestamp, CopyDocument(e.data)}; }

}  // namespace

class QmpClient::Impl {
 public:
  enum class Phase { kGreeting, kCapabilities, kReady, kClosed };

  Impl(EventLoop* loop, UniqueFd fd, ClientOptions options)
      : loop_(loop),
        fd_(std::move(fd)),
        options_(options),
        stream_(options.max_message_bytes),
        alive_(std::make_shared<char>()) {}

  ~Impl() {
    if (watch_.valid()) loop_->Unwatch(watch_);
    if (greeting_timer_.valid()) loop_->CancelTimer(greeting_timer_);
    if (flush_scheduled_) loop_->CancelTimer(flush_timer_);
    for (auto& [id, call] : calls_) {
      if (call.timer.valid()) loop_->CancelTimer(call.timer);
    }
  }

  absl::Status Start() {
    int flags = fcntl(fd_.get(), F_GETFL);
    if (flags < 0 || fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
      return absl::ErrnoToStatus(errno, "qmp: making the monitor socket non-blocking");
    }
    ASSIGN_OR_RETURN(watch_, loop_->WatchFd(fd_.get(), kFdReadable,
                                            [this](uint32_t events) { OnReady(events); }));
    greeting_timer_ = loop_->AddTimer(options_.greeting_timeout, [this] {
      greeting_timer_ = {};
      Close(absl::StatusCode::kDeadlineExceeded,
            absl::StrCat("no greeting and capabilities reply within ",
                         absl::FormatDuration(options_.greeting_timeout)));
    });
    return absl::OkStatus();
  }

  absl::Status WaitReady(absl::Time deadline) {
    RETURN_IF_ERROR(loop_->RunUntil(
        [this] { return phase_ == Phase::kReady || phase_ == Phase::kClosed; }, deadline));
    return phase_ == Phase::kClosed ? closed_ : absl::OkStatus();
  }

  bool ready() const { return phase_ == Phase::kReady; }
  absl::Status closed_status() const { return closed_; }
  const VersionInfo& version() const { return version_; }

  CallId Execute(std::string_view command, const rapidjson::Value* args, ExecuteOptions options,
                 ReplyCallback callback) {
    uint64_t id = next_call_++;
    Call& call = calls_[id];
    call.command = std::string(command);
    call.callback = std::move(callback);
    call.fds = std::move(options.fds);
    call.complete_on_event = std::move(options.complete_on_event);
    if (phase_ == Phase::kClosed) {
      Finish(id,
             absl::Status(closed_code_, absl::StrCat("qmp: ", AV(command), ": ", closed_reason_)));
      return CallId{id};
    }
    if (args != nullptr && !args->IsObject() && !args->IsNull()) {
      Finish(id, absl::InvalidArgumentError(
                     absl::StrCat("qmp: ", AV(command), ": arguments must be a JSON object")));
      return CallId{id};
    }
    call.out_of_band = options.out_of_band && oob_ && phase_ == Phase::kReady;
    call.bytes = Serialize(command, args, id, call.out_of_band);
    absl::Duration timeout = options.timeout.value_or(CommandTimeout(command, options_));
    call.timer = loop_->AddTimer(timeout, [this, id, timeout] { OnTimeout(id, timeout); });
    if (call.out_of_band) {
      // QEMU runs it on arrival: it takes no in-band slot and waits for none.
      call.sent = true;
      Send(std::move(call.bytes), std::move(call.fds));
      return CallId{id};
    }
    queued_.push_back(id);
    Pump();
    return CallId{id};
  }

  void Cancel(CallId id) {
    auto it = calls_.find(id.value);
    if (it == calls_.end()) return;
    Finish(id.value,
           absl::CancelledError(absl::StrCat("qmp: ", it->second.command, ": cancelled")));
  }

  absl::StatusOr<Reply> CallSync(std::string_view command, const rapidjson::Value* args,
                                 ExecuteOptions options) {
    auto result = std::make_shared<std::optional<absl::StatusOr<Reply>>>();
    std::weak_ptr<char> alive = alive_;
    CallId id = Execute(command, args, std::move(options),
                        [result](absl::StatusOr<Reply> r) { *result = std::move(r); });
    EventLoop* loop = loop_;
    absl::Status st = loop->RunUntil([&] { return result->has_value() || alive.expired(); });
    if (alive.expired()) {
      return absl::CancelledError(absl::StrCat("qmp: ", AV(command), ": client destroyed"));
    }
    if (!result->has_value()) {
      Cancel(id);
      return st;
    }
    return std::move(**result);
  }

  SubscriptionId Subscribe(EventMatcher matcher, EventCallback callback) {
    uint64_t id = next_subscription_++;
    subscriptions_.emplace(
        id, Subscription{std::move(matcher), std::make_shared<EventCallback>(std::move(callback))});
    return SubscriptionId{id};
  }

  void Unsubscribe(SubscriptionId id) { subscriptions_.erase(id.value); }

 private:
  struct Call {
    std::string command;
    std::string bytes;
    std::vector<UniqueFd> fds;
    std::optional<EventMatcher> complete_on_event;
    ReplyCallback callback;
    TimerId timer;
    bool sent = false;
    bool out_of_band = false;  // sent as exec-oob
    bool replied = false;  // a successful reply came; waiting for the event
    std::optional<rapidjson::Document> value;
    std::optional<Event> event;
  };
  struct Subscription {
    EventMatcher matcher;
    std::shared_ptr<EventCallback> callback;
  };
  struct OutChunk {
    std::string bytes;
    std::vector<UniqueFd> fds;
    size_t offset = 0;
  };

  static std::string Serialize(std::string_view command, const rapidjson::Value* args,
                               uint64_t id, bool out_of_band) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key(out_of_band ? "exec-oob" : "execute");
    w.String(command.data(), static_cast<rapidjson::SizeType>(command.size()));
    if (args != nullptr && args->IsObject()) {
      w.Key("arguments");
      args->Accept(w);
    }
    w.Key("id");
    std::string id_str = absl::StrCat(AV(kIdPrefix), id);
    w.String(id_str.data(), static_cast<rapidjson::SizeType>(id_str.size()));
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }

  // Sends queued calls while QEMU has room for them.
  void Pump() {
    while (phase_ == Phase::kReady && outstanding_ < options_.max_in_flight && !queued_.empty()) {
      uint64_t id = queued_.front();
      queued_.pop_front();
      auto it = calls_.find(id);
      if (it == calls_.end()) continue;  // finished while queued
      it->second.sent = true;
      ++outstanding_;
      Send(std::move(it->second.bytes), std::move(it->second.fds));
    }
  }

  void Send(std::string bytes, std::vector<UniqueFd> fds) {
    out_.push_back(OutChunk{std::move(bytes), std::move(fds), 0});
    Flush();
  }

  void Flush() {
    while (!out_.empty() && phase_ != Phase::kClosed) {
      OutChunk& chunk = out_.front();
      iovec iov{chunk.bytes.data() + chunk.offset, chunk.bytes.size() - chunk.offset};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      std::vector<char> control;
      if (chunk.offset == 0 && !chunk.fds.empty()) {
        // The fds ride on the first byte of this command, so QEMU attaches
        // them to this command and no other.
        control.resize(CMSG_SPACE(sizeof(int) * chunk.fds.size()));
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * chunk.fds.size());
        for (size_t i = 0; i < chunk.fds.size(); ++i) {
          int fd = chunk.fds[i].get();
          std::memcpy(CMSG_DATA(cmsg) + i * sizeof(int), &fd, sizeof(int));
        }
      }
      ssize_t n = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          SetWatch(kFdReadable | kFdWritable);
          return;
        }
        if (errno == EPIPE || errno == ECONNRESET) {
          Close(absl::StatusCode::kUnavailable, "connection closed by QEMU");
        } else {
          Close(absl::StatusCode::kUnavailable,
                absl::StrCat("sendmsg on the monitor socket: ", std::strerror(errno)));
        }
        return;
      }
      chunk.fds.clear();  // sent (and dup'ed into QEMU) with the first byte
      chunk.offset += static_cast<size_t>(n);
      if (chunk.offset == chunk.bytes.size()) out_.pop_front();
    }
    if (phase_ != Phase::kClosed) SetWatch(kFdReadable);
  }

  void SetWatch(uint32_t events) {
    if (events == watch_events_) return;
    absl::Status st = loop_->UpdateWatch(watch_, events);
    if (!st.ok()) {
      Close(absl::StatusCode::kInternal, std::string(st.message()));
      return;
    }
    watch_events_ = events;
  }

  void OnReady(uint32_t events) {
    if (events & kFdWritable) Flush();
    if (phase_ == Phase::kClosed) return;
    if (events & (kFdReadable | kFdHangup | kFdError)) Read();
  }

  void Read() {
    char buf[64 * 1024];
    std::vector<std::string> messages;
    while (phase_ != Phase::kClosed) {
      ssize_t n = recv(fd_.get(), buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        Close(absl::StatusCode::kUnavailable,
              absl::StrCat("recv on the monitor socket: ", std::strerror(errno)));
        return;
      }
      if (n == 0) {
        // Replies read before the EOF still count.
        HandleAll(messages);
        Close(absl::StatusCode::kUnavailable, "connection closed by QEMU");
        return;
      }
      absl::Status st = stream_.Feed(std::string_view(buf, static_cast<size_t>(n)), &messages);
      if (!st.ok()) {
        HandleAll(messages);
        Close(absl::StatusCode::kInternal, std::string(st.message()));
        return;
      }
      if (static_cast<size_t>(n) < sizeof(buf)) break;
    }
    HandleAll(messages);
  }

  void HandleAll(std::vector<std::string>& messages) {
    for (const std::string& m : messages) {
      if (phase_ == Phase::kClosed) break;
      HandleMessage(m);
    }
    messages.clear();
  }

  void ProtocolError(std::string_view what) {
    Close(absl::StatusCode::kInternal, absl::StrCat("protocol error: ", AV(what)));
  }

  void HandleMessage(const std::string& text) {
    absl::StatusOr<rapidjson::Document> parsed = ParseMessage(text);
    if (!parsed.ok()) {
      Close(absl::StatusCode::kInternal, std::string(parsed.status().message()));
      return;
    }
    rapidjson::Document& doc = *parsed;
    if (doc.HasMember("event")) {
      HandleEvent(doc);
      return;
    }
    if (doc.HasMember("QMP")) {
      if (phase_ != Phase::kGreeting) return ProtocolError("a second greeting");
      HandleGreeting(doc);
      return;
    }
    if (phase_ == Phase::kGreeting) return ProtocolError("a reply before the greeting");
    HandleReply(doc);
  }

  // The greeting's QMP.capabilities lists "oob".
  static bool OffersOob(const rapidjson::Value& qmp) {
    auto caps = qmp.FindMember("capabilities");
    if (caps == qmp.MemberEnd() || !caps->value.IsArray()) return false;
    for (const rapidjson::Value& c : caps->value.GetArray()) {
      if (c.IsString() && AsView(c) == "oob") return true;
    }
    return false;
  }

  void HandleGreeting(const rapidjson::Document& doc) {
    const rapidjson::Value& qmp = doc["QMP"];
    if (qmp.IsObject()) {
      auto version = qmp.FindMember("version");
      if (version != qmp.MemberEnd()) {
        absl::StatusOr<VersionInfo> v = ParseVersionInfo(version->value);
        if (v.ok()) version_ = *v;
      }
    }
    phase_ = Phase::kCapabilities;
    oob_ = options_.enable_oob && qmp.IsObject() && OffersOob(qmp);
    Send(absl::StrCat(R"({"execute":"qmp_capabilities",)",
                      oob_ ? R"("arguments":{"enable":["oob"]},)" : "", R"("id":")",
                      AV(kIdPrefix), kCapabilitiesId, R"("})"),
         {});
  }

  void HandleReply(rapidjson::Document& doc) {
    auto id_it = doc.FindMember("id");
    if (id_it == doc.MemberEnd() || !id_it->value.IsString()) {
      return ProtocolError(absl::StrCat("reply without an id: ", Snippet(doc)));
    }
    std::string_view id_str = AsView(id_it->value);
    uint64_t id = 0;
    if (!absl::StartsWith(AV(id_str), AV(kIdPrefix)) ||
        std::from_chars(id_str.data() + kIdPrefix.size(), id_str.data() + id_str.size(), id).ec !=
            std::errc()) {
      return ProtocolError(absl::StrCat("reply with unknown id \"", AV(id_str), "\""));
    }
    auto ret = doc.FindMember("return");
    auto err = doc.FindMember("error");
    if (ret == doc.MemberEnd() && err == doc.MemberEnd()) {
      return ProtocolError(absl::StrCat("reply ", AV(id_str), " has neither return nor error"));
    }

    if (phase_ == Phase::kCapabilities) {
      if (id != kCapabilitiesId) {
        return ProtocolError(absl::StrCat("reply with unknown id \"", AV(id_str), "\""));
      }
      if (err != doc.MemberEnd()) {
        absl::Status st = ErrorStatus("qmp_capabilities", err->value);
        Close(st.code(), std::string(st.message()));
        return;
      }
      phase_ = Phase::kReady;
      loop_->CancelTimer(greeting_timer_);
      greeting_timer_ = {};
      Pump();
      return;
    }

    if (auto late = abandoned_.find(id); late != abandoned_.end()) {
      // Late reply for a call that timed out or was cancelled: dropped.
      if (late->second) --outstanding_;
      abandoned_.erase(late);
      Pump();
      return;
    }
    auto it = calls_.find(id);
    if (it == calls_.end() || !it->second.sent || it->second.replied) {
      return ProtocolError(absl::StrCat("reply with unknown id \"", AV(id_str), "\""));
    }
    Call& call = it->second;
    if (!call.out_of_band) --outstanding_;
    if (err != doc.MemberEnd()) {
      Finish(id, ErrorStatus(call.command, err->value));
    } else if (call.complete_on_event.has_value() && !call.event.has_value()) {
      call.replied = true;
      call.value = TakeMember(doc, ret->value);
    } else {
      Reply reply{TakeMember(doc, ret->value), std::move(call.event)};
      Finish(id, std::move(reply));
    }
    Pump();
  }

  static std::string Snippet(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    std::string s(buf.GetString(), buf.GetSize());
    if (s.size() > 200) s = absl::StrCat(s.substr(0, 200), "...");
    return s;
  }

  static absl::Status ErrorStatus(std::string_view command, const rapidjson::Value& error) {
    std::string error_class = "GenericError";
    std::string desc = "(no description)";
    if (error.IsObject()) {
      auto c = error.FindMember("class");
      if (c != error.MemberEnd() && c->value.IsString()) error_class = AsView(c->value);
      auto d = error.FindMember("desc");
      if (d != error.MemberEnd() && d->value.IsString()) desc = AsView(d->value);
    }
    return ErrorReplyStatus(command, error_class, desc);
  }

  void HandleEvent(rapidjson::Document& doc) {
    const rapidjson::Value& name = doc["event"];
    if (!name.IsString()) return ProtocolError("event name is not a string");
    auto event = std::make_shared<Event>();
    event->name = std::string(AsView(name));
    event->timestamp = absl::InfinitePast();
    auto ts = doc.FindMember("timestamp");
    if (ts != doc.MemberEnd() && ts->value.IsObject()) {
      auto s = ts->value.FindMember("seconds");
      auto us = ts->value.FindMember("microseconds");
      if (s != ts->value.MemberEnd() && s->value.IsInt64() && us != ts->value.MemberEnd() &&
          us->value.IsInt64()) {
        event->timestamp =
            absl::FromUnixSeconds(s->value.GetInt64()) + absl::Microseconds(us->value.GetInt64());
      }
    }
    auto data = doc.FindMember("data");
    if (data != doc.MemberEnd() && data->value.IsObject()) {
      event->data = TakeMember(doc, data->value);
    } else {
      event->data.SetObject();
    }

    // Calls waiting for this event (in id order: the oldest waiter first).
    std::vector<uint64_t> completed;
    for (auto& [id, call] : calls_) {
      if (!call.complete_on_event.has_value() || call.event.has_value()) continue;
      if (!call.complete_on_event->Matches(*event)) continue;
      call.event = CopyEvent(*event);
      if (call.replied) completed.push_back(id);
    }
    for (uint64_t id : completed) {
      Call& call = calls_[id];
      Reply reply{std::move(*call.value), std::move(call.event)};
      Finish(id, std::move(reply));
    }

    for (auto& [id, sub] : subscriptions_) {
      if (!sub.matcher.Matches(*event)) continue;
      uint64_t sub_id = id;
      Defer([this, sub_id, event] {
        auto it = subscriptions_.find(sub_id);
        if (it == subscriptions_.end()) return;  // unsubscribed meanwhile
        std::shared_ptr<EventCallback> cb = it->second.callback;
        (*cb)(*event);
      });
    }
  }

  void OnTimeout(uint64_t id, absl::Duration timeout) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    it->second.timer = {};
    const Call& call = it->second;
    std::string what =
        call.replied ? absl::StrCat(call.complete_on_event->name, " event") : std::string("reply");
    Finish(id,
           absl::DeadlineExceededError(absl::StrCat("qmp: ", call.command, ": no ", what,
                                                    " within ", absl::FormatDuration(timeout))));
  }

  // Ends a call: its callback runs later, from the loop.
  void Finish(uint64_t id, absl::StatusOr<Reply> result) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    Call& call = it->second;
    if (call.timer.valid()) loop_->CancelTimer(call.timer);
    if (call.sent && !call.replied && phase_ != Phase::kClosed) {
      // QEMU still holds it and will answer: the slot stays taken until then.
      abandoned_.emplace(id, !call.out_of_band);
    }
    auto cb = std::make_shared<ReplyCallback>(std::move(call.callback));
    auto res = std::make_shared<absl::StatusOr<Reply>>(std::move(result));
    calls_.erase(it);
    Defer([cb, res] { (*cb)(std::move(*res)); });
  }

  void Close(absl::StatusCode code, std::string reason) {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    closed_code_ = code;
    closed_reason_ = reason;
    closed_ = absl::Status(code, absl::StrCat("qmp: ", reason));
    if (watch_.valid()) loop_->Unwatch(watch_);
    watch_ = {};
    if (greeting_timer_.valid()) loop_->CancelTimer(greeting_timer_);
    greeting_timer_ = {};
    fd_.reset();
    out_.clear();
    abandoned_.clear();
    queued_.clear();
    std::vector<uint64_t> ids;
    for (auto& [id, call] : calls_) ids.push_back(id);
    for (uint64_t id : ids) {
      Finish(id, absl::Status(code, absl::StrCat("qmp: ", calls_[id].command, ": ", reason)));
    }
  }

  // Queues user code to run from the loop once the current read is handled.
  void Defer(std::function<void()> fn) {
    deliveries_.push_back(std::move(fn));
    if (!flush_scheduled_) {
      flush_scheduled_ = true;
      flush_timer_ = loop_->AddTimer(absl::ZeroDuration(), [this] { Deliver(); });
    }
  }

  void Deliver() {
    flush_scheduled_ = false;
    std::weak_ptr<char> alive = alive_;
    // Only what is queued now; what callbacks queue runs on the next turn.
    std::deque<std::function<void()>> batch;
    batch.swap(deliveries_);
    while (!batch.empty()) {
      std::function<void()> fn = std::move(batch.front());
      batch.pop_front();
      fn();
      if (alive.expired()) return;  // a callback destroyed the client
    }
  }

  EventLoop* loop_;
  UniqueFd fd_;
  ClientOptions options_;
  JsonStream stream_;
  WatchId watch_;
  uint32_t watch_events_ = kFdReadable;
  TimerId greeting_timer_;
  Phase phase_ = Phase::kGreeting;
  absl::Status closed_;
  absl::StatusCode closed_code_ = absl::StatusCode::kOk;
  std::string closed_reason_;
  VersionInfo version_;

  uint64_t next_call_ = 1;
  std::map<uint64_t, Call> calls_;  // unfinished calls
  std::deque<uint64_t> queued_;     // not yet sent
  size_t outstanding_ = 0;          // sent and not yet answered by QEMU
  // Calls that timed out or were cancelled after being sent -> whether
  // their late reply frees an in-band slot.
  std::unordered_map<uint64_t, bool> abandoned_;
  // QEMU offered the oob capability and we enabled it.
  bool oob_ = false;
  std::deque<OutChunk> out_;

  uint64_t next_subscription_ = 1;
  std::map<uint64_t, Subscription> subscriptions_;

  std::deque<std::function<void()>> deliveries_;
  TimerId flush_timer_;
  bool flush_scheduled_ = false;
  std::shared_ptr<char> alive_;  // expires when the client is destroyed
};

QmpClient::QmpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
QmpClient::~QmpClient() = default;

absl::StatusOr<std::unique_ptr<QmpClient>> QmpClient::Create(EventLoop* loop, UniqueFd socket,
                                                             ClientOptions options) {
  if (!socket) return absl::InvalidArgumentError("qmp: no monitor socket");
  auto impl = std::make_unique<Impl>(loop, std::move(socket), options);
  RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<QmpClient>(new QmpClient(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<QmpClient>> QmpClient::Connect(EventLoop* loop, UniqueFd socket,
                                                              ClientOptions options) {
  ASSIGN_OR_RETURN(auto client, Create(loop, std::move(socket), options));
  RETURN_IF_ERROR(client->WaitReady());
  return client;
}

absl::Status QmpClient::WaitReady(absl::Time deadline) { return impl_->WaitReady(deadline); }
bool QmpClient::ready() const { return impl_->ready(); }
absl::Status QmpClient::closed_status() const { return impl_->closed_status(); }
const VersionInfo& QmpClient::qemu_version() const { return impl_->version(); }

CallId QmpClient::Execute(std::string_view command, const rapidjson::Value* args,
                          ExecuteOptions options, ReplyCallback callback) {
  return impl_->Execute(command, args, std::move(options), std::move(callback));
}

void QmpClient::Cancel(CallId id) { impl_->Cancel(id); }

absl::StatusOr<Reply> QmpClient::CallSync(std::string_view command, const rapidjson::Value* args,
                                          ExecuteOptions options) {
  return impl_->CallSync(command, args, std::move(options));
}

SubscriptionId QmpClient::Subscribe(EventMatcher matcher, EventCallback callback) {
  return impl_->Subscribe(std::move(matcher), std::move(callback));
}

void QmpClient::Unsubscribe(SubscriptionId id) { impl_->Unsubscribe(id); }

absl::StatusOr<StatusInfo> QmpClient::QueryStatus() {
  ASSIGN_OR_RETURN(Reply reply, CallSync("query-status"));
  return ParseStatusInfo(reply.value);
}

absl::StatusOr<VersionInfo> QmpClient::QueryVersion() {
  ASSIGN_OR_RETURN(Reply reply, CallSync("query-version"));
  return ParseVersionInfo(reply.value);
}

absl::Status QmpClient::Stop() { return CallSync("stop").status(); }
absl::Status QmpClient::Cont() { return CallSync("cont").status(); }
absl::Status QmpClient::SystemPowerdown() { return CallSync("system_powerdown").status(); }
absl::Status QmpClient::SystemReset() { return CallSync("system_reset").status(); }

absl::Status QmpClient::Quit() {
  absl::Status st = CallSync("quit").status();
  // QEMU may close the socket before its reply reaches us.
  if (st.code() == absl::StatusCode::kUnavailable &&
      absl::StrContains(st.message(), "connection closed by QEMU")) {
    return absl::OkStatus();
  }
  return st;
}

absl::Status QmpClient::GetFd(std::string_view fdname, UniqueFd fd) {
  rapidjson::Document args(rapidjson::kObjectType);
  args.AddMember("fdname",
                 rapidjson::Value(fdname.data(), static_cast<rapidjson::SizeType>(fdname.size()),
                                  args.GetAllocator()),
                 args.GetAllocator());
  ExecuteOptions options;
  options.fds.push_back(std::move(fd));
  return CallSync("getfd", &args, std::move(options)).status();
}

}  // namespace qdirect::qmp
