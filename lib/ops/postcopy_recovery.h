#pragma once

// PostcopyRecovery: what a migration source does when the channel of a
// postcopy migration breaks (QEMU's postcopy-paused). The guest then runs
// on the target while part of its memory is only on the source, so neither
// side can go on alone, and the source cannot simply resume it. The source
// retries `migrate resume=true` with a short backoff until QEMU leaves
// postcopy-paused (the target listens again after migrate-recover), within
// a recovery window after which it gives up and says the guest is split.
// No clock, no I/O: the Machine passes absl::Now() and each sample's status.

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "qdirect/migration.h"

namespace qdirect::ops {

enum class RecoveryAction { kNone, kResume, kGiveUp };

struct RecoveryDecision {
  RecoveryAction action = RecoveryAction::kNone;
  // Why we gave up (kGiveUp only).
  std::string reason;
};

// Delay before resume attempt n+1 after attempt n: first, doubled each
// time, at most max. A refused attempt costs QEMU one connect().
struct RecoveryBackoff {
  absl::Duration first = absl::Milliseconds(200);
  absl::Duration max = absl::Seconds(2);

  // The wait after attempt `attempt` (1-based) before the next one.
  absl::Duration After(int attempt) const;
};

class PostcopyRecovery {
 public:
  // window: how long the channel may stay broken (paused, or recovering
  // without reaching postcopy-active again); InfiniteDuration: no limit.
  explicit PostcopyRecovery(absl::Duration window, RecoveryBackoff backoff = {});

  // The recovery window of a migration under `options`: its progressTimeout
  // (the time it may go without progress), unlimited when that is zero.
  static absl::Duration WindowFor(const MigrationOptions& options);

  // One query-migrate status taken at `now`. kResume each time a resume is
  // due while QEMU is postcopy-paused; kGiveUp once, when the window has
  // passed (later samples answer kNone).
  RecoveryDecision Observe(absl::Time now, std::string_view status);

  // The channel is broken now (the last status was postcopy-paused or
  // postcopy-recover).
  bool broken() const { return broken_; }
  // How many times the channel broke, and how many resumes the current (or
  // last) outage took.
  int outages() const { return outages_; }
  int attempts() const { return attempts_; }
  // From the first postcopy-paused of the last outage to the sample that
  // saw it over (ZeroDuration before any outage ended).
  absl::Duration last_outage() const { return last_outage_; }

 private:
  absl::Duration window_;
  RecoveryBackoff backoff_;
  bool broken_ = false;
  bool given_up_ = false;
  absl::Time since_;
  absl::Time next_attempt_;
  int outages_ = 0;
  int attempts_ = 0;
  absl::Duration last_outage_;
};

// True for QEMU's statuses of a postcopy migration (the guest runs on the
// target from the first of them on).
bool IsPostcopyStatus(std::string_view status);

}  // namespace qdirect::ops
