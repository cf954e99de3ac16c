#pragma once

// Live migration: the policy (KubeVirt's MigrationConfiguration as a plain
// struct), the progress QEMU reports, and the LiveMigratable verdict.
// vm::Machine runs a migration (Machine::Migrate on the source, a Machine
// started with MachineOptions::incoming on the target); lib/ops holds the
// QMP orchestration and the pure progress policy.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace qdirect {

// KubeVirt's MigrationConfiguration, the fields a migration between two
// QEMUs can honour. Both sides must agree on the capabilities that change
// the stream (parallel_migration_threads, allow_post_copy, TLS): give the
// same options to the source and to the target.
struct MigrationOptions {
  // bandwidthPerMigration, bytes per second; 0: unlimited (KubeVirt's
  // default; QEMU's own default is 128 MiB/s, so we always set it).
  uint64_t bandwidth_per_migration = 0;
  // completionTimeoutPerGiB: the migration must complete within this many
  // seconds per GiB of guest RAM (at least one GiB counted); 0: no limit.
  int64_t completion_timeout_per_gib = 150;
  // progressTimeout: cancel (or switch to postcopy) when the remaining data
  // has not reached a new low for this long; zero: no limit.
  absl::Duration progress_timeout = absl::Seconds(150);
  // QEMU's downtime-limit (ms); unset: QEMU's default (300 ms).
  std::optional<int64_t> max_downtime_ms;
  // allowAutoConverge: QEMU throttles the vCPUs of a guest that dirties
  // memory faster than the link carries it.
  bool allow_auto_converge = false;
  // allowPostCopy: past the completion deadline (or on a stall), switch to
  // postcopy instead of cancelling.
  bool allow_post_copy = false;
  // parallelMigrationThreads: >= 2 enables multifd with this many channels
  // (tcp and unix URIs only); 0 or 1: one channel.
  int parallel_migration_threads = 0;
  // disableTLS: no TLS even when tls_x509_dir is set.
  bool disable_tls = false;
  // A directory with ca-cert.pem and, for the source (client),
  // client-cert.pem/client-key.pem, for the target (server)
  // server-cert.pem/server-key.pem (QEMU's tls-creds-x509 layout). Empty:
  // no TLS (qdirect has no cluster CA to fall back on).
  std::string tls_x509_dir;
  // tls-hostname the source checks the target's certificate against;
  // empty: the host of the URI.
  std::string tls_hostname;

  bool operator==(const MigrationOptions&) const = default;
};

// One query-migrate answer, typed.
struct MigrationProgress {
  // QEMU's MigrationStatus: "setup", "active", "postcopy-active",
  // "postcopy-paused", "completed", "failed", "cancelling", "cancelled",
  // "device", ...
  std::string status;
  int64_t total_time_ms = 0;     // total-time (so far, or final)
  int64_t downtime_ms = 0;       // downtime, once completed
  int64_t expected_downtime_ms = 0;
  int64_t setup_time_ms = 0;
  uint64_t ram_total = 0;        // bytes of guest RAM
  uint64_t ram_transferred = 0;  // bytes sent so far
  uint64_t ram_remaining = 0;
  double mbps = 0;               // ram.mbps: throughput of the last period
  uint64_t dirty_pages_rate = 0;
  uint64_t dirty_sync_count = 0;
  uint64_t postcopy_requests = 0;
  int64_t cpu_throttle_percentage = 0;
  std::string error_desc;        // error-desc of a failed migration

  bool operator==(const MigrationProgress&) const = default;
};

// True for the statuses after which nothing more happens.
bool IsFinalMigrationStatus(const std::string& status);

}  // namespace qdirect
