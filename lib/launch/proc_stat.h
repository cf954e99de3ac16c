#pragma once

// What /proc says about a process we started (QEMU): the CPU time of one of
// its threads and its resident memory. For Machine::Stats.

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace qdirect::launch {

// User + system time of thread `tid` of process `pid`, in seconds
// (/proc/<pid>/task/<tid>/stat, fields utime and stime).
absl::StatusOr<double> ReadThreadCpuSeconds(pid_t pid, pid_t tid);

// Resident set size of `pid` in bytes (/proc/<pid>/statm).
absl::StatusOr<int64_t> ReadRssBytes(pid_t pid);

}  // namespace qdirect::launch
