#include "ops/postcopy_recovery.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace qdirect::ops {

bool IsPostcopyStatus(std::string_view status) {
  return absl::StartsWith(absl::string_view(status.data(), status.size()),
                          "postcopy");
}

absl::Duration RecoveryBackoff::After(int attempt) const {
  absl::Duration delay = first;
  for (int i = 1; i < attempt && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

PostcopyRecovery::PostcopyRecovery(absl::Duration window, RecoveryBackoff backoff)
    : window_(window), backoff_(backoff) {}

absl::Duration PostcopyRecovery::WindowFor(const MigrationOptions& options) {
  return options.progress_timeout > absl::ZeroDuration()
             ? options.progress_timeout
             : absl::InfiniteDuration();
}

RecoveryDecision PostcopyRecovery::Observe(absl::Time now, std::string_view status) {
  const bool paused = status == "postcopy-paused";
  if (!paused && status != "postcopy-recover") {
    // postcopy-active again (or the end): the outage, if any, is over.
    if (broken_) last_outage_ = now - since_;
    broken_ = false;
    given_up_ = false;
    return {};
  }
  if (!broken_) {
    broken_ = true;
    ++outages_;
    since_ = now;
    next_attempt_ = now;
    attempts_ = 0;
  }
  if (given_up_) return {};
  if (now - since_ > window_) {
    given_up_ = true;
    return {RecoveryAction::kGiveUp,
            absl::StrCat(
                "Post copy migration paused: the channel to the target broke "
                "and did not come back within ",
                absl::ToInt64Seconds(window_), " sec (", attempts_,
                " resume attempts); the guest is split between the hosts: it "
                "runs on the target while part of its memory is only on the "
                "source, so the source cannot resume it")};
  }
  if (!paused || now < next_attempt_) return {};
  ++attempts_;
  next_attempt_ = now + backoff_.After(attempts_);
  return {RecoveryAction::kResume, ""};
}

}  // namespace qdirect::ops
