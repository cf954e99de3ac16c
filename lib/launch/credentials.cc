#include "launch/credentials.h"

#include <cap-ng.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace qdirect::launch {

absl::StatusOr<Credentials> LookupUser(std::string_view name) {
  const std::string user(name);
  long size_hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size_hint > 0 ? size_hint : 4096);
  struct passwd entry;
  struct passwd* found = nullptr;
  int err;
  while ((err = getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(),
                           &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (err != 0) {
    return absl::ErrnoToStatus(err, absl::StrCat("getpwnam ", user));
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("user ", user, ": no such user"));
  }
  return Credentials{.uid = entry.pw_uid, .gid = entry.pw_gid, .groups = {}};
}

absl::StatusOr<Credentials> ResolveQemuCredentials(
    std::string_view configured) {
  if (!configured.empty()) return LookupUser(configured);
  for (std::string_view candidate : kDefaultQemuUsers) {
    absl::StatusOr<Credentials> found = LookupUser(candidate);
    if (found.ok() || !absl::IsNotFound(found.status())) return found;
  }
  return absl::NotFoundError(
      "qemu user: none of libvirt-qemu, qemu, nobody exists on this host; "
      "configure one");
}

absl::StatusOr<int> ParseCapability(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower.rfind("cap_", 0) == 0) lower.erase(0, 4);
  const int cap = capng_name_to_capability(lower.c_str());
  if (cap < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "capability \"", std::string(name), "\": unknown capability"));
  }
  return cap;
}

}  // namespace qdirect::launch
