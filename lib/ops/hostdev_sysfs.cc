// Host PCI and mediated-device discovery from sysfs.

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "ops/hostdev_sysfs.h"
#include "qdirect/hostdev.h"
#include "qdirect/unique_fd.h"

namespace qdirect::hostdev {

absl::StatusOr<std::string> ReadSysfsFile(const std::string& path) {
  // open + one read: sysfs attributes fit a page, and an ifstream costs
  // several times the syscalls on a host with hundreds of functions.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
  char buffer[4096];
  std::string text;
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("list ", path));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::string> LinkBasename(const std::string& path) {
  char target[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), target, sizeof(target) - 1);
  if (n < 0) return std::nullopt;
  target[n] = '\0';
  std::string text(target);
  size_t slash = text.rfind('/');
  return slash == std::string::npos ? text : text.substr(slash + 1);
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

namespace {

absl::StatusOr<uint32_t> ParseHex(const std::string& path,
                                  const std::string& text) {
  uint32_t value = 0;
  if (!absl::SimpleHexAtoi(text, &value)) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a hex number: \"", text, "\""));
  }
  return value;
}

absl::StatusOr<uint32_t> ReadHex(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadSysfsFile(path));
  return ParseHex(path, text);
}

// An attribute that older kernels or some devices lack: nullopt when the
// file does not exist, an error for any other failure.
absl::StatusOr<std::optional<std::string>> ReadOptional(const std::string& path) {
  absl::StatusOr<std::string> text = ReadSysfsFile(path);
  if (absl::IsNotFound(text.status())) return std::nullopt;
  if (!text.ok()) return text.status();
  return std::optional<std::string>(std::move(*text));
}

absl::StatusOr<int> GroupNumber(const std::string& link) {
  std::optional<std::string> name = LinkBasename(link);
  if (!name) return -1;
  int group = -1;
  if (!absl::SimpleAtoi(*name, &group) || group < 0) {
    return absl::DataLossError(absl::StrCat(
        link, ": IOMMU group link points to \"", *name, "\", not a number"));
  }
  return group;
}

absl::StatusOr<std::vector<MdevType>> ReadMdevTypes(const std::string& dir) {
  std::vector<MdevType> types;
  const std::string types_dir = dir + "/mdev_supported_types";
  if (!PathExists(types_dir)) return types;
  ASSIGN_OR_RETURN(std::vector<std::string> ids, ListDirectory(types_dir));
  for (const std::string& id : ids) {
    const std::string type_dir = absl::StrCat(types_dir, "/", id);
    MdevType type;
    type.id = id;
    if (PathExists(type_dir + "/name")) {
      ASSIGN_OR_RETURN(type.name, ReadSysfsFile(type_dir + "/name"));
    }
    ASSIGN_OR_RETURN(type.device_api, ReadSysfsFile(type_dir + "/device_api"));
    ASSIGN_OR_RETURN(std::string available,
                     ReadSysfsFile(type_dir + "/available_instances"));
    if (!absl::SimpleAtoi(available, &type.available_instances)) {
      return absl::DataLossError(absl::StrCat(
          type_dir, "/available_instances: not a number: \"", available, "\""));
    }
    types.push_back(std::move(type));
  }
  return types;
}

absl::StatusOr<PciDevice> ReadPciDevice(const std::string& dir,
                                        const std::string& address) {
  PciDevice dev;
  dev.address = address;
  ASSIGN_OR_RETURN(dev.vendor_id, ReadHex(dir + "/vendor"));
  ASSIGN_OR_RETURN(dev.device_id, ReadHex(dir + "/device"));
  ASSIGN_OR_RETURN(dev.class_code, ReadHex(dir + "/class"));
  for (auto [file, field] : {std::pair{"/subsystem_vendor", &dev.subsystem_vendor_id},
                             std::pair{"/subsystem_device", &dev.subsystem_device_id}}) {
    ASSIGN_OR_RETURN(std::optional<std::string> text, ReadOptional(dir + file));
    if (text) {
      ASSIGN_OR_RETURN(*field, ParseHex(dir + file, *text));
    }
  }
  dev.driver = LinkBasename(dir + "/driver").value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> override_text,
                   ReadOptional(dir + "/driver_override"));
  if (override_text && *override_text != "(null)") {
    dev.driver_override = *override_text;
  }
  ASSIGN_OR_RETURN(dev.iommu_group, GroupNumber(dir + "/iommu_group"));
  ASSIGN_OR_RETURN(std::optional<std::string> node, ReadOptional(dir + "/numa_node"));
  if (node && !absl::SimpleAtoi(*node, &dev.numa_node)) {
    return absl::DataLossError(
        absl::StrCat(dir, "/numa_node: not a number: \"", *node, "\""));
  }
  ASSIGN_OR_RETURN(dev.mdev_types, ReadMdevTypes(dir));
  return dev;
}

absl::StatusOr<MdevInstance> ReadMdevInstance(const std::string& link,
                                              const std::string& uuid) {
  MdevInstance mdev;
  mdev.uuid = uuid;
  std::optional<std::string> type = LinkBasename(link + "/mdev_type");
  if (!type) {
    return absl::DataLossError(
        absl::StrCat(link, "/mdev_type: missing (not an mdev device?)"));
  }
  mdev.type = *type;
  char resolved[PATH_MAX];
  if (::realpath(link.c_str(), resolved) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("resolve ", link));
  }
  std::string path(resolved);
  size_t last = path.rfind('/');
  size_t before = last == 0 || last == std::string::npos
                      ? std::string::npos
                      : path.rfind('/', last - 1);
  if (before == std::string::npos) {
    return absl::DataLossError(
        absl::StrCat(link, ": resolves to ", path, ", which has no parent"));
  }
  mdev.parent = path.substr(before + 1, last - before - 1);
  ASSIGN_OR_RETURN(mdev.iommu_group, GroupNumber(link + "/iommu_group"));
  return mdev;
}

}  // namespace

std::string PciDevice::VendorSelector() const {
  return absl::StrFormat("%04x:%04x", vendor_id, device_id);
}

const PciDevice* HostDevices::Find(const std::string& address) const {
  auto it = std::lower_bound(
      pci.begin(), pci.end(), address,
      [](const PciDevice& d, const std::string& a) { return d.address < a; });
  return it != pci.end() && it->address == address ? &*it : nullptr;
}

std::vector<const PciDevice*> HostDevices::GroupMembers(int group) const {
  std::vector<const PciDevice*> members;
  if (group < 0) return members;
  for (const PciDevice& d : pci) {
    if (d.iommu_group == group) members.push_back(&d);
  }
  return members;
}

std::vector<int> HostDevices::Groups() const {
  std::set<int> groups;
  for (const PciDevice& d : pci) {
    if (d.iommu_group >= 0) groups.insert(d.iommu_group);
  }
  return {groups.begin(), groups.end()};
}

absl::StatusOr<std::string> CanonicalPciAddress(const std::string& address) {
  std::string text = absl::AsciiStrToLower(address);
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() == 2) parts.insert(parts.begin(), "0000");
  auto hex_of = [](const std::string& s, size_t width) {
    if (s.empty() || s.size() > width) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return absl::ascii_isxdigit(c); });
  };
  if (parts.size() == 3) {
    std::vector<std::string> slot = absl::StrSplit(parts[2], '.');
    if (slot.size() == 2 && hex_of(parts[0], 4) && hex_of(parts[1], 2) &&
        hex_of(slot[0], 2) && slot[1].size() == 1 && slot[1][0] >= '0' &&
        slot[1][0] <= '7') {
      uint32_t domain = 0, bus = 0, dev = 0;
      absl::SimpleHexAtoi(parts[0], &domain);
      absl::SimpleHexAtoi(parts[1], &bus);
      absl::SimpleHexAtoi(slot[0], &dev);
      if (dev < 32) {
        return absl::StrFormat("%04x:%02x:%02x.%s", domain, bus, dev, slot[1]);
      }
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "PCI address \"", address,
      "\": expected domain:bus:slot.function, e.g. 0000:65:00.0"));
}

absl::StatusOr<HostDevices> DiscoverHostDevices(const std::string& sysfs_root) {
  HostDevices host;
  const std::string pci_dir = sysfs_root + "/bus/pci/devices";
  ASSIGN_OR_RETURN(std::vector<std::string> addresses, ListDirectory(pci_dir));
  host.pci.reserve(addresses.size());
  for (const std::string& address : addresses) {
    ASSIGN_OR_RETURN(PciDevice dev,
                     ReadPciDevice(absl::StrCat(pci_dir, "/", address), address));
    host.pci.push_back(std::move(dev));
  }
  // Most hosts have no mdev bus at all (the module is not loaded).
  const std::string mdev_dir = sysfs_root + "/bus/mdev/devices";
  if (PathExists(mdev_dir)) {
    ASSIGN_OR_RETURN(std::vector<std::string> uuids, ListDirectory(mdev_dir));
    for (const std::string& uuid : uuids) {
      ASSIGN_OR_RETURN(MdevInstance mdev,
                       ReadMdevInstance(absl::StrCat(mdev_dir, "/", uuid), uuid));
      host.mdevs.push_back(std::move(mdev));
    }
  }
  return host;
}

std::vector<std::string> CompanionFunctions(const HostDevices& host,
                                            const std::string& address) {
  std::vector<std::string> companions;
  const PciDevice* dev = host.Find(address);
  if (dev == nullptr || dev->iommu_group < 0) return companions;
  // Same domain:bus:slot, another function.
  const std::string slot = address.substr(0, address.rfind('.'));
  for (const PciDevice* member : host.GroupMembers(dev->iommu_group)) {
    if (member->address != address &&
        member->address.compare(0, slot.size() + 1, slot + ".") == 0) {
      companions.push_back(member->address);
    }
  }
  return companions;
}

}  // namespace qdirect::hostdev
