#pragma once

// The files a Plan asks for (cloud-init and config ISOs, qcow2 overlays, raw
// images): created before QEMU starts, removed after it is gone.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "qdirect/plan.h"
#include "qdirect/unique_fd.h"

namespace qdirect {

// Who owns the files and the directories CreatePlanFiles makes: QEMU runs
// as an unprivileged uid (set in the child before exec) and must open them.
// -1 leaves the creator's id.
struct PlanFilesOwner {
  int uid = -1;
  int gid = -1;
};

// Creates every file of plan.files (mode 0600), parent directories included
// (mode 0700), all owned by `owner`. Restart-safe: an existing qcow2 overlay
// with the same backing file, or an existing raw image of the same size, is
// kept as it is (it may hold a running or restarting guest's writes); ISOs
// are rebuilt (their content follows the spec). Anything else already at a
// path (a directory, a symlink, a device, an overlay over another base, a
// file that is not an ISO where an ISO goes) is refused with AlreadyExists
// and left untouched.
absl::Status CreatePlanFiles(const Plan& plan,
                             const PlanFilesOwner& owner = {});

// Removes the ISOs and overlays of plan.files, and the raw images that lie
// under `state_dir` (emptyDisks live in the per-VM directory; a hostDisk
// DiskOrCreate image outside it is the user's and stays). Missing files are
// fine. An empty state_dir removes no raw image.
absl::Status RemovePlanFiles(const Plan& plan,
                             const std::string& state_dir = "");

// StagedFile is a temporary file beside `path`, renamed onto it by Commit,
// unlinked if never committed: readers never see a half-written image.
class StagedFile {
 public:
  // Creates `<dir>/.<name>.XXXXXX` (mode 0600).
  static absl::StatusOr<StagedFile> Create(const std::string& path);

  StagedFile(StagedFile&& other) noexcept;
  StagedFile& operator=(StagedFile&&) = delete;
  StagedFile(const StagedFile&) = delete;
  ~StagedFile();

  int fd() const { return fd_.get(); }
  const std::string& temp_path() const { return temp_path_; }

  // fsyncs, closes and renames onto the final path. With replace false an
  // existing final path is not overwritten (AlreadyExists).
  absl::Status Commit(bool replace = true);

 private:
  StagedFile(std::string path, std::string temp_path, UniqueFd fd)
      : path_(std::move(path)),
        temp_path_(std::move(temp_path)),
        fd_(std::move(fd)) {}

  std::string path_;
  std::string temp_path_;  // "" once committed or moved from
  UniqueFd fd_;
};

// Writes all of `data` at `offset` (pwrite until done, EINTR retried).
absl::Status WriteAllAt(int fd, const void* data, size_t size, int64_t offset,
                        absl::string_view what);

}  // namespace qdirect
