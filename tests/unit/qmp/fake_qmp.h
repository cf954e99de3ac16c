#pragma once

// A scripted QMP server over a socketpair, driven from the test's thread: it
// reads what the client wrote while running the client's loop.

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "qdirect/event_loop.h"
#include "qdirect/unique_fd.h"
#include "qmp/json_stream.h"
#include "rapidjson/document.h"

namespace qdirect::qmp::testing {

inline constexpr char kGreeting[] =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2"}, "capabilities": ["oob"]}})";

class FakeQmp {
 public:
  // fd: the server end (non-blocking).
  FakeQmp(EventLoop* loop, UniqueFd fd) : loop_(loop), fd_(std::move(fd)) {}

  void Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = write(fd_.get(), bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EAGAIN) {
        ASSERT_TRUE(loop_->RunOnce(absl::Milliseconds(1)).ok());
        continue;
      }
      ASSERT_GT(n, 0) << strerror(errno);
      off += n;
    }
  }

  // Runs the client's loop until the next command arrives (5 s at most).
  rapidjson::Document Next() {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (pending_.empty() && absl::Now() < deadline) {
      ReadAvailable();
      if (!pending_.empty()) break;
      EXPECT_TRUE(loop_->RunOnce(absl::Milliseconds(5)).ok());
    }
    rapidjson::Document doc;
    if (pending_.empty()) {
      ADD_FAILURE() << "fake QMP: no command within 5 s";
      doc.SetObject();
      return doc;
    }
    doc.Parse(pending_.front().c_str());
    pending_.pop_front();
    return doc;
  }

  // True if a command is waiting (after a short run of the loop).
  bool HasCommand() {
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(loop_->RunOnce(absl::Milliseconds(1)).ok());
      ReadAvailable();
    }
    return !pending_.empty();
  }

  static std::string Id(const rapidjson::Document& cmd) {
    return cmd.HasMember("id") ? cmd["id"].GetString() : "";
  }

  void Reply(const rapidjson::Document& cmd, const std::string& ret) {
    Send(R"({"return": )" + ret + R"(, "id": ")" + Id(cmd) + "\"}\n");
  }

  void Greet() {
    Send(std::string(kGreeting) + "\n");
    rapidjson::Document caps = Next();
    ASSERT_STREQ(caps["execute"].GetString(), "qmp_capabilities");
    Reply(caps, "{}");
  }

  void Event(const std::string& name, const std::string& data) {
    Send(R"({"event": ")" + name + R"(", "data": )" + data +
         R"(, "timestamp": {"seconds": 1700000000, "microseconds": 5}})" + "\n");
  }

  // Fds received with the commands so far, in order.
  std::vector<UniqueFd>& fds() { return fds_; }
  void Close() { fd_.reset(); }

 private:
  void ReadAvailable() {
    if (!fd_) return;
    for (;;) {
      char buf[4096];
      char control[CMSG_SPACE(sizeof(int) * 8)];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n <= 0) return;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          fds_.emplace_back(fd);
        }
      }
      std::vector<std::string> out;
      EXPECT_TRUE(stream_.Feed(std::string_view(buf, n), &out).ok());
      for (auto& m : out) pending_.push_back(std::move(m));
    }
  }

  EventLoop* loop_;
  UniqueFd fd_;
  JsonStream stream_;
  std::deque<std::string> pending_;
  std::vector<UniqueFd> fds_;
};

}  // namespace qdirect::qmp::testing
