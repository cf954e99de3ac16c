#include "ops/postcopy_recovery.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::ops {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795614952);

absl::Time At(int64_t ms) { return kT0 + absl::Milliseconds(ms); }

TEST(PostcopyRecovery, ActivePostcopyNeedsNothing) {
  PostcopyRecovery recovery(absl::Seconds(10));
  EXPECT_EQ(recovery.Observe(At(0), "postcopy-active").action, RecoveryAction::kNone);
  EXPECT_EQ(recovery.Observe(At(100), "completed").action, RecoveryAction::kNone);
  EXPECT_FALSE(recovery.broken());
  EXPECT_EQ(recovery.outages(), 0);
}

TEST(PostcopyRecovery, PausedResumesAtOnceThenWithDoublingBackoff) {
  PostcopyRecovery recovery(absl::Seconds(60),
                            {absl::Milliseconds(200), absl::Milliseconds(800)});
  EXPECT_EQ(recovery.Observe(At(0), "postcopy-paused").action, RecoveryAction::kResume);
  EXPECT_TRUE(recovery.broken());
  // Attempt 2 after 200 ms, 3 after 400 ms more, then every 800 ms (cap).
  EXPECT_EQ(recovery.Observe(At(100), "postcopy-paused").action, RecoveryAction::kNone);
  EXPECT_EQ(recovery.Observe(At(200), "postcopy-paused").action, RecoveryAction::kResume);
  EXPECT_EQ(recovery.Observe(At(500), "postcopy-paused").action, RecoveryAction::kNone);
  EXPECT_EQ(recovery.Observe(At(600), "postcopy-paused").action, RecoveryAction::kResume);
  EXPECT_EQ(recovery.Observe(At(1300), "postcopy-paused").action, RecoveryAction::kNone);
  EXPECT_EQ(recovery.Observe(At(1400), "postcopy-paused").action, RecoveryAction::kResume);
  EXPECT_EQ(recovery.Observe(At(2200), "postcopy-paused").action, RecoveryAction::kResume);
  EXPECT_EQ(recovery.attempts(), 5);
}

TEST(PostcopyRecovery, RecoveringIsWaitedForNotResumedAgain) {
  PostcopyRecovery recovery(absl::Seconds(60));
  EXPECT_EQ(recovery.Observe(At(0), "postcopy-paused").action, RecoveryAction::kResume);
  EXPECT_EQ(recovery.Observe(At(5000), "postcopy-recover").action, RecoveryAction::kNone);
  EXPECT_TRUE(recovery.broken());
  EXPECT_EQ(recovery.Observe(At(5100), "postcopy-active").action, RecoveryAction::kNone);
  EXPECT_FALSE(recovery.broken());
  EXPECT_EQ(recovery.last_outage(), absl::Milliseconds(5100));
  EXPECT_EQ(recovery.attempts(), 1);
}

TEST(PostcopyRecovery, PastTheWindowGivesUpOnceSayingTheGuestIsSplit) {
  PostcopyRecovery recovery(absl::Seconds(10));
  recovery.Observe(At(0), "postcopy-paused");
  EXPECT_EQ(recovery.Observe(At(10000), "postcopy-paused").action,
            RecoveryAction::kResume);
  const RecoveryDecision d = recovery.Observe(At(10001), "postcopy-paused");
  EXPECT_EQ(d.action, RecoveryAction::kGiveUp);
  EXPECT_THAT(d.reason, HasSubstr("within 10 sec"));
  EXPECT_THAT(d.reason, HasSubstr("split between the hosts"));
  EXPECT_THAT(d.reason, HasSubstr("cannot resume it"));
  EXPECT_EQ(recovery.Observe(At(20000), "postcopy-paused").action,
            RecoveryAction::kNone);
}

TEST(PostcopyRecovery, StuckRecoveringCountsAgainstTheWindow) {
  PostcopyRecovery recovery(absl::Seconds(10));
  recovery.Observe(At(0), "postcopy-paused");
  EXPECT_EQ(recovery.Observe(At(11000), "postcopy-recover").action,
            RecoveryAction::kGiveUp);
}

TEST(PostcopyRecovery, EachOutageHasItsOwnWindowAndBackoff) {
  PostcopyRecovery recovery(absl::Seconds(10));
  recovery.Observe(At(0), "postcopy-paused");
  recovery.Observe(At(9000), "postcopy-paused");
  recovery.Observe(At(9500), "postcopy-active");
  EXPECT_EQ(recovery.Observe(At(15000), "postcopy-paused").action,
            RecoveryAction::kResume);
  EXPECT_EQ(recovery.Observe(At(24000), "postcopy-paused").action,
            RecoveryAction::kResume);
  EXPECT_EQ(recovery.outages(), 2);
  EXPECT_EQ(recovery.attempts(), 2);
}

TEST(PostcopyRecovery, WindowIsTheProgressTimeoutZeroMeaningNoLimit) {
  MigrationOptions o;
  o.progress_timeout = absl::Seconds(30);
  EXPECT_EQ(PostcopyRecovery::WindowFor(o), absl::Seconds(30));
  o.progress_timeout = absl::ZeroDuration();
  EXPECT_EQ(PostcopyRecovery::WindowFor(o), absl::InfiniteDuration());
  PostcopyRecovery unlimited(PostcopyRecovery::WindowFor(o));
  unlimited.Observe(At(0), "postcopy-paused");
  EXPECT_NE(unlimited.Observe(At(86400000), "postcopy-paused").action,
            RecoveryAction::kGiveUp);
}

TEST(RecoveryBackoff, DoublesFromFirstUpToMax) {
  const RecoveryBackoff backoff{absl::Milliseconds(100), absl::Milliseconds(500)};
  EXPECT_EQ(backoff.After(1), absl::Milliseconds(100));
  EXPECT_EQ(backoff.After(2), absl::Milliseconds(200));
  EXPECT_EQ(backoff.After(3), absl::Milliseconds(400));
  EXPECT_EQ(backoff.After(4), absl::Milliseconds(500));
  EXPECT_EQ(backoff.After(1000), absl::Milliseconds(500));
}

TEST(PostcopyRecovery, IsPostcopyStatusKnowsQemusNames) {
  EXPECT_TRUE(IsPostcopyStatus("postcopy-active"));
  EXPECT_TRUE(IsPostcopyStatus("postcopy-paused"));
  EXPECT_TRUE(IsPostcopyStatus("postcopy-recover"));
  EXPECT_FALSE(IsPostcopyStatus("active"));
  EXPECT_FALSE(IsPostcopyStatus("completed"));
}

}  // namespace
}  // namespace qdirect::ops
