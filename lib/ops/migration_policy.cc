#include "ops/migration_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace qdirect::ops {

namespace {
constexpr uint64_t kGiB = uint64_t{1} << 30;
}  // namespace

MigrationPolicy::MigrationPolicy(const MigrationOptions& options,
                                 absl::Time start)
    : options_(options), start_(start), last_progress_(start) {}

absl::Duration MigrationPolicy::CompletionTimeout(uint64_t ram_total) const {
  if (options_.completion_timeout_per_gib <= 0) return absl::InfiniteDuration();
  const uint64_t gib = std::max<uint64_t>(1, (ram_total + kGiB - 1) / kGiB);
  return absl::Seconds(options_.completion_timeout_per_gib *
                       static_cast<int64_t>(gib));
}

MigrationDecision MigrationPolicy::Observe(absl::Time now,
                                           const MigrationProgress& progress) {
  if (decided_ || IsFinalMigrationStatus(progress.status)) return {};
  // KubeVirt: there is no way back from postcopy; nothing to track.
  if (progress.status.starts_with("postcopy")) return {};
  // Progress is a new low of the remaining data (setup reports 0 remaining
  // before the first pass: not progress).
  if (progress.status == "active" &&
      (!have_watermark_ || progress.ram_remaining < watermark_)) {
    have_watermark_ = true;
    watermark_ = progress.ram_remaining;
    last_progress_ = now;
  }
  const auto decide = [&](std::string reason) {
    decided_ = true;
    if (options_.allow_post_copy) {
      return MigrationDecision{MigrationAction::kStartPostcopy,
                               absl::StrCat("Starting post copy mode: ", reason)};
    }
    return MigrationDecision{MigrationAction::kCancel, std::move(reason)};
  };
  const absl::Duration elapsed = now - start_;
  const absl::Duration completion = CompletionTimeout(progress.ram_total);
  if (elapsed > completion) {
    return decide(absl::StrCat("Live migration is not completed after ",
                               absl::ToInt64Seconds(completion), " sec"));
  }
  const absl::Duration stalled = now - last_progress_;
  if (options_.progress_timeout > absl::ZeroDuration() &&
      stalled > options_.progress_timeout) {
    return decide(absl::StrCat("Live migration stuck for ",
                               absl::ToInt64Seconds(stalled), " sec"));
  }
  return {};
}

}  // namespace qdirect::ops
