#include "qdirect/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace qdirect {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnDestruction) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  { UniqueFd owner(fds[0]); }
  EXPECT_FALSE(IsOpen(fds[0]));
  close(fds[1]);
}

TEST(UniqueFd, MoveTransfersOwnership) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd a(fds[0]);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), fds[0]);
  b.reset();
  EXPECT_FALSE(IsOpen(fds[0]));
  close(fds[1]);
}

TEST(UniqueFd, ReleaseKeepsFdOpen) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int raw;
  {
    UniqueFd owner(fds[0]);
    raw = owner.release();
  }
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
  close(fds[1]);
}

}  // namespace
}  // namespace qdirect
