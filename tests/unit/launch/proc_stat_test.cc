#include "launch/proc_stat.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include "gtest/gtest.h"

namespace qdirect::launch {
namespace {

TEST(ProcStat, OwnThreadCpuTimeGrowsWithWork) {
  const pid_t pid = getpid();
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  absl::StatusOr<double> before = ReadThreadCpuSeconds(pid, tid);
  ASSERT_TRUE(before.ok()) << before.status();
  // Burn ~50 ms of CPU (clock ticks are 10 ms).
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  volatile unsigned spin = 0;
  while (std::chrono::steady_clock::now() < end) spin = spin + 1;

  absl::StatusOr<double> after = ReadThreadCpuSeconds(pid, tid);

  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GT(*after, *before);
}

TEST(ProcStat, MissingThreadIsNotFound) {
  EXPECT_EQ(ReadThreadCpuSeconds(getpid(), 0x7ffffff0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ProcStat, OwnRssIsNonZero) {
  absl::StatusOr<int64_t> rss = ReadRssBytes(getpid());
  ASSERT_TRUE(rss.ok()) << rss.status();
  EXPECT_GT(*rss, 0);
}

}  // namespace
}  // namespace qdirect::launch
