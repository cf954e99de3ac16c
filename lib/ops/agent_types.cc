// qemu-ga's reply values as typed structs, and its error replies as Status.
#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "qdirect/agent.h"
#include "qdirect/qmp.h"

namespace qdirect::agent {
namespace {

// Debian's abseil has its own string_view type.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Bad(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("agent: ", AV(where), ": ", AV(what)));
}

// An optional string member: empty when absent; an error when not a string.
absl::Status OptString(const rapidjson::Value& obj, const char* name, std::string_view where,
                       std::string* out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsString()) return Bad(where, absl::StrCat(name, ": not a string"));
  out->assign(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

absl::Status OptBool(const rapidjson::Value& obj, const char* name, std::string_view where,
                     bool* out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsBool()) return Bad(where, absl::StrCat(name, ": not a boolean"));
  *out = it->value.GetBool();
  return absl::OkStatus();
}

absl::Status OptInt(const rapidjson::Value& obj, const char* name, std::string_view where,
                    std::optional<int64_t>* out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsInt64()) return Bad(where, absl::StrCat(name, ": not an integer"));
  *out = it->value.GetInt64();
  return absl::OkStatus();
}

absl::Status OptBase64(const rapidjson::Value& obj, const char* name, std::string_view where,
                       std::string* out) {
  std::string encoded;
  RETURN_IF_ERROR(OptString(obj, name, where, &encoded));
  if (encoded.empty()) return absl::OkStatus();
  if (!absl::Base64Unescape(encoded, out)) return Bad(where, absl::StrCat(name, ": bad base64"));
  return absl::OkStatus();
}

absl::Status RequireObject(const rapidjson::Value& v, std::string_view where) {
  return v.IsObject() ? absl::OkStatus() : Bad(where, "not an object");
}
absl::Status RequireArray(const rapidjson::Value& v, std::string_view where) {
  return v.IsArray() ? absl::OkStatus() : Bad(where, "not an array");
}

}  // namespace

absl::Status AgentErrorStatus(std::string_view command, std::string_view error_class,
                              std::string_view desc) {
  // Same code and class payload as a QMP error; only the prefix differs.
  absl::Status qmp = qmp::ErrorReplyStatus(command, error_class, desc);
  absl::Status status(qmp.code(),
                      absl::StrCat("agent: ", AV(command), ": ", AV(error_class), ": ", AV(desc)));
  status.SetPayload(AV(qmp::kErrorClassPayloadUrl), absl::Cord(AV(error_class)));
  return status;
}

absl::StatusOr<AgentInfo> ParseAgentInfo(const rapidjson::Value& value) {
  constexpr std::string_view kWhere = "guest-info";
  RETURN_IF_ERROR(RequireObject(value, kWhere));
  AgentInfo info;
  RETURN_IF_ERROR(OptString(value, "version", kWhere, &info.version));
  auto it = value.FindMember("supported_commands");
  if (it == value.MemberEnd()) return info;
  RETURN_IF_ERROR(RequireArray(it->value, "guest-info: supported_commands"));
  for (const rapidjson::Value& c : it->value.GetArray()) {
    RETURN_IF_ERROR(RequireObject(c, "guest-info: supported_commands[]"));
    AgentCommandInfo cmd;
    RETURN_IF_ERROR(OptString(c, "name", kWhere, &cmd.name));
    RETURN_IF_ERROR(OptBool(c, "enabled", kWhere, &cmd.enabled));
    RETURN_IF_ERROR(OptBool(c, "success-response", kWhere, &cmd.success_response));
    info.supported_commands.push_back(std::move(cmd));
  }
  return info;
}

absl::StatusOr<GuestOsInfo> ParseOsInfo(const rapidjson::Value& value) {
  constexpr std::string_view kWhere = "guest-get-osinfo";
  RETURN_IF_ERROR(RequireObject(value, kWhere));
  GuestOsInfo os;
  RETURN_IF_ERROR(OptString(value, "name", kWhere, &os.name));
  RETURN_IF_ERROR(OptString(value, "kernel-release", kWhere, &os.kernel_release));
  RETURN_IF_ERROR(OptString(value, "version", kWhere, &os.version));
  RETURN_IF_ERROR(OptString(value, "pretty-name", kWhere, &os.pretty_name));
  RETURN_IF_ERROR(OptString(value, "version-id", kWhere, &os.version_id));
  RETURN_IF_ERROR(OptString(value, "kernel-version", kWhere, &os.kernel_version));
  RETURN_IF_ERROR(OptString(value, "machine", kWhere, &os.machine));
  RETURN_IF_ERROR(OptString(value, "id", kWhere, &os.id));
  return os;
}

absl::StatusOr<std::vector<NetworkInterface>> ParseNetworkInterfaces(const rapidjson::Value& value) {
  constexpr std::string_view kWhere = "guest-network-get-interfaces";
  RETURN_IF_ERROR(RequireArray(value, kWhere));
  std::vector<NetworkInterface> out;
  for (const rapidjson::Value& i : value.GetArray()) {
    RETURN_IF_ERROR(RequireObject(i, kWhere));
    NetworkInterface iface;
    RETURN_IF_ERROR(OptString(i, "name", kWhere, &iface.name));
    RETURN_IF_ERROR(OptString(i, "hardware-address", kWhere, &iface.hardware_address));
    auto ips = i.FindMember("ip-addresses");
    if (ips != i.MemberEnd()) {
      RETURN_IF_ERROR(RequireArray(ips->value, "guest-network-get-interfaces: ip-addresses"));
      for (const rapidjson::Value& a : ips->value.GetArray()) {
        RETURN_IF_ERROR(RequireObject(a, "guest-network-get-interfaces: ip-addresses[]"));
        IpAddress ip;
        RETURN_IF_ERROR(OptString(a, "ip-address-type", kWhere, &ip.type));
        RETURN_IF_ERROR(OptString(a, "ip-address", kWhere, &ip.address));
        std::optional<int64_t> prefix;
        RETURN_IF_ERROR(OptInt(a, "prefix", kWhere, &prefix));
        if (prefix && (*prefix < 0 || *prefix > 128)) {
          return Bad(kWhere, absl::StrCat("prefix ", *prefix, " out of range"));
        }
        ip.prefix = static_cast<int>(prefix.value_or(0));
        iface.ip_addresses.push_back(std::move(ip));
      }
    }
    auto stats = i.FindMember("statistics");
    if (stats != i.MemberEnd()) {
      RETURN_IF_ERROR(RequireObject(stats->value, "guest-network-get-interfaces: statistics"));
      InterfaceStatistics s;
      const std::pair<const char*, int64_t*> counters[] = {
          {"rx-bytes", &s.rx_bytes},     {"rx-packets", &s.rx_packets},
          {"rx-errs", &s.rx_errs},       {"rx-dropped", &s.rx_dropped},
          {"tx-bytes", &s.tx_bytes},     {"tx-packets", &s.tx_packets},
          {"tx-errs", &s.tx_errs},       {"tx-dropped", &s.tx_dropped}};
      for (const auto& [key, field] : counters) {
        std::optional<int64_t> value;
        RETURN_IF_ERROR(OptInt(stats->value, key, kWhere, &value));
        *field = value.value_or(0);
      }
      iface.statistics = s;
    }
    out.push_back(std::move(iface));
  }
  return out;
}

absl::StatusOr<std::vector<Filesystem>> ParseFsInfo(const rapidjson::Value& value) {
  constexpr std::string_view kWhere = "guest-get-fsinfo";
  RETURN_IF_ERROR(RequireArray(value, kWhere));
  std::vector<Filesystem> out;
  for (const rapidjson::Value& f : value.GetArray()) {
    RETURN_IF_ERROR(RequireObject(f, kWhere));
    Filesystem fs;
    RETURN_IF_ERROR(OptString(f, "name", kWhere, &fs.name));
    RETURN_IF_ERROR(OptString(f, "mountpoint", kWhere, &fs.mountpoint));
    RETURN_IF_ERROR(OptString(f, "type", kWhere, &fs.type));
    std::optional<int64_t> used, total;
    RETURN_IF_ERROR(OptInt(f, "used-bytes", kWhere, &used));
    RETURN_IF_ERROR(OptInt(f, "total-bytes", kWhere, &total));
    if (used) fs.used_bytes = static_cast<uint64_t>(*used);
    if (total) fs.total_bytes = static_cast<uint64_t>(*total);
    auto disks = f.FindMember("disk");
    if (disks != f.MemberEnd()) {
      RETURN_IF_ERROR(RequireArray(disks->value, "guest-get-fsinfo: disk"));
      for (const rapidjson::Value& d : disks->value.GetArray()) {
        RETURN_IF_ERROR(RequireObject(d, "guest-get-fsinfo: disk[]"));
        FsDisk disk;
        RETURN_IF_ERROR(OptString(d, "serial", kWhere, &disk.serial));
        RETURN_IF_ERROR(OptString(d, "bus-type", kWhere, &disk.bus_type));
        RETURN_IF_ERROR(OptString(d, "dev", kWhere, &disk.dev));
        fs.disks.push_back(std::move(disk));
      }
    }
    out.push_back(std::move(fs));
  }
  return out;
}

absl::StatusOr<std::vector<GuestUser>> ParseUsers(const rapidjson::Value& value) {
  constexpr std::string_view kWhere = "guest-get-users";
  RETURN_IF_ERROR(RequireArray(value, kWhere));
  std::vector<GuestUser> out;
  for (const rapidjson::Value& u : value.GetArray()) {
    RETURN_IF_ERROR(RequireObject(u, kWhere));
    GuestUser user;
    RETURN_IF_ERROR(OptString(u, "user", kWhere, &user.user));
    RETURN_IF_ERROR(OptString(u, "domain", kWhere, &user.domain));
    auto t = u.FindMember("login-time");
    if (t != u.MemberEnd()) {
      if (!t->value.IsNumber()) return Bad(kWhere, "login-time: not a number");
      user.login_time = t->value.GetDouble();
    }
    out.push_back(std::move(user));
  }
  return out;
}

absl::StatusOr<ExecStatus> ParseExecStatus(const rapidjson::Value& value) {
  constexpr std::string_view kWhere = "guest-exec-status";
  RETURN_IF_ERROR(RequireObject(value, kWhere));
  auto exited = value.FindMember("exited");
  if (exited == value.MemberEnd() || !exited->value.IsBool()) {
    return Bad(kWhere, "exited: missing or not a boolean");
  }
  ExecStatus st;
  st.exited = exited->value.GetBool();
  std::optional<int64_t> code, signal;
  RETURN_IF_ERROR(OptInt(value, "exitcode", kWhere, &code));
  RETURN_IF_ERROR(OptInt(value, "signal", kWhere, &signal));
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if ((code && (*code < -kMax || *code > kMax)) || (signal && (*signal < 0 || *signal > kMax))) {
    return Bad(kWhere, "exitcode or signal out of range");
  }
  st.exit_code = static_cast<int>(code.value_or(0));
  if (signal) st.signal = static_cast<int>(*signal);
  RETURN_IF_ERROR(OptBase64(value, "out-data", kWhere, &st.out));
  RETURN_IF_ERROR(OptBase64(value, "err-data", kWhere, &st.err));
  RETURN_IF_ERROR(OptBool(value, "out-truncated", kWhere, &st.out_truncated));
  RETURN_IF_ERROR(OptBool(value, "err-truncated", kWhere, &st.err_truncated));
  return st;
}

}  // namespace qdirect::agent
