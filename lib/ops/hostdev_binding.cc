// Binding host devices to vfio-pci and back (driver_override +
// drivers_probe, as driverctl and libvirt do), and readying an IOMMU group
// for the QEMU user.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "qdirect/hostdev.h"
#include "qdirect/unique_fd.h"

namespace qdirect::hostdev {
namespace {

std::string DeviceDir(const std::string& sysfs_root, const std::string& address) {
  return absl::StrCat(sysfs_root, "/bus/pci/devices/", address);
}
std::string DriverFile(const std::string& sysfs_root, const std::string& driver,
                       const char* file) {
  return absl::StrCat(sysfs_root, "/bus/pci/drivers/", driver, "/", file);
}

bool SameSlot(const std::string& a, const std::string& b) {
  return a.substr(0, a.rfind('.')) == b.substr(0, b.rfind('.'));
}

// QEMU 7.2's vfio-pci opens /dev/vfio/<group> itself (it has no fd
// property for a group), so the QEMU user must own it, as libvirt does.
// Records the previous owner in `prepared` for the release.
absl::Status TakeGroupDevice(const PrepareOptions& options,
                             PreparedDevice& prepared) {
  if (!options.qemu_uid) return absl::OkStatus();
  struct stat st;
  if (::stat(prepared.group_device.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("stat ", prepared.group_device,
                            " (is the vfio-pci module loaded?)"));
  }
  const gid_t gid = options.qemu_gid.value_or(st.st_gid);
  if (st.st_uid == *options.qemu_uid && st.st_gid == gid) return absl::OkStatus();
  if (::chown(prepared.group_device.c_str(), *options.qemu_uid, gid) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("chown ", *options.qemu_uid, ":", gid, " ",
                            prepared.group_device));
  }
  prepared.original_uid = st.st_uid;
  prepared.original_gid = st.st_gid;
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplySysfsWrites(const std::vector<SysfsWrite>& writes) {
  for (const SysfsWrite& w : writes) {
    UniqueFd fd(::open(w.path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("write \"", w.value, "\" to ", w.path));
    }
    // One write(2): sysfs attributes take their value in a single call.
    ssize_t n = ::write(fd.get(), w.value.data(), w.value.size());
    if (n != static_cast<ssize_t>(w.value.size())) {
      return absl::ErrnoToStatus(
          n < 0 ? errno : EIO,
          absl::StrCat("write \"", w.value, "\" to ", w.path));
    }
  }
  return absl::OkStatus();
}

std::vector<SysfsWrite> BindToVfioWrites(const PciDevice& device,
                                         const std::string& sysfs_root) {
  std::vector<SysfsWrite> writes;
  if (device.driver == kVfioPciDriver) return writes;
  writes.push_back({DeviceDir(sysfs_root, device.address) + "/driver_override",
                    kVfioPciDriver});
  if (!device.driver.empty()) {
    writes.push_back(
        {DriverFile(sysfs_root, device.driver, "unbind"), device.address});
  }
  writes.push_back({sysfs_root + "/bus/pci/drivers_probe", device.address});
  return writes;
}

std::vector<SysfsWrite> RestoreDriverWrites(const std::string& address,
                                            const std::string& original_driver,
                                            const std::string& sysfs_root) {
  std::vector<SysfsWrite> writes;
  writes.push_back({DriverFile(sysfs_root, kVfioPciDriver, "unbind"), address});
  // A newline clears driver_override; "" would be a zero-length write.
  writes.push_back({DeviceDir(sysfs_root, address) + "/driver_override", "\n"});
  if (!original_driver.empty()) {
    writes.push_back({DriverFile(sysfs_root, original_driver, "bind"), address});
  }
  return writes;
}

absl::StatusOr<PreparedDevice> PrepareVfioDevice(const std::string& address,
                                                 const PrepareOptions& options) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalPciAddress(address));
  ASSIGN_OR_RETURN(HostDevices host, DiscoverHostDevices(options.sysfs_root));
  const PciDevice* dev = host.Find(canonical);
  if (dev == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        canonical, ": no such PCI device under ", options.sysfs_root,
        "/bus/pci/devices"));
  }
  PreparedDevice prepared;
  prepared.address = canonical;
  prepared.iommu_group = dev->iommu_group;

  // Decide on a copy of the host first: nothing is unbound when the group
  // would not be viable anyway.
  HostDevices after = host;
  if (options.bind) {
    for (PciDevice& member : after.pci) {
      // The device and its companions (the same slot) go to the guest
      // together; members of other slots are left as they are.
      if (dev->iommu_group < 0 || member.iommu_group != dev->iommu_group ||
          !SameSlot(member.address, canonical) ||
          member.driver == kVfioPciDriver) {
        continue;
      }
      std::vector<SysfsWrite> writes = BindToVfioWrites(member, options.sysfs_root);
      prepared.writes.insert(prepared.writes.end(), writes.begin(), writes.end());
      prepared.original_drivers[member.address] = member.driver;
      member.driver = kVfioPciDriver;
    }
  }
  RETURN_IF_ERROR(CheckViable(after, canonical));
  const PciDevice* ready = after.Find(canonical);
  if (ready->driver != kVfioPciDriver) {
    return absl::FailedPreconditionError(absl::StrCat(
        canonical, ": bound to ",
        ready->driver.empty() ? std::string("no driver") : ready->driver,
        ", not vfio-pci (bind it: vmctl hostdev prepare ", canonical, ")"));
  }

  prepared.group_device =
      absl::StrCat(options.dev_root, "/vfio/", dev->iommu_group);
  if (options.dry_run) return prepared;
  RETURN_IF_ERROR(ApplySysfsWrites(prepared.writes));

  RETURN_IF_ERROR(TakeGroupDevice(options, prepared));
  return prepared;
}

absl::StatusOr<PreparedDevice> PrepareMdevDevice(const std::string& uuid,
                                                 const PrepareOptions& options) {
  ASSIGN_OR_RETURN(HostDevices host, DiscoverHostDevices(options.sysfs_root));
  auto it = std::find_if(host.mdevs.begin(), host.mdevs.end(),
                         [&](const MdevInstance& m) { return m.uuid == uuid; });
  if (it == host.mdevs.end()) {
    return absl::NotFoundError(absl::StrCat(
        "mdev ", uuid, ": no such mediated device under ", options.sysfs_root,
        "/bus/mdev/devices"));
  }
  if (it->iommu_group < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("mdev ", uuid, ": no IOMMU group"));
  }
  PreparedDevice prepared;
  prepared.address = uuid;
  prepared.iommu_group = it->iommu_group;
  prepared.group_device =
      absl::StrCat(options.dev_root, "/vfio/", it->iommu_group);
  if (options.dry_run) return prepared;
  RETURN_IF_ERROR(TakeGroupDevice(options, prepared));
  return prepared;
}

absl::StatusOr<std::vector<SysfsWrite>> ReleaseVfioDevice(
    const PreparedDevice& prepared, const PrepareOptions& options) {
  std::vector<SysfsWrite> writes;
  for (const auto& [address, driver] : prepared.original_drivers) {
    std::vector<SysfsWrite> w = RestoreDriverWrites(address, driver, options.sysfs_root);
    writes.insert(writes.end(), w.begin(), w.end());
  }
  if (options.dry_run) return writes;
  RETURN_IF_ERROR(ApplySysfsWrites(writes));
  if (prepared.original_uid >= 0 && !prepared.group_device.empty()) {
    if (::chown(prepared.group_device.c_str(),
                static_cast<uid_t>(prepared.original_uid),
                static_cast<gid_t>(prepared.original_gid)) != 0 &&
        errno != ENOENT) {  // the group went away with vfio-pci: nothing to give back
      return absl::ErrnoToStatus(
          errno, absl::StrCat("chown ", prepared.original_uid, ":",
                              prepared.original_gid, " ", prepared.group_device));
    }
  }
  return writes;
}

}  // namespace qdirect::hostdev
