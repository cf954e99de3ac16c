#include "launch/proc_stat.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace qdirect::launch {
namespace {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("read ", path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<double> ReadThreadCpuSeconds(pid_t pid, pid_t tid) {
  const std::string path = absl::StrCat("/proc/", pid, "/task/", tid, "/stat");
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  // The command name (field 2) may hold spaces and parentheses: fields
  // are counted from the last ')'. utime and stime are fields 14 and 15.
  const size_t paren = text->rfind(')');
  if (paren == std::string::npos) {
    return absl::InternalError(absl::StrCat("read ", path, ": no ')' in it"));
  }
  std::istringstream fields(text->substr(paren + 1));
  std::string skip;
  for (int field = 3; field < 14; ++field) fields >> skip;
  unsigned long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) {
    return absl::InternalError(absl::StrCat("read ", path, ": no utime/stime"));
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
}

absl::StatusOr<int64_t> ReadRssBytes(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/statm");
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return text.status();
  std::istringstream fields(*text);
  int64_t size = 0, resident = 0;
  if (!(fields >> size >> resident)) {
    return absl::InternalError(absl::StrCat("read ", path, ": no resident page count"));
  }
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace qdirect::launch
