#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace qdirect::launch {

// Credentials is who a spawned process runs as. The child sets them before
// exec (setgroups, setresgid, setresuid): QEMU's own -runas dies of SIGSYS
// under -sandbox elevateprivileges=deny on 7.2, so we never ask QEMU to drop.
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  // Supplementary groups; empty means the child has none.
  std::vector<gid_t> groups = {};

  friend bool operator==(const Credentials&, const Credentials&) = default;
};

// Looks a user up in the passwd database; the credentials carry its primary
// group and no supplementary groups. NotFound names the user.
absl::StatusOr<Credentials> LookupUser(std::string_view name);

// The users QEMU runs as when none is configured, first match wins: the
// libvirt packages' "libvirt-qemu", a distribution's "qemu", then "nobody".
// Debian's qemu-system packages create no user of their own.
inline constexpr std::string_view kDefaultQemuUsers[] = {"libvirt-qemu", "qemu",
                                                         "nobody"};

// The credentials QEMU runs as: `configured` when not empty (it must exist),
// else the first of kDefaultQemuUsers present on this host.
absl::StatusOr<Credentials> ResolveQemuCredentials(std::string_view configured);

// A capability number from its name: "CAP_NET_BIND_SERVICE" or
// "net_bind_service" (case-insensitive), as libcap-ng spells them.
absl::StatusOr<int> ParseCapability(std::string_view name);

}  // namespace qdirect::launch
