// IOMMU group viability: VFIO hands a whole group to one user, so every
// member must be free of host drivers before QEMU can open it.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qdirect/hostdev.h"

namespace qdirect::hostdev {
namespace {

// As the kernel's VFIO: no driver, a vfio driver or pci-stub; and PCI
// bridges on pcieport, which never touch the devices behind them for DMA.
bool MemberAllowed(const PciDevice& d) {
  if (d.driver.empty() || d.driver == kVfioPciDriver || d.driver == "pci-stub") {
    return true;
  }
  return (d.class_code >> 8) == 0x0604 && d.driver == "pcieport";
}

}  // namespace

GroupViability CheckGroup(const HostDevices& host, int group) {
  GroupViability v;
  v.group = group;
  std::vector<const PciDevice*> members = host.GroupMembers(group);
  for (const PciDevice* d : members) {
    if (!MemberAllowed(*d)) {
      v.offending.push_back(absl::StrCat(d->address, " (", d->driver, ")"));
    }
  }
  v.viable = !members.empty() && v.offending.empty();
  return v;
}

absl::Status CheckViable(const HostDevices& host, const std::string& address) {
  const PciDevice* dev = host.Find(address);
  if (dev == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(address, ": no such PCI device on this host"));
  }
  if (dev->iommu_group < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        address, ": no IOMMU group (is the IOMMU on? intel_iommu=on or "
                 "amd_iommu=on on the kernel command line)"));
  }
  GroupViability v = CheckGroup(host, dev->iommu_group);
  if (v.viable) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      address, ": IOMMU group ", v.group, " is not viable: ",
      absl::StrJoin(v.offending, ", "),
      v.offending.size() == 1 ? " is" : " are",
      " bound to another driver than vfio-pci (every device of a group "
      "must be on vfio-pci or on no driver)"));
}

}  // namespace qdirect::hostdev
