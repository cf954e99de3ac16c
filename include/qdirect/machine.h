#pragma once

// DRAFT FOR REVIEW: declarations only, nothing implements this yet, and it is
// deliberately not in include/qdirect/meson.build's install list. It shows
// how the pure pieces in lib/vm/ (StatusTracker, NextShutdownStep,
// ConsoleLog) and the launcher/QMP areas are meant to come together.
//
// vm::Machine is one running VMI: it owns the QEMU process (pidfd), the QMP
// client, the guest agent client and the serial console, and keeps one
// VmiStatus (qdirect/vmi_status.h) that every operation and every QEMU event
// updates. It is a handle: not copyable, destroyed = QEMU killed. All of it
// runs on the caller's EventLoop; the blocking calls below run that loop
// until their answer or deadline (see DESIGN.md, "One event loop per
// process").

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qdirect/spec.h"
#include "qdirect/vmi_status.h"

namespace qdirect {

class EventLoop;

namespace vm {

struct MachineOptions {
  // Where sockets, the console log and generated files live; created if
  // missing. Empty: $XDG_RUNTIME_DIR/qdirect/<namespace>/<name> (or /run as
  // root).
  std::string runtime_dir;
  // The loop that owns every fd of this Machine; nullptr: a private loop.
  EventLoop* loop = nullptr;
  // Console output kept on disk (ConsoleLog); 0 disables the log.
  int64_t console_log_bytes = 4 << 20;
  // Node name reported in status.nodeName.
  std::string node_name;
  // How long Start may take until the guest's vCPUs run.
  absl::Duration start_timeout = absl::Seconds(30);
};

// Guest-visible counters from QMP (query-blockstats, query-cpus-fast,
// balloon) and the process (/proc/PID/stat), for `vmctl stats`.
struct MachineStats {
  int64_t cpu_user_ns = 0;
  int64_t cpu_system_ns = 0;
  int64_t rss_bytes = 0;
  int64_t balloon_actual_bytes = 0;
  struct Disk {
    std::string name;  // the spec volume name
    int64_t rd_bytes = 0, wr_bytes = 0, rd_ops = 0, wr_ops = 0;
  };
  std::vector<Disk> disks;
};

// A console attachment: bytes from the guest arrive in on_output (replayed
// from the log first when asked); Write sends keystrokes. Detach by
// destroying it; the console keeps being logged.
class ConsoleSession {
 public:
  virtual ~ConsoleSession() = default;
  virtual absl::Status Write(std::string_view bytes) = 0;
};

class AgentClient;  // qdirect/agent.h (ops area)

class Machine {
 public:
  // Plans, launches QEMU paused (-S), connects QMP, applies what must
  // precede the first instruction, then `cont` (unless spec.startStrategy is
  // Paused). Returns once the phase is Running, or the error that prevented
  // it (the process is then gone).
  static absl::StatusOr<std::unique_ptr<Machine>> Start(
      const spec::Vmi& vmi, const MachineOptions& options);

  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;
  // Kills QEMU if it still runs (SIGKILL) and removes the runtime dir.
  ~Machine();

  // vCPUs stop / resume (QMP stop / cont). Paused condition: PausedByUser.
  absl::Status Pause();
  absl::Status Unpause();
  // Hard reset (system_reset) and guest-cooperative reboot (agent
  // guest-shutdown mode=reboot, falling back to system_reset).
  absl::Status Reset();
  absl::Status Reboot();
  // The stop policy: ACPI power button, wait up to grace (the spec's
  // terminationGracePeriodSeconds when unset), quit, SIGKILL. Returns once
  // QEMU has exited; the phase tells how (Succeeded or Failed).
  absl::Status Shutdown(std::optional<absl::Duration> grace = std::nullopt);
  // SIGKILL now.
  absl::Status Kill();

  // The current status (a copy: the loop may change it right after).
  VmiStatus Status() const;
  absl::StatusOr<MachineStats> Stats();
  // Runs the loop until status.phase == phase or a final phase (returned as
  // FailedPrecondition when it is not `phase`), or DeadlineExceeded.
  absl::Status WaitFor(VmiPhase phase, absl::Time deadline);
  // Called on the loop after every status change.
  void OnStatusChange(std::function<void(const VmiStatus&)> callback);

  // Attaches to the serial console; with replay, on_output first receives
  // what the console log retains.
  absl::StatusOr<std::unique_ptr<ConsoleSession>> AttachConsole(
      std::function<void(std::string_view)> on_output, bool replay);
  // The guest agent, when the VMI has the channel and it is connected.
  absl::StatusOr<AgentClient*> Agent();

 private:
  Machine() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vm
}  // namespace qdirect
