#pragma once

// The QMP arguments a migration's policy (MigrationOptions) turns into, for
// each side: migrate-set-capabilities, migrate-set-parameters and, with
// TLS, the tls-creds-x509 object. Pure: tests compare the structs.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qdirect/migration.h"
#include "rapidjson/document.h"

namespace qdirect::ops {

enum class MigrationSide { kSource, kTarget };

// One entry of migrate-set-capabilities.
struct MigrationCapability {
  std::string capability;  // QEMU's MigrationCapability name
  bool state = false;
  bool operator==(const MigrationCapability&) const = default;
};

// migrate-set-parameters; unset members are not sent.
struct MigrationParameters {
  std::optional<uint64_t> max_bandwidth;    // max-bandwidth, bytes/s
  std::optional<int64_t> downtime_limit;    // downtime-limit, ms
  std::optional<int64_t> multifd_channels;  // multifd-channels
  std::optional<std::string> tls_creds;     // tls-creds (object id)
  std::optional<std::string> tls_hostname;  // tls-hostname
  // max-postcopy-bandwidth, bytes/s. MigrationSetupFor leaves it unset:
  // KubeVirt's bandwidthPerMigration limits precopy only (QEMU's 0, no
  // limit, for postcopy); tests set it to keep a postcopy going a while.
  std::optional<uint64_t> max_postcopy_bandwidth;
  bool operator==(const MigrationParameters&) const = default;
};

// object-add of a tls-creds-x509.
struct TlsCredsObject {
  std::string id;
  std::string dir;
  std::string endpoint;  // "client" (source) | "server" (target)
  bool verify_peer = true;
  bool operator==(const TlsCredsObject&) const = default;
};

struct MigrationSetup {
  std::vector<MigrationCapability> capabilities;
  MigrationParameters parameters;
  std::optional<TlsCredsObject> tls;
  bool operator==(const MigrationSetup&) const = default;
};

// The id of the TLS object qdirect adds for a migration.
inline constexpr char kMigrationTlsId[] = "qdirect-migration-tls";
// max-bandwidth for "unlimited": libvirt's QEMU_DOMAIN_MIG_BANDWIDTH_MAX
// (INT64_MAX rounded down to whole MiB).
inline constexpr uint64_t kUnlimitedBandwidth =
    (static_cast<uint64_t>(INT64_MAX) >> 20) << 20;

// What `options` asks of `side`. The target gets the capabilities that shape
// the stream (multifd, postcopy-ram) and multifd-channels; the source also
// gets bandwidth, downtime and auto-converge. Both get `events` (MIGRATION
// events follow the progress).
MigrationSetup MigrationSetupFor(const MigrationOptions& options,
                                 MigrationSide side);

// The arguments of migrate-set-capabilities, migrate-set-parameters and
// object-add, as QMP wants them.
rapidjson::Document CapabilitiesArgs(
    const std::vector<MigrationCapability>& capabilities);
rapidjson::Document ParametersArgs(const MigrationParameters& parameters);
rapidjson::Document TlsObjectArgs(const TlsCredsObject& object);

}  // namespace qdirect::ops
