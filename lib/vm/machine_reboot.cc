// Machine::SoftReboot: guest agent first, ACPI power button second, as
// KubeVirt's virt-launcher does.

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "qdirect/agent.h"
#include "qdirect/machine.h"
#include "qdirect/qmp.h"
#include "vm/machine_impl.h"

namespace qdirect::vm {

absl::Status Machine::SoftReboot() {
  Impl& m = *impl_;
  RETURN_IF_ERROR(m.RequireRunning("soft reboot"));
  const VmiCondition* paused = m.tracker.status().FindCondition(vmi_condition::kPaused);
  if (paused != nullptr && paused->status == ConditionStatus::kTrue) {
    return absl::FailedPreconditionError(
        absl::StrCat(m.label, ": soft reboot: the VMI is paused; unpause it first"));
  }
  if (m.shutting_down) {
    return absl::FailedPreconditionError(
        absl::StrCat(m.label, ": soft reboot: the VMI is being stopped"));
  }
  if (m.agent != nullptr && m.agent->connected()) {
    absl::Status st = m.agent->Shutdown(agent::ShutdownMode::kReboot);
    if (st.ok()) return absl::OkStatus();
    // The agent went away meanwhile: ACPI may still work.
    if (!m.acpi) return m.Error("soft reboot: guest agent", st);
  }
  if (!m.acpi) {
    return absl::FailedPreconditionError(absl::StrCat(
        m.label,
        ": soft reboot: the guest agent is not connected and the VMI has no "
        "ACPI (spec.domain.features.acpi.enabled is false)"));
  }
  m.Apply(RebootRequested{});
  m.acpi_reboot_pending = true;
  if (absl::Status st = m.qmp->SystemPowerdown(); !st.ok()) {
    m.acpi_reboot_pending = false;
    m.Apply(RebootRequested{false});
    return m.Error("soft reboot: system_powerdown", st);
  }
  return absl::OkStatus();
}

}  // namespace qdirect::vm
