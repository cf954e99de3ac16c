#include "ops/migration_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::ops {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795614952);
constexpr uint64_t kMiB = uint64_t{1} << 20;

MigrationProgress Active(uint64_t remaining, uint64_t total = 256 * kMiB) {
  MigrationProgress p;
  p.status = "active";
  p.ram_total = total;
  p.ram_remaining = remaining;
  return p;
}

TEST(MigrationPolicy, ProgressingMigrationGoesOn) {
  MigrationPolicy policy({}, kT0);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(i), Active(1000 - i)).action,
              MigrationAction::kNone);
  }
}

TEST(MigrationPolicy, StallPastProgressTimeoutCancels) {
  MigrationOptions o;
  o.progress_timeout = absl::Seconds(10);
  MigrationPolicy policy(o, kT0);
  EXPECT_EQ(policy.Observe(kT0, Active(500)).action, MigrationAction::kNone);
  // Remaining goes up and down but never below 500: no progress.
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(5), Active(800)).action,
            MigrationAction::kNone);
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(10), Active(500)).action,
            MigrationAction::kNone);
  const MigrationDecision d = policy.Observe(kT0 + absl::Seconds(11), Active(600));
  EXPECT_EQ(d.action, MigrationAction::kCancel);
  EXPECT_THAT(d.reason, HasSubstr("Live migration stuck for 11 sec"));
}

TEST(MigrationPolicy, NewLowResetsTheStallClock) {
  MigrationOptions o;
  o.progress_timeout = absl::Seconds(10);
  MigrationPolicy policy(o, kT0);
  policy.Observe(kT0, Active(500));
  policy.Observe(kT0 + absl::Seconds(9), Active(499));
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(18), Active(700)).action,
            MigrationAction::kNone);
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(20), Active(700)).action,
            MigrationAction::kCancel);
}

TEST(MigrationPolicy, CompletionDeadlineScalesWithGiBAtLeastOne) {
  MigrationOptions o;
  o.completion_timeout_per_gib = 150;
  MigrationPolicy policy(o, kT0);
  EXPECT_EQ(policy.CompletionTimeout(128 * kMiB), absl::Seconds(150));
  EXPECT_EQ(policy.CompletionTimeout(3 * 1024 * kMiB + 1), absl::Seconds(600));
  o.completion_timeout_per_gib = 0;
  EXPECT_EQ(MigrationPolicy(o, kT0).CompletionTimeout(kMiB),
            absl::InfiniteDuration());
}

TEST(MigrationPolicy, PastCompletionDeadlineCancelsWithKubeVirtsReason) {
  MigrationOptions o;
  o.completion_timeout_per_gib = 2;
  o.progress_timeout = absl::ZeroDuration();
  MigrationPolicy policy(o, kT0);
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(1), Active(100)).action,
            MigrationAction::kNone);
  const MigrationDecision d = policy.Observe(kT0 + absl::Seconds(3), Active(50));
  EXPECT_EQ(d.action, MigrationAction::kCancel);
  EXPECT_EQ(d.reason, "Live migration is not completed after 2 sec");
}

TEST(MigrationPolicy, AllowPostCopySwitchesInsteadOfCancelling) {
  MigrationOptions o;
  o.completion_timeout_per_gib = 2;
  o.allow_post_copy = true;
  MigrationPolicy policy(o, kT0);
  const MigrationDecision d = policy.Observe(kT0 + absl::Seconds(3), Active(50));
  EXPECT_EQ(d.action, MigrationAction::kStartPostcopy);
  EXPECT_THAT(d.reason, HasSubstr("post copy"));
}

TEST(MigrationPolicy, DecidesOnceAndNeverInPostcopy) {
  MigrationOptions o;
  o.completion_timeout_per_gib = 1;
  MigrationPolicy policy(o, kT0);
  MigrationProgress postcopy = Active(50);
  postcopy.status = "postcopy-active";
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(5), postcopy).action,
            MigrationAction::kNone);
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(5), Active(50)).action,
            MigrationAction::kCancel);
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(6), Active(50)).action,
            MigrationAction::kNone);
}

TEST(MigrationPolicy, SetupIsNotProgress) {
  MigrationOptions o;
  o.progress_timeout = absl::Seconds(10);
  MigrationPolicy policy(o, kT0);
  MigrationProgress setup;
  setup.status = "setup";
  policy.Observe(kT0 + absl::Seconds(9), setup);
  EXPECT_EQ(policy.Observe(kT0 + absl::Seconds(11), setup).action,
            MigrationAction::kCancel);
}

}  // namespace
}  // namespace qdirect::ops
