#include "plan/pci_layout.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace qdirect::plan {
namespace {

constexpr int kMaxSlot = 31;
constexpr int kFunctionsPerSlot = 8;

// Writes "0x1f" ending at `end`; returns where it starts. Hand-rolled:
// every PCI device of every plan gets one.
char* WriteHex(int value, char* end) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char* p = end;
  unsigned v = static_cast<unsigned>(value);
  do {
    *--p = kDigits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  *--p = 'x';
  *--p = '0';
  return p;
}

// Room for WriteHex of an int.
constexpr size_t kHexSize = 2 + 2 * sizeof(int);

PciName Hex(int value) {
  char buf[kHexSize];
  char* const end = buf + sizeof(buf);
  const char* const begin = WriteHex(value, end);
  return PciName(std::string_view(begin, static_cast<size_t>(end - begin)));
}

// "rp3": written by hand, as Hex (nine or more per plan).
PciName RootPortId(int number) {
  char buf[16] = {'r', 'p'};
  char* const end = std::to_chars(buf + 2, buf + sizeof(buf), number).ptr;
  return PciName(std::string_view(buf, static_cast<size_t>(end - buf)));
}

// Parses "DDDD:BB:SS.F" (KubeVirt's pciAddress) and accepts only bus 0,
// function 0: there is no root port there to hang a deeper bus on.
absl::StatusOr<int> ParseRootSlot(const PciRequest& request) {
  unsigned domain = 0, bus = 0, slot = 0, function = 0;
  char tail = 0;
  const std::string& text = request.fixed_address;
  if (std::sscanf(text.c_str(), "%4x:%2x:%2x.%1x%c", &domain, &bus, &slot,
                  &function, &tail) != 4 ||
      text.size() != 12) {
    return absl::InvalidArgumentError(absl::StrCat(
        request.Owner(), ".pciAddress: Invalid value: \"", text,
        "\": must be DDDD:BB:SS.F"));
  }
  if (domain != 0 || bus != 0 || function != 0 || slot == 0 ||
      static_cast<int>(slot) > kMaxSlot) {
    return absl::InvalidArgumentError(absl::StrCat(
        request.Owner(), ".pciAddress: Invalid value: \"", text,
        "\": only 0000:00:SS.0 with slot 01..1f is supported (a slot on "
        "the root bus)"));
  }
  return static_cast<int>(slot);
}

}  // namespace

PciName RootPort::Addr() const {
  // Written backwards: function, '.', slot.
  char buf[2 * kHexSize + 1];
  char* const end = buf + sizeof(buf);
  char* p = WriteHex(function, end);
  *--p = '.';
  p = WriteHex(slot, p);
  return PciName(std::string_view(p, static_cast<size_t>(end - p)));
}

absl::StatusOr<PciLayout> LayoutPci(PciFamily family, std::span<const PciRequest> requests,
                                    int spare_root_ports) {
  PciLayout layout;
  layout.placements.resize(requests.size());
  const bool q35 = family == PciFamily::kQ35;
  const PciName root_bus(q35 ? "pcie.0" : "pci.0");

  // Slots taken, one bit each (slots are 0..kMaxSlot). Nobody else may
  // take the host bridge's, and ICH9's LPC/SATA/SMBus at 0x1f on q35, PIIX3
  // at 0x1 on pc.
  static_assert(kMaxSlot < 32);
  uint32_t taken_bits = q35 ? (1u << 0 | 1u << 0x1f) : (1u << 0 | 1u << 1);
  auto taken = [&taken_bits](int s) { return (taken_bits >> s & 1) != 0; };
  auto take = [&taken_bits](int s) { taken_bits |= 1u << s; };

  // Fixed addresses and preferred slots first, so later choices avoid them.
  for (size_t i = 0; i < requests.size(); ++i) {
    const PciRequest& r = requests[i];
    int slot = -1;
    if (!r.fixed_address.empty()) {
      absl::StatusOr<int> parsed = ParseRootSlot(r);
      if (!parsed.ok()) return parsed.status();
      slot = *parsed;
    } else if (r.preferred_slot >= 0 && r.preferred_slot <= kMaxSlot &&
               !taken(r.preferred_slot)) {
      slot = r.preferred_slot;
    }
    if (slot < 0) continue;
    if (taken(slot)) {
      return absl::InvalidArgumentError(absl::StrCat(
          r.Owner(), ".pciAddress: Invalid value: \"", r.fixed_address,
          "\": slot ", std::string(Hex(slot).view()), " is already in use"));
    }
    take(slot);
    layout.placements[i] = {root_bus, Hex(slot)};
  }

  auto next_free_slot = [&](int from) {
    for (int s = from; s <= kMaxSlot; ++s) {
      if (!taken(s)) return s;
    }
    return -1;
  };

  if (!q35) {
    for (size_t i = 0; i < requests.size(); ++i) {
      if (!layout.placements[i].bus.empty()) continue;
      int slot = next_free_slot(2);
      if (slot < 0) {
        return absl::ResourceExhaustedError(absl::StrCat(
            requests[i].Owner(), ": no free slot left on pci.0"));
      }
      take(slot);
      layout.placements[i] = {root_bus, Hex(slot)};
    }
    return layout;
  }

  // q35: one root port per remaining non-integrated device, then spares.
  absl::InlinedVector<size_t, 16> port_users;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (layout.placements[i].bus.empty() && !requests[i].root_bus) {
      port_users.push_back(i);
    }
  }
  const int total_ports =
      static_cast<int>(port_users.size()) + std::max(spare_root_ports, 0);
  int slot = -1;
  int function = kFunctionsPerSlot;
  layout.root_ports.reserve(static_cast<size_t>(total_ports));
  for (int k = 0; k < total_ports; ++k) {
    if (function == kFunctionsPerSlot) {
      slot = next_free_slot(slot < 0 ? 2 : slot + 1);
      if (slot < 0) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "pcie.0 has no free slot left for root port ", k + 1, " of ",
            total_ports));
      }
      take(slot);
      function = 0;
    }
    RootPort port;
    port.id = RootPortId(k + 1);
    port.chassis = k + 1;
    port.port = 0x10 + k;
    port.slot = slot;
    port.function = function++;
    layout.root_ports.push_back(std::move(port));
  }
  // Function 0 carries multifunction=on when its slot holds more ports.
  for (size_t k = 0; k < layout.root_ports.size(); ++k) {
    RootPort& port = layout.root_ports[k];
    if (port.function == 0 && k + 1 < layout.root_ports.size() &&
        layout.root_ports[k + 1].slot == port.slot) {
      port.multifunction = true;
    }
  }
  for (size_t u = 0; u < port_users.size(); ++u) {
    layout.placements[port_users[u]] = {layout.root_ports[u].id, PciName("0x0")};
  }
  layout.free_root_ports.reserve(layout.root_ports.size() - port_users.size());
  for (size_t k = port_users.size(); k < layout.root_ports.size(); ++k) {
    layout.free_root_ports.emplace_back(layout.root_ports[k].id.view());
  }
  // Integrated devices without a slot take the next free ones.
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!layout.placements[i].bus.empty()) continue;
    int s = next_free_slot(2);
    if (s < 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat(requests[i].Owner(), ": no free slot left on pcie.0"));
    }
    take(s);
    layout.placements[i] = {root_bus, Hex(s)};
  }
  return layout;
}

}  // namespace qdirect::plan
