#pragma once

// Deterministic PCI placement: the same spec gives the same addresses, which
// live migration relies on (source and target must agree).
//
// q35: every PCIe device sits at 0x0 of its own pcie-root-port ("rp1", ...),
// root ports packed as multifunction groups of 8 on pcie.0 from slot 0x2
// (as libvirt does); integrated devices (VGA, watchdog) sit on pcie.0
// itself; spare root ports follow for hotplug. pc (i440fx): devices sit
// directly on pci.0 slots (ACPI hotplug needs no ports).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "plan/lazy_path.h"

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
  LazyPath OwnerPath() const {
    return owner_field.empty() ? LazyPath(owner) : LazyPath(owner_root, ".", owner_field);
  }
  std::string Owner() const { return OwnerPath().Spell(); }
  // Fixed address from the spec ("0000:00:05.0"): only bus 0 is accepted;
  // the device then sits on the root bus at that slot.
  std::string fixed_address;
  // q35 only: put the device on pcie.0 itself, not behind a root port.
  bool root_bus = false;
  // root_bus only: the preferred slot (-1: the next free one).
  int preferred_slot = -1;
};

// A bus name or address of a layout ("rp12", "pcie.0", "0x2.0x7"), held
// inline: a layout is a few dozen of them, and as strings each cost a
// copy call wherever it moved.
class PciName {
 public:
  static constexpr size_t kCapacity = 15;
  PciName() = default;
  // s fits kCapacity (every name a layout makes does); longer is cut.
  explicit PciName(std::string_view s) : size_(static_cast<uint8_t>(std::min(s.size(), kCapacity))) {
    std::memcpy(text_, s.data(), size_);
  }
  // (The bound is the constructor's; spelled here too so that the compiler
  // sees reads of a view stay inside the name.)
  std::string_view view() const { return std::string_view(text_, std::min<size_t>(size_, kCapacity)); }
  bool empty() const { return size_ == 0; }
  friend bool operator==(const PciName& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const PciName& a, const PciName& b) { return a.view() == b.view(); }
  friend std::ostream& operator<<(std::ostream& out, const PciName& name) {
    return out << name.view();
  }

 private:
  char text_[kCapacity] = {};
  uint8_t size_ = 0;
};

struct PciPlacement {
  PciName bus;   // "rp3", "pcie.0", "pci.0"
  PciName addr;  // "0x0", "0x1f", ...
};

struct RootPort {
  PciName id;  // "rp1"
  int chassis = 0;
  int port = 0;
  int slot = 0;      // on pcie.0
  int function = 0;
  bool multifunction = false;  // set on function 0 of a shared slot
  PciName Addr() const;        // "0x2.0x1"
};

struct PciLayout {
  // One per request, same order; a typical plan's inline.
  absl::InlinedVector<PciPlacement, 8> placements;
  // Used ones first, then spares.
  absl::InlinedVector<RootPort, 16> root_ports;
  std::vector<std::string> free_root_ports;
};

absl::StatusOr<PciLayout> LayoutPci(PciFamily family, std::span<const PciRequest> requests,
                                    int spare_root_ports);

}  // namespace qdirect::plan
