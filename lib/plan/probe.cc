#include "plan/probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "plan/capabilities_json.h"
#include "qdirect/plan.h"
#include "qdirect/unique_fd.h"
#include "rapidjson/document.h"

namespace qdirect {
namespace plan {

const std::vector<std::string>& ProbedDeviceTypes() {
  static const std::vector<std::string> kTypes = {
      "VGA",           "bochs-display",     "e1000",
      "e1000e",        "i6300esb",          "ide-cd",
      "ide-hd",        "isa-serial",        "ne2k_pci",
      "pcie-root-port", "pcnet",            "qemu-xhci",
      "ramfb",         "rtl8139",           "scsi-block",
      "scsi-cd",       "scsi-hd",           "usb-kbd",
      "usb-storage",   "usb-tablet",        "vfio-pci",
      "virtio-balloon-pci", "virtio-blk-pci", "virtio-keyboard-pci",
      "virtio-mem-pci", "virtio-net-pci",   "virtio-rng-pci",
      "virtio-scsi-pci", "virtio-serial-pci", "virtio-tablet-pci",
      "virtio-vga",    "virtserialport",
  };
  return kTypes;
}

namespace {

uint64_t Fnv1a64(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

absl::Status ErrnoError(int err, std::string_view what) {
  return absl::ErrnoToStatus(err, absl::string_view(what.data(), what.size()));
}

// The identity of the binary the cache is valid for.
absl::StatusOr<std::string> CacheKey(const std::string& binary) {
  struct stat st;
  if (::stat(binary.c_str(), &st) != 0) {
    return ErrnoError(errno, absl::StrCat("qemu probe: stat ", binary));
  }
  int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  return absl::StrCat(binary, "|", st.st_size, "|", mtime_ns);
}

// Reads QMP replies line by line from QEMU's stdout with a deadline.
class LineReader {
 public:
  LineReader(int fd, std::chrono::steady_clock::time_point deadline)
      : fd_(fd), deadline_(deadline) {}

  absl::StatusOr<std::string> Next() {
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return absl::DeadlineExceededError("qemu probe: no reply in time");
      }
      struct pollfd pfd = {fd_, POLLIN, 0};
      int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "qemu probe: poll");
      }
      if (n == 0) continue;
      char chunk[65536];
      ssize_t got = ::read(fd_, chunk, sizeof chunk);
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return ErrnoError(errno, "qemu probe: read");
      }
      if (got == 0) {
        return absl::UnavailableError("qemu probe: QEMU closed its monitor");
      }
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

 private:
  int fd_;
  std::chrono::steady_clock::time_point deadline_;
  std::string buffer_;
};

std::string ReadAll(int fd) {
  std::string out;
  ::lseek(fd, 0, SEEK_SET);
  char chunk[4096];
  ssize_t got;
  while ((got = ::read(fd, chunk, sizeof chunk)) > 0) {
    out.append(chunk, static_cast<size_t>(got));
  }
  return out;
}

struct Command {
  std::string json;
  std::string device_type;  // device-list-properties only
};

void AddNames(const rapidjson::Value& list, const char* key,
              QemuCapabilities::Names& out) {
  if (!list.IsArray()) return;
  for (const rapidjson::Value& item : list.GetArray()) {
    if (!item.IsObject()) continue;
    auto it = item.FindMember(key);
    if (it != item.MemberEnd() && it->value.IsString()) {
      out.emplace(it->value.GetString(), it->value.GetStringLength());
    }
  }
}

// Runs the exchange against a started QEMU: every command is written at
// once (QMP answers in order), then the replies are read back.
absl::StatusOr<QemuCapabilities> Exchange(const std::string& binary,
                                          int to_qemu, LineReader& reader) {
  std::vector<Command> commands = {
      {R"({"execute":"qmp_capabilities"})", ""},
      {R"({"execute":"query-version"})", ""},
      {R"({"execute":"query-machines"})", ""},
      {R"({"execute":"qom-list-types","arguments":{"implements":"device","abstract":false}})", ""},
      {R"({"execute":"qom-list-types","arguments":{"implements":"user-creatable","abstract":false}})", ""},
      {R"({"execute":"qom-list-types","arguments":{"implements":"accel","abstract":false}})", ""},
      // query-events is gone in 7.2; the schema lists commands and events.
      {R"({"execute":"query-qmp-schema"})", ""},
      {R"({"execute":"query-cpu-definitions"})", ""},
  };
  for (const std::string& type : ProbedDeviceTypes()) {
    commands.push_back(
        {absl::StrCat(R"({"execute":"device-list-properties","arguments":{"typename":")",
                      type, R"("}})"),
         type});
  }
  commands.push_back({R"({"execute":"quit"})", ""});
  std::string out;
  for (const Command& c : commands) absl::StrAppend(&out, c.json, "\n");
  for (size_t done = 0; done < out.size();) {
    ssize_t n =
        ::send(to_qemu, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "qemu probe: write to QEMU");
    }
    done += static_cast<size_t>(n);
  }

  QemuCapabilities caps;
  caps.binary = binary;
  ASSIGN_OR_RETURN(std::string greeting, reader.Next());
  if (greeting.find("\"QMP\"") == std::string::npos) {
    return absl::UnavailableError(
        absl::StrCat("qemu probe: ", binary, ": no QMP greeting: ", greeting));
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    rapidjson::Document reply;
    while (true) {
      ASSIGN_OR_RETURN(std::string line, reader.Next());
      reply.Parse(line.data(), line.size());
      if (reply.HasParseError() || !reply.IsObject()) {
        return absl::UnavailableError(
            absl::StrCat("qemu probe: unparsable reply: ", line));
      }
      if (!reply.HasMember("event")) break;
    }
    const Command& command = commands[i];
    auto error = reply.FindMember("error");
    if (error != reply.MemberEnd()) {
      if (!command.device_type.empty()) continue;  // device not compiled in
      return absl::UnavailableError(absl::StrCat(
          "qemu probe: ", command.json, " failed"));
    }
    auto ret_it = reply.FindMember("return");
    if (ret_it == reply.MemberEnd()) {
      return absl::UnavailableError("qemu probe: reply without return");
    }
    const rapidjson::Value& ret = ret_it->value;
    switch (i) {
      case 1: {  // query-version
        if (!ret.IsObject() || !ret.HasMember("qemu") ||
            !ret["qemu"].IsObject()) {
          return absl::UnavailableError("qemu probe: bad query-version reply");
        }
        const rapidjson::Value& v = ret["qemu"];
        for (auto [key, field] :
             {std::pair{"major", &caps.major}, std::pair{"minor", &caps.minor},
              std::pair{"micro", &caps.micro}}) {
          if (v.HasMember(key) && v[key].IsInt()) *field = v[key].GetInt();
        }
        caps.version =
            absl::StrCat(caps.major, ".", caps.minor, ".", caps.micro);
        break;
      }
      case 2:
        AddNames(ret, "name", caps.machine_types);
        AddNames(ret, "alias", caps.machine_types);
        break;
      case 3:
        AddNames(ret, "name", caps.device_types);
        break;
      case 4:
        AddNames(ret, "name", caps.object_types);
        break;
      case 5: {
        QemuCapabilities::Names accels;
        AddNames(ret, "name", accels);
        for (std::string name : accels) {
          constexpr std::string_view kSuffix = "-accel";
          if (name.size() > kSuffix.size() &&
              name.compare(name.size() - kSuffix.size(), kSuffix.size(),
                           kSuffix) == 0) {
            name.resize(name.size() - kSuffix.size());
            caps.accelerators.insert(name);
          }
        }
        break;
      }
      case 6:
        if (!ret.IsArray()) break;
        for (const rapidjson::Value& item : ret.GetArray()) {
          if (!item.IsObject() || !item.HasMember("name") ||
              !item.HasMember("meta-type") || !item["name"].IsString() ||
              !item["meta-type"].IsString()) {
            continue;
          }
          std::string_view meta = item["meta-type"].GetString();
          std::string name = item["name"].GetString();
          if (meta == "command") caps.commands.insert(name);
          if (meta == "event") caps.events.insert(name);
        }
        break;
      case 7:
        AddNames(ret, "name", caps.cpu_models);
        break;
      default:
        if (!command.device_type.empty()) {
          AddNames(ret, "name", caps.device_properties[command.device_type]);
        }
        break;
    }
  }
  return caps;
}

absl::StatusOr<QemuCapabilities> RunProbe(const std::string& binary) {
  // One socketpair serves as QEMU's stdin and stdout: writing to it with
  // MSG_NOSIGNAL cannot raise SIGPIPE in the caller when QEMU dies early.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError(errno, "qemu probe: socketpair");
  }
  UniqueFd ours(sv[0]), theirs(sv[1]);
  UniqueFd err_file(::memfd_create("qemu-probe-stderr", MFD_CLOEXEC));
  if (!err_file) return ErrnoError(errno, "qemu probe: memfd_create");

  const char* argv[] = {binary.c_str(), "-S",      "-machine", "none",
                        "-nodefaults",  "-nographic", "-qmp",  "stdio",
                        nullptr};
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError(errno, "qemu probe: fork");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    if (::dup2(theirs.get(), 0) < 0 || ::dup2(theirs.get(), 1) < 0 ||
        ::dup2(err_file.get(), 2) < 0) {
      ::_exit(127);
    }
    ::close_range(3, ~0u, 0);
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  theirs.reset();

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  LineReader reader(ours.get(), deadline);
  absl::StatusOr<QemuCapabilities> caps = Exchange(binary, ours.get(), reader);
  ours.reset();
  if (!caps.ok()) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!caps.ok()) {
    std::string err = ReadAll(err_file.get());
    return absl::Status(caps.status().code(),
                        absl::StrCat(caps.status().message(),
                                     err.empty() ? "" : "; stderr: ", err));
  }
  return caps;
}

absl::StatusOr<QemuCapabilities> ReadCache(const std::string& path,
                                           const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string stored_key;
  ASSIGN_OR_RETURN(QemuCapabilities caps,
                   CapabilitiesFromJson(text.str(), &stored_key));
  if (stored_key != key) return absl::NotFoundError("stale cache");
  return caps;
}

// Writes the cache atomically (temp file + rename) so a concurrent reader
// never sees half a file. Failures are ignored by the caller: the cache is
// an optimisation.
absl::Status WriteCache(const std::string& path, const std::string& text) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError(err, absl::StrCat("rename ", tmp));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CapabilitiesCachePath(const std::string& cache_dir,
                                  const std::string& binary) {
  return absl::StrFormat("%s/qemu-caps-%016x.json", cache_dir,
                         Fnv1a64(binary));
}

}  // namespace plan

absl::StatusOr<QemuCapabilities> ProbeQemu(const std::string& binary,
                                           const std::string& cache_dir) {
  if (binary.empty() || binary[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "qemu probe: binary \"", binary, "\" is not an absolute path"));
  }
  ASSIGN_OR_RETURN(std::string key, plan::CacheKey(binary));
  std::string cache_path;
  if (!cache_dir.empty()) {
    cache_path = plan::CapabilitiesCachePath(cache_dir, binary);
    absl::StatusOr<QemuCapabilities> cached = plan::ReadCache(cache_path, key);
    if (cached.ok()) return cached;
  }
  ASSIGN_OR_RETURN(QemuCapabilities caps, plan::RunProbe(binary));
  if (!cache_dir.empty()) {
    ::mkdir(cache_dir.c_str(), 0755);  // best effort; parent must exist
    plan::WriteCache(cache_path, plan::CapabilitiesToJson(caps, key))
        .IgnoreError();
  }
  return caps;
}

}  // namespace qdirect
