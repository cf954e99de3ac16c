#pragma once

// MigrationPolicy: KubeVirt's migration monitor (virt-launcher's
// live-migration-source.go) as a pure state machine. Fed each progress
// sample with its time, it says whether to go on, cancel, or switch to
// postcopy:
//   - the completion deadline (completionTimeoutPerGiB x GiB of guest RAM,
//     at least one GiB) passed: postcopy when allowed, else cancel;
//   - the remaining data has not reached a new low for progressTimeout:
//     postcopy when allowed, else cancel;
//   - once in postcopy nothing is cancelled (the guest runs on both sides).
// No clock, no I/O: the Machine passes absl::Now(), tests pass fixed times.

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "qdirect/migration.h"

namespace qdirect::ops {

enum class MigrationAction { kNone, kCancel, kStartPostcopy };

struct MigrationDecision {
  MigrationAction action = MigrationAction::kNone;
  // Why, in KubeVirt's words ("Live migration stuck for 150 sec").
  std::string reason;
};

class MigrationPolicy {
 public:
  MigrationPolicy(const MigrationOptions& options, absl::Time start);

  // One query-migrate answer taken at `now`. A decision other than kNone is
  // given once; later samples answer kNone until the outcome is known.
  MigrationDecision Observe(absl::Time now, const MigrationProgress& progress);

  // The completion deadline for `ram_total` bytes (InfiniteDuration when
  // completionTimeoutPerGiB is 0).
  absl::Duration CompletionTimeout(uint64_t ram_total) const;

 private:
  MigrationOptions options_;
  absl::Time start_;
  bool have_watermark_ = false;
  uint64_t watermark_ = 0;
  absl::Time last_progress_;
  bool decided_ = false;
};

}  // namespace qdirect::ops
