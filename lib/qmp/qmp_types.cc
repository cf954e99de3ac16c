// The value types of qmp.h: event matchers, typed replies, timeout classes.
#include <array>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "qdirect/qmp.h"

namespace qdirect::qmp {
namespace {
// Debian's abseil has its own string_view type.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

bool EventMatcher::Matches(const Event& event) const {
  if (event.name != name) return false;
  return !predicate || predicate(event.data);
}

EventMatcher EventMatcher::DeviceDeleted(std::string device_id) {
  return EventMatcher{"DEVICE_DELETED", [id = std::move(device_id)](const rapidjson::Value& data) {
                        auto it = data.FindMember("device");
                        return it != data.MemberEnd() && it->value.IsString() &&
                               std::string_view(it->value.GetString(),
                                                it->value.GetStringLength()) == id;
                      }};
}

absl::Duration CommandTimeout(std::string_view command, const ClientOptions& options) {
  // Commands that wait on the guest, on I/O or on other hosts.
  static constexpr std::array<std::string_view, 12> kLong = {
      "device_add",  "device_del", "stop",       "cont",       "blockdev-add", "blockdev-del",
      "transaction", "object-add", "netdev_add", "netdev_del", "object-del",   "system_wakeup",
  };
  static constexpr std::array<std::string_view, 5> kLongPrefixes = {"migrate", "block-job-",
                                                                    "blockdev-", "job-", "drive-"};
  for (std::string_view c : kLong) {
    if (command == c) return options.long_timeout;
  }
  for (std::string_view p : kLongPrefixes) {
    if (absl::StartsWith(AV(command), AV(p))) return options.long_timeout;
  }
  return options.short_timeout;
}

namespace {

absl::Status Malformed(std::string_view command, std::string_view what) {
  return absl::InternalError(absl::StrCat("qmp: ", AV(command), ": malformed reply: ", AV(what)));
}

}  // namespace

absl::StatusOr<StatusInfo> ParseStatusInfo(const rapidjson::Value& value) {
  if (!value.IsObject()) return Malformed("query-status", "not an object");
  auto running = value.FindMember("running");
  auto status = value.FindMember("status");
  if (running == value.MemberEnd() || !running->value.IsBool()) {
    return Malformed("query-status", "no boolean \"running\"");
  }
  if (status == value.MemberEnd() || !status->value.IsString()) {
    return Malformed("query-status", "no string \"status\"");
  }
  return StatusInfo{running->value.GetBool(),
                    std::string(status->value.GetString(), status->value.GetStringLength())};
}

absl::StatusOr<VersionInfo> ParseVersionInfo(const rapidjson::Value& value) {
  if (!value.IsObject()) return Malformed("query-version", "not an object");
  auto qemu = value.FindMember("qemu");
  if (qemu == value.MemberEnd() || !qemu->value.IsObject()) {
    return Malformed("query-version", "no object \"qemu\"");
  }
  VersionInfo info;
  for (auto [key, field] : {std::pair{"major", &info.major}, std::pair{"minor", &info.minor},
                            std::pair{"micro", &info.micro}}) {
    auto it = qemu->value.FindMember(key);
    if (it == qemu->value.MemberEnd() || !it->value.IsInt()) {
      return Malformed("query-version", absl::StrCat("no integer \"qemu.", key, "\""));
    }
    *field = it->value.GetInt();
  }
  auto package = value.FindMember("package");
  if (package != value.MemberEnd() && package->value.IsString()) {
    info.package = package->value.GetString();
  }
  return info;
}

}  // namespace qdirect::qmp
