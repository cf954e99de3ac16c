// The memlock limit a Machine gives QEMU for a plan with VFIO devices.

#include <sys/resource.h>

#include "gtest/gtest.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {
namespace {

TEST(VfioMemlockLimit, PlanWithoutVfioRaisesNothing) {
  Plan plan;
  EXPECT_FALSE(VfioMemlockLimit(plan).has_value());
}

TEST(VfioMemlockLimit, RaisesSoftAndHardToThePlansFigure) {
  struct rlimit current;
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &current), 0);
  if (current.rlim_cur == RLIM_INFINITY) GTEST_SKIP() << "memlock is unlimited here";
  Plan plan;
  plan.memlock_bytes = static_cast<int64_t>(current.rlim_cur) + (int64_t{3} << 30);
  std::optional<launch::ResourceLimit> limit = VfioMemlockLimit(plan);
  ASSERT_TRUE(limit.has_value());
  EXPECT_EQ(limit->resource, RLIMIT_MEMLOCK);
  EXPECT_EQ(limit->soft, static_cast<rlim_t>(plan.memlock_bytes));
  EXPECT_GE(limit->hard, limit->soft);
}

TEST(VfioMemlockLimit, LimitAlreadyHighEnoughIsLeftAlone) {
  struct rlimit current;
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &current), 0);
  if (current.rlim_cur == 0) GTEST_SKIP() << "memlock is 0 here";
  Plan plan;
  plan.memlock_bytes = 1;
  EXPECT_FALSE(VfioMemlockLimit(plan).has_value());
}

}  // namespace
}  // namespace qdirect::vm
