#pragma once

// Deterministic PCI placement: the same spec gives the same addresses, which
// live migration relies on (source and target must agree).
//
// q35: every PCIe device sits at 0x0 of its own pcie-root-port ("rp1", ...),
// root ports packed as multifunction groups of 8 on pcie.0 from slot 0x2
// (as libvirt does); integrated devices (VGA, watchdog) sit on pcie.0
// itself; spare root ports follow for hotplug. pc (i440fx): devices sit
// directly on pci.0 slots (ACPI hotplug needs no ports).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace qdirect::plan {

enum class PciFamily { kQ35, kI440fx };

struct PciRequest {
  // The device's field path, for errors ("spec.domain.devices.disks[0]"):
  // `owner` when spelled, else `owner_root` + "." + `owner_field`, spelled
  // only for an error (the planner's own controllers: views of the spec's
  // path and of a literal, which outlive the layout).
  std::string owner;
  std::string_view owner_root;
  std::string_view owner_field;
  std::string Owner() const;
  // Fixed address from the spec ("0000:00:05.0"): only bus 0 is accepted;
  // the device then sits on the root bus at that slot.
  std::string fixed_address;
  // q35 only: put the device on pcie.0 itself, not behind a root port.
  bool root_bus = false;
  // root_bus only: the preferred slot (-1: the next free one).
  int preferred_slot = -1;
};

struct PciPlacement {
  std::string bus;   // "rp3", "pcie.0", "pci.0"
  std::string addr;  // "0x0", "0x1f", ...
};

struct RootPort {
  std::string id;  // "rp1"
  int chassis = 0;
  int port = 0;
  int slot = 0;      // on pcie.0
  int function = 0;
  bool multifunction = false;  // set on function 0 of a shared slot
  std::string Addr() const;    // "0x2.0x1"
};

struct PciLayout {
  std::vector<PciPlacement> placements;  // one per request, same order
  std::vector<RootPort> root_ports;      // used ones first, then spares
  std::vector<std::string> free_root_ports;
};

absl::StatusOr<PciLayout> LayoutPci(PciFamily family,
                                    const std::vector<PciRequest>& requests,
                                    int spare_root_ports);

}  // namespace qdirect::plan
