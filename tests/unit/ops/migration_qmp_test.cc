#include "ops/migration_qmp.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::ops {
namespace {

TEST(ParseMigrationProgress, ReadsActiveAndCompletedReplies) {
  rapidjson::Document doc;
  doc.Parse(R"({"status":"completed","total-time":298,"downtime":12,
    "setup-time":3,"ram":{"total":268435456,"transferred":1000,
    "remaining":0,"mbps":7000.5,"dirty-sync-count":3}})");
  absl::StatusOr<MigrationProgress> p = ParseMigrationProgress(doc);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->status, "completed");
  EXPECT_EQ(p->total_time_ms, 298);
  EXPECT_EQ(p->downtime_ms, 12);
  EXPECT_EQ(p->ram_total, 268435456u);
  EXPECT_DOUBLE_EQ(p->mbps, 7000.5);
  EXPECT_EQ(p->dirty_sync_count, 3u);
  EXPECT_TRUE(IsFinalMigrationStatus(p->status));
}

TEST(ParseMigrationProgress, FailedCarriesErrorDesc) {
  rapidjson::Document doc;
  doc.Parse(R"({"status":"failed","error-desc":"Unable to write to socket"})");
  absl::StatusOr<MigrationProgress> p = ParseMigrationProgress(doc);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->error_desc, "Unable to write to socket");
  EXPECT_EQ(p->ram_total, 0u);
}

TEST(ParseMigrationProgress, NonObjectIsInvalid) {
  rapidjson::Document doc;
  doc.Parse("[]");
  EXPECT_EQ(ParseMigrationProgress(doc).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsFinalMigrationStatus("active"));
}

}  // namespace
}  // namespace qdirect::ops
