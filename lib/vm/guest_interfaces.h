#pragma once

// status.interfaces as virt-handler's NetStat computes it: one entry per NIC
// of the domain (name = the spec interface name, its MAC, infoSource
// "domain"), then the guest agent's guest-network-get-interfaces report
// merged in by MAC. A guest NIC whose MAC matches takes interfaceName and the
// addresses from the guest (infoSource "domain, guest-agent"); one that
// matches nothing is appended with no name (infoSource "guest-agent").
// Loopback ("lo") is left out, as virt-launcher's agent poller does. Pure.

#include <cstdint>
#include <string>
#include <vector>

#include "qdirect/agent.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"
#include "qdirect/vmi_status.h"

namespace qdirect::vm {

inline constexpr char kInfoSourceDomain[] = "domain";
inline constexpr char kInfoSourceGuestAgent[] = "guest-agent";
inline constexpr char kInfoSourceDomainAndGuestAgent[] = "domain, guest-agent";

// One NIC QEMU gives the guest.
struct DomainInterface {
  std::string name;  // spec.domain.devices.interfaces[].name
  std::string mac;   // as QEMU presents it to the guest
  int32_t queue_count = 1;
  std::string link_state = "up";
  bool operator==(const DomainInterface&) const = default;
};

// The NICs of `plan`, in spec order: the MAC the planner put on the device
// ("ua-<name>"), else the spec's macAddress (SR-IOV). Interfaces in state
// "absent" are left out.
std::vector<DomainInterface> DomainInterfacesFromPlan(const spec::Vmi& vmi,
                                                      const Plan& plan);

// status.interfaces before (or without) the guest agent.
std::vector<VmiInterface> InterfaceStatusFromDomain(
    const std::vector<DomainInterface>& domain);

// Merges the guest agent's report into `status` (from
// InterfaceStatusFromDomain). MACs compare case-insensitively: the spec may
// spell them in capitals, qemu-ga reports lower case.
std::vector<VmiInterface> MergeGuestInterfaces(
    std::vector<VmiInterface> status,
    const std::vector<agent::NetworkInterface>& guest);

}  // namespace qdirect::vm
