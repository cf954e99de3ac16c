#include "launch/startup_pages.h"

#include <malloc.h>
#include <sys/mman.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace qdirect::launch {
namespace {

// The words of `line` (runs of spaces separate them).
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const size_t begin = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > begin) words.push_back(line.substr(begin, i - begin));
  }
  return words;
}

bool ParseHex(std::string_view text, uintptr_t* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

// "Anonymous:        12 kB" -> 12; false when the line is not `key`.
bool ReadKib(std::string_view line, std::string_view key, uint64_t* kib) {
  if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ':') {
    return false;
  }
  std::string_view rest = line.substr(key.size() + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), *kib);
  return ec == std::errc() && std::string_view(end, rest.data() + rest.size() - end) == " kB";
}

// A mapping being read: its header decided whether it may qualify; its
// Rss, Anonymous and Swap lines decide the rest.
struct Candidate {
  ReleasableMapping mapping;
  bool eligible = false;
  bool have_rss = false;
  bool have_anonymous = false;
  bool have_swap = false;
  bool owns_pages = false;
};

void Finish(const Candidate& c, std::vector<ReleasableMapping>& out) {
  if (c.eligible && c.have_rss && c.have_anonymous && c.have_swap && !c.owns_pages &&
      c.mapping.rss_kib > 0) {
    out.push_back(c.mapping);
  }
}

// "7f2c...-7f2c... r-xp 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6"
// Returns false for a line that is not a mapping header.
bool ParseHeader(std::string_view line, Candidate* c) {
  const std::vector<std::string_view> fields = Words(line);
  if (fields.size() < 5) return false;
  const size_t dash = fields[0].find('-');
  if (dash == std::string_view::npos) return false;
  *c = Candidate{};
  if (!ParseHex(fields[0].substr(0, dash), &c->mapping.start) ||
      !ParseHex(fields[0].substr(dash + 1), &c->mapping.end) ||
      c->mapping.end <= c->mapping.start) {
    return false;
  }
  const std::string_view perms = fields[1];
  // A file, never writable, private; not [vdso], [heap] or a deleted file.
  c->eligible = perms.size() == 4 && perms[0] == 'r' && perms[1] == '-' && perms[3] == 'p' &&
                fields.size() == 6 && fields[5].starts_with('/') && fields[4] != "0";
  return true;
}

}  // namespace

std::vector<ReleasableMapping> ReleasableMappings(std::string_view smaps) {
  std::vector<ReleasableMapping> out;
  Candidate current;
  bool open = false;
  while (!smaps.empty()) {
    const size_t eol = smaps.find('\n');
    const std::string_view line = smaps.substr(0, eol);
    smaps.remove_prefix(eol == std::string_view::npos ? smaps.size() : eol + 1);
    if (line.empty()) continue;
    Candidate next;
    // Header lines start with a hex address; field lines with a name.
    if (ParseHeader(line, &next)) {
      if (open) Finish(current, out);
      current = next;
      open = true;
      continue;
    }
    if (!open) continue;
    uint64_t kib = 0;
    if (ReadKib(line, "Rss", &kib)) {
      current.mapping.rss_kib = kib;
      current.have_rss = true;
    } else if (ReadKib(line, "Anonymous", &kib)) {
      current.have_anonymous = true;
      current.owns_pages |= kib != 0;
    } else if (ReadKib(line, "Swap", &kib)) {
      current.have_swap = true;
      current.owns_pages |= kib != 0;
    } else if (line.starts_with("VmFlags:")) {
      // Locked pages stay (madvise refuses them anyway).
      for (std::string_view flag : Words(line.substr(8))) {
        if (flag == "lo") current.eligible = false;
      }
    }
  }
  if (open) Finish(current, out);
  return out;
}

absl::StatusOr<ReleasedPages> ReleaseStartupPages() {
  std::ifstream in("/proc/self/smaps");
  if (!in) return absl::ErrnoToStatus(errno, "release start-up pages: /proc/self/smaps");
  std::stringstream text;
  text << in.rdbuf();
  ReleasedPages released;
  for (const ReleasableMapping& m : ReleasableMappings(text.str())) {
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) != 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("release start-up pages: madvise ", absl::Hex(m.start)));
    }
    ++released.mappings;
    released.mapped_kib += m.rss_kib;
  }
  ::malloc_trim(0);
  return released;
}

}  // namespace qdirect::launch
