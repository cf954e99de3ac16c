#pragma once

// A scripted qemu-ga on the client's own loop: each connection is a fresh
// socketpair, whose server end the fake watches. It answers
// guest-sync-delimited by itself (unless told not to) and hands every other
// command to a handler that returns the bytes to send back ("" = silence).

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/unique_fd.h"
#include "qmp/json_stream.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::agent::testing {

inline std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

class FakeAgent {
 public:
  struct Received {
    std::string command;
    std::string arguments;  // JSON, "" when absent
    bool after_delimiter = false;  // a 0xFF came just before it
  };
  using Handler = std::function<std::string(const Received&)>;

  explicit FakeAgent(EventLoop* loop) : loop_(loop) {}
  ~FakeAgent() { Close(); }

  Connector MakeConnector() {
    return [this]() -> absl::StatusOr<UniqueFd> {
      ++connects_;
      if (refuse_connect_) return absl::UnavailableError("fake: refused");
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        return absl::ErrnoToStatus(errno, "fake: socketpair");
      }
      Close();
      fd_.reset(sv[0]);
      stream_ = qmp::JsonStream();
      auto watch = loop_->WatchFd(fd_.get(), kFdReadable, [this](uint32_t) { OnReadable(); });
      if (!watch.ok()) return watch.status();
      watch_ = *watch;
      return UniqueFd(sv[1]);
    };
  }

  void set_handler(Handler h) { handler_ = std::move(h); }
  void set_answer_sync(bool answer) { answer_sync_ = answer; }
  void set_refuse_connect(bool refuse) { refuse_connect_ = refuse; }
  // Bytes sent before the reply to the next sync (a late reply in the channel).
  void set_before_next_sync_reply(std::string bytes) { before_sync_reply_ = std::move(bytes); }

  const std::vector<Received>& received() const { return received_; }
  int connects() const { return connects_; }
  int count(std::string_view command) const {
    int n = 0;
    for (const Received& r : received_) n += r.command == command;
    return n;
  }

  void Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd_.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EPIPE) return;  // the client went away first
      ASSERT_GT(n, 0) << "fake agent: write: " << strerror(errno);
      off += static_cast<size_t>(n);
    }
  }

  // Hangs up, as QEMU's chardev does when the VM goes away.
  void Close() {
    if (watch_.valid()) loop_->Unwatch(watch_);
    watch_ = {};
    fd_.reset();
  }

 private:
  void OnReadable() {
    char buf[4096];
    ssize_t n = read(fd_.get(), buf, sizeof(buf));
    if (n <= 0) {
      if (n == 0) Close();
      return;
    }
    std::string_view data(buf, static_cast<size_t>(n));
    for (char c : data) {
      if (c == '\xff') {
        // qemu-ga resets its parser on this byte.
        stream_ = qmp::JsonStream();
        delimiter_pending_ = true;
        continue;
      }
      std::vector<std::string> messages;
      ASSERT_TRUE(stream_.Feed(std::string_view(&c, 1), &messages).ok());
      for (const std::string& m : messages) Handle(m);
    }
  }

  void Handle(const std::string& text) {
    rapidjson::Document doc;
    doc.Parse(text.c_str());
    ASSERT_TRUE(doc.IsObject()) << text;
    Received r;
    r.command = doc["execute"].GetString();
    if (doc.HasMember("arguments")) r.arguments = ToJson(doc["arguments"]);
    r.after_delimiter = delimiter_pending_;
    delimiter_pending_ = false;
    received_.push_back(r);
    if (r.command == "guest-sync-delimited") {
      if (!answer_sync_) return;
      std::string reply = before_sync_reply_;
      before_sync_reply_.clear();
      reply += "\xff{\"return\": " + ToJson(doc["arguments"]["id"]) + "}\n";
      Send(reply);
      return;
    }
    if (handler_) {
      std::string reply = handler_(r);
      if (!reply.empty()) Send(reply);
    }
  }

  EventLoop* loop_;
  UniqueFd fd_;
  WatchId watch_;
  qmp::JsonStream stream_;
  bool delimiter_pending_ = false;
  bool answer_sync_ = true;
  bool refuse_connect_ = false;
  std::string before_sync_reply_;
  Handler handler_;
  std::vector<Received> received_;
  int connects_ = 0;
};

}  // namespace qdirect::agent::testing
