#include "ops/migration_params.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::ops {
namespace {

using ::testing::Contains;
using ::testing::Not;

std::string Json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

TEST(MigrationSetupFor, DefaultsLiftQemusBandwidthCapAndEnableEvents) {
  const MigrationSetup s = MigrationSetupFor({}, MigrationSide::kSource);
  EXPECT_EQ(s.parameters.max_bandwidth, kUnlimitedBandwidth);
  EXPECT_FALSE(s.parameters.downtime_limit.has_value());
  EXPECT_FALSE(s.parameters.multifd_channels.has_value());
  EXPECT_THAT(s.capabilities, Contains(MigrationCapability{"events", true}));
  EXPECT_THAT(s.capabilities, Contains(MigrationCapability{"multifd", false}));
  EXPECT_FALSE(s.tls.has_value());
}

TEST(MigrationSetupFor, SourceCarriesBandwidthDowntimeAutoConverge) {
  MigrationOptions o;
  o.bandwidth_per_migration = 64 << 20;
  o.max_downtime_ms = 500;
  o.allow_auto_converge = true;
  const MigrationSetup s = MigrationSetupFor(o, MigrationSide::kSource);
  EXPECT_EQ(s.parameters.max_bandwidth, uint64_t{64} << 20);
  EXPECT_EQ(s.parameters.downtime_limit, 500);
  EXPECT_THAT(s.capabilities, Contains(MigrationCapability{"auto-converge", true}));
}

TEST(MigrationSetupFor, TargetGetsOnlyWhatShapesTheStream) {
  MigrationOptions o;
  o.bandwidth_per_migration = 64 << 20;
  o.allow_auto_converge = true;
  o.parallel_migration_threads = 4;
  o.allow_post_copy = true;
  const MigrationSetup s = MigrationSetupFor(o, MigrationSide::kTarget);
  EXPECT_FALSE(s.parameters.max_bandwidth.has_value());
  EXPECT_EQ(s.parameters.multifd_channels, 4);
  EXPECT_THAT(s.capabilities, Contains(MigrationCapability{"multifd", true}));
  EXPECT_THAT(s.capabilities, Contains(MigrationCapability{"postcopy-ram", true}));
  EXPECT_THAT(s.capabilities,
              Not(Contains(MigrationCapability{"auto-converge", true})));
}

TEST(MigrationSetupFor, OneThreadIsNotMultifd) {
  MigrationOptions o;
  o.parallel_migration_threads = 1;
  const MigrationSetup s = MigrationSetupFor(o, MigrationSide::kSource);
  EXPECT_THAT(s.capabilities, Contains(MigrationCapability{"multifd", false}));
  EXPECT_FALSE(s.parameters.multifd_channels.has_value());
}

TEST(MigrationSetupFor, TlsDirMakesClientAndServerCredentials) {
  MigrationOptions o;
  o.tls_x509_dir = "/etc/pki/qemu";
  o.tls_hostname = "node2";
  const MigrationSetup src = MigrationSetupFor(o, MigrationSide::kSource);
  ASSERT_TRUE(src.tls.has_value());
  EXPECT_EQ(src.tls->endpoint, "client");
  EXPECT_EQ(src.parameters.tls_creds, kMigrationTlsId);
  EXPECT_EQ(src.parameters.tls_hostname, "node2");
  const MigrationSetup dst = MigrationSetupFor(o, MigrationSide::kTarget);
  ASSERT_TRUE(dst.tls.has_value());
  EXPECT_EQ(dst.tls->endpoint, "server");
  EXPECT_FALSE(dst.parameters.tls_hostname.has_value());
}

TEST(MigrationSetupFor, DisableTlsWins) {
  MigrationOptions o;
  o.tls_x509_dir = "/etc/pki/qemu";
  o.disable_tls = true;
  const MigrationSetup s = MigrationSetupFor(o, MigrationSide::kSource);
  EXPECT_FALSE(s.tls.has_value());
  EXPECT_FALSE(s.parameters.tls_creds.has_value());
}

TEST(MigrationArgs, RenderAsQmpWantsThem) {
  EXPECT_EQ(Json(CapabilitiesArgs({{"events", true}, {"multifd", false}})),
            R"({"capabilities":[{"capability":"events","state":true},)"
            R"({"capability":"multifd","state":false}]})");
  MigrationParameters p;
  p.max_bandwidth = 1000;
  p.downtime_limit = 300;
  p.multifd_channels = 2;
  p.tls_creds = "t";
  EXPECT_EQ(Json(ParametersArgs(p)),
            R"({"max-bandwidth":1000,"downtime-limit":300,)"
            R"("multifd-channels":2,"tls-creds":"t"})");
  EXPECT_EQ(Json(TlsObjectArgs({"id1", "/d", "server", true})),
            R"({"qom-type":"tls-creds-x509","id":"id1","dir":"/d",)"
            R"("endpoint":"server","verify-peer":true})");
}

TEST(MigrationArgs, PostcopyBandwidthIsRenderedButNeverSetByTheOptions) {
  MigrationParameters p;
  p.max_postcopy_bandwidth = 4096;
  EXPECT_EQ(Json(ParametersArgs(p)), R"({"max-postcopy-bandwidth":4096})");
  MigrationOptions o;
  o.allow_post_copy = true;
  o.bandwidth_per_migration = 1 << 20;
  EXPECT_FALSE(MigrationSetupFor(o, MigrationSide::kSource)
                   .parameters.max_postcopy_bandwidth.has_value());
}

}  // namespace
}  // namespace qdirect::ops
