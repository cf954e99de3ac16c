#include "ops/migration_params.h"

#include <utility>

namespace qdirect::ops {

MigrationSetup MigrationSetupFor(const MigrationOptions& options,
                                 MigrationSide side) {
  MigrationSetup setup;
  const bool source = side == MigrationSide::kSource;
  const bool multifd = options.parallel_migration_threads >= 2;
  setup.capabilities.push_back({"events", true});
  if (source) {
    setup.capabilities.push_back({"auto-converge", options.allow_auto_converge});
  }
  setup.capabilities.push_back({"multifd", multifd});
  setup.capabilities.push_back({"postcopy-ram", options.allow_post_copy});
  if (multifd) {
    setup.parameters.multifd_channels = options.parallel_migration_threads;
  }
  if (source) {
    setup.parameters.max_bandwidth = options.bandwidth_per_migration == 0
                                         ? kUnlimitedBandwidth
                                         : options.bandwidth_per_migration;
    setup.parameters.downtime_limit = options.max_downtime_ms;
  }
  if (!options.disable_tls && !options.tls_x509_dir.empty()) {
    setup.tls = TlsCredsObject{kMigrationTlsId, options.tls_x509_dir,
                               source ? "client" : "server", true};
    setup.parameters.tls_creds = kMigrationTlsId;
    if (source && !options.tls_hostname.empty()) {
      setup.parameters.tls_hostname = options.tls_hostname;
    }
  }
  return setup;
}

namespace {

rapidjson::Value Str(const std::string& s, rapidjson::Document::AllocatorType& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace

rapidjson::Document CapabilitiesArgs(
    const std::vector<MigrationCapability>& capabilities) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  rapidjson::Value list(rapidjson::kArrayType);
  for (const MigrationCapability& c : capabilities) {
    rapidjson::Value entry(rapidjson::kObjectType);
    entry.AddMember("capability", Str(c.capability, a), a);
    entry.AddMember("state", c.state, a);
    list.PushBack(entry, a);
  }
  doc.AddMember("capabilities", list, a);
  return doc;
}

rapidjson::Document ParametersArgs(const MigrationParameters& p) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  if (p.max_bandwidth) {
    doc.AddMember("max-bandwidth", static_cast<uint64_t>(*p.max_bandwidth), a);
  }
  if (p.downtime_limit) {
    doc.AddMember("downtime-limit", static_cast<int64_t>(*p.downtime_limit), a);
  }
  if (p.multifd_channels) {
    doc.AddMember("multifd-channels", static_cast<int64_t>(*p.multifd_channels), a);
  }
  if (p.tls_creds) doc.AddMember("tls-creds", Str(*p.tls_creds, a), a);
  if (p.tls_hostname) doc.AddMember("tls-hostname", Str(*p.tls_hostname, a), a);
  if (p.max_postcopy_bandwidth) {
    doc.AddMember("max-postcopy-bandwidth",
                  static_cast<uint64_t>(*p.max_postcopy_bandwidth), a);
  }
  return doc;
}

rapidjson::Document TlsObjectArgs(const TlsCredsObject& object) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("qom-type", "tls-creds-x509", a);
  doc.AddMember("id", Str(object.id, a), a);
  doc.AddMember("dir", Str(object.dir, a), a);
  doc.AddMember("endpoint", Str(object.endpoint, a), a);
  doc.AddMember("verify-peer", object.verify_peer, a);
  return doc;
}

}  // namespace qdirect::ops
