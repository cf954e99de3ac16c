#include "launch/startup_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_files.h"

namespace qdirect::launch {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

// One mapping of smaps text with the fields ReleasableMappings reads.
std::string Mapping(std::string_view header, int rss, int anonymous, int swap,
                    std::string_view flags = "rd ex mr mw me") {
  std::ostringstream out;
  out << header << "\n"
      << "Size:                132 kB\n"
      << "Rss:                  " << rss << " kB\n"
      << "Pss:                  " << rss << " kB\n"
      << "Anonymous:            " << anonymous << " kB\n"
      << "Swap:                 " << swap << " kB\n"
      << "VmFlags: " << flags << "\n";
  return out.str();
}

TEST(ReleasableMappings, CleanFileCodeAndReadOnlyDataQualify) {
  const std::string smaps =
      Mapping("55d0a0000000-55d0a0200000 r-xp 00010000 08:01 42   /usr/bin/qdirect-launcher", 1668,
              0, 0) +
      Mapping("7f0000000000-7f0000010000 r--p 00000000 08:01 43   /usr/lib/libc.so.6", 320, 0, 0);

  std::vector<ReleasableMapping> got = ReleasableMappings(smaps);

  EXPECT_THAT(got, ElementsAre(Field(&ReleasableMapping::start, 0x55d0a0000000u),
                               Field(&ReleasableMapping::start, 0x7f0000000000u)));
  EXPECT_EQ(got[0].end, 0x55d0a0200000u);
  EXPECT_EQ(got[0].rss_kib, 1668u);
}

TEST(ReleasableMappings, PagesOfItsOwnAreKept) {
  // RELRO: relocated (written, then made read-only): its anonymous copies
  // are the only right version of those pages.
  const std::string smaps =
      Mapping("7f0000000000-7f0000004000 r--p 001d0000 08:01 43   /usr/lib/libc.so.6", 16, 16, 0) +
      Mapping("7f0000004000-7f0000008000 r--p 001d4000 08:01 43   /usr/lib/libc.so.6", 16, 0, 4);

  EXPECT_THAT(ReleasableMappings(smaps), IsEmpty());
}

TEST(ReleasableMappings, WritableSharedAnonymousSpecialAndLockedAreKept) {
  const std::string smaps =
      Mapping("7f0000000000-7f0000001000 rw-p 001d8000 08:01 43   /usr/lib/libc.so.6", 4, 0, 0) +
      Mapping("7f0000001000-7f0000002000 r--s 00000000 08:01 44   /dev/shm/x", 4, 0, 0) +
      Mapping("7f0000002000-7f0000003000 r--p 00000000 00:00 0 ", 4, 0, 0) +
      Mapping("7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0    [vdso]", 8, 0, 0) +
      Mapping("7f0000003000-7f0000004000 r--p 00000000 08:01 45   /tmp/gone (deleted)", 4, 0, 0) +
      Mapping("7f0000004000-7f0000005000 r-xp 00000000 08:01 46   /usr/lib/locked.so", 4, 0, 0,
              "rd ex mr mw me lo");

  EXPECT_THAT(ReleasableMappings(smaps), IsEmpty());
}

TEST(ReleasableMappings, NothingResidentOrUnreadableFieldsAreKept) {
  const std::string smaps =
      Mapping("7f0000000000-7f0000001000 r-xp 00000000 08:01 43   /usr/lib/a.so", 0, 0, 0) +
      "7f0000001000-7f0000002000 r-xp 00000000 08:01 44   /usr/lib/b.so\n"
      "Rss:                  4 kB\n"
      "Anonymous:          lots\n"
      "Swap:                 0 kB\n";

  EXPECT_THAT(ReleasableMappings(smaps), IsEmpty());
}

// Resident KiB of the mapping that starts at `start`, from /proc/self/smaps.
int64_t ResidentKib(const void* start) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool found = false;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "%lx-", reinterpret_cast<unsigned long>(start));
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) found = true;
    if (found && line.starts_with("Rss:")) return std::stoll(line.substr(4));
  }
  return -1;
}

TEST(ReleaseStartupPages, DropsCleanFilePagesWhichStillReadTheSame) {
  testing::TempDir dir;
  const std::string path = dir.File("data");
  constexpr size_t kSize = 256 << 10;
  {
    std::ofstream out(path, std::ios::binary);
    for (size_t i = 0; i < kSize; ++i) out.put(static_cast<char>(i * 7));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto* data = static_cast<const unsigned char*>(
      ::mmap(nullptr, kSize, PROT_READ, MAP_PRIVATE, fd, 0));
  ::close(fd);
  ASSERT_NE(data, MAP_FAILED);
  unsigned sum_before = 0;
  for (size_t i = 0; i < kSize; i += 4096) sum_before += data[i];
  ASSERT_EQ(ResidentKib(data), static_cast<int64_t>(kSize >> 10));

  absl::StatusOr<ReleasedPages> released = ReleaseStartupPages();

  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_GE(released->mapped_kib, kSize >> 10);
  EXPECT_EQ(ResidentKib(data), 0);
  unsigned sum_after = 0;
  for (size_t i = 0; i < kSize; i += 4096) sum_after += data[i];
  EXPECT_EQ(sum_after, sum_before);
  ::munmap(const_cast<unsigned char*>(data), kSize);
}

TEST(ReleaseStartupPages, ProcessRunsOnAfterItsOwnCodeWasDropped) {
  ASSERT_TRUE(ReleaseStartupPages().ok());
  // This code, libstdc++ and libc fault back in from the page cache.
  std::ostringstream out;
  out << "still " << 42;
  EXPECT_EQ(out.str(), "still 42");
  EXPECT_TRUE(ReleaseStartupPages().ok());
}

}  // namespace
}  // namespace qdirect::launch
