#include "tools/vmctl/manifest_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "qdirect/unique_fd.h"

namespace qdirect::vmctl {

absl::StatusOr<std::string> ReadManifestFile(const std::string& path,
                                             size_t max_bytes) {
  UniqueFd owned;
  int fd = STDIN_FILENO;
  if (path != "-") {
    owned.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned) {
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
    }
    fd = owned.get();
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot read"));
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": larger than the limit of ", max_bytes, " bytes"));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace qdirect::vmctl

#include <cstdio>
#include <vector>

#include "absl/strings/str_join.h"

namespace qdirect::vmctl {

absl::StatusOr<spec::Vmi> LoadOneVmi(const std::string& path,
                                     const std::string& name,
                                     const spec::DecodeOptions& options) {
  absl::StatusOr<std::string> text = ReadManifestFile(
      path, options.limits.max_document_bytes * options.limits.max_documents);
  if (!text.ok()) return text.status();
  spec::DecodeResult result = spec::Decode(*text, options);
  for (const std::string& notice : result.notices) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), notice.c_str());
  }
  std::vector<std::string> errors;
  auto note = [&](const std::vector<spec::FieldError>& warnings,
                  const std::vector<spec::FieldError>& found) {
    for (const spec::FieldError& w : warnings) {
      std::fprintf(stderr, "%s: warning: %s\n", path.c_str(),
                   w.ToString().c_str());
    }
    for (const spec::FieldError& e : found) {
      errors.push_back(absl::StrCat(path, ": ", e.ToString()));
    }
  };
  note(result.warnings, result.errors);
  const spec::DecodedVmi* chosen = nullptr;
  std::vector<std::string> names;
  for (const spec::DecodedVmi& decoded : result.vmis) {
    names.push_back(decoded.vmi.metadata.name);
    if (!name.empty() && decoded.vmi.metadata.name != name) continue;
    note(decoded.warnings, decoded.errors);
    if (chosen != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": holds several VMs (", absl::StrJoin(names, ", "),
          "): choose one with --name"));
    }
    chosen = &decoded;
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  if (chosen == nullptr) {
    if (!name.empty()) {
      return absl::NotFoundError(
          absl::StrCat(path, ": no VirtualMachine or VirtualMachineInstance "
                             "named \"", name, "\""));
    }
    return absl::NotFoundError(absl::StrCat(
        path, ": no VirtualMachine or VirtualMachineInstance document"));
  }
  return chosen->vmi;
}

}  // namespace qdirect::vmctl
