#pragma once

// A synthetic sysfs tree in a temp dir, laid out as the kernel's:
//   <root>/devices/pci0000:00/<addr>/{vendor,device,class,...}
//   <root>/bus/pci/devices/<addr> -> ../../../devices/pci0000:00/<addr>
//   <addr>/iommu_group -> ../../../kernel/iommu_groups/<N>
//   <root>/kernel/iommu_groups/<N>/devices/<addr> -> the device dir
//   <addr>/driver -> ../../../bus/pci/drivers/<driver>
//   <root>/bus/pci/drivers/<driver>/{bind,unbind}, <root>/bus/pci/drivers_probe
//   <parent>/mdev_supported_types/<type>/{name,device_api,available_instances}
//   <root>/bus/mdev/devices/<uuid> -> the parent's <uuid> dir, with mdev_type
// plus <tmp>/dev/vfio/<N> as plain files. Writes land in plain files, so a
// test reads back what "the kernel" was told.

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace qdirect::hostdev_test {

struct FakePci {
  std::string address;  // "0000:65:00.0"
  uint32_t vendor = 0x10de;
  uint32_t device = 0x1eb8;
  uint32_t class_code = 0x030200;
  std::string driver;  // "" unbound
  int group = -1;      // -1: no iommu_group link
  int numa_node = -1;
  uint32_t subsystem_vendor = 0x10de;
  uint32_t subsystem_device = 0x12a2;
};

class FakeSysfs {
 public:
  FakeSysfs() {
    std::string pattern = "/tmp/qdirect-sysfs-test-XXXXXX";
    base_ = mkdtemp(pattern.data());
    root_ = base_ + "/sys";
    Mkdir(root_ + "/devices/pci0000:00");
    Mkdir(root_ + "/bus/pci/devices");
    Mkdir(root_ + "/bus/pci/drivers");
    Mkdir(root_ + "/kernel/iommu_groups");
    Mkdir(base_ + "/dev/vfio");
    Write(root_ + "/bus/pci/drivers_probe", "");
    AddDriver("vfio-pci");
  }
  ~FakeSysfs() {
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const std::string& root() const { return root_; }
  std::string dev_root() const { return base_ + "/dev"; }

  void AddDriver(const std::string& driver) {
    const std::string dir = root_ + "/bus/pci/drivers/" + driver;
    Mkdir(dir);
    if (!std::filesystem::exists(dir + "/bind")) Write(dir + "/bind", "");
    if (!std::filesystem::exists(dir + "/unbind")) Write(dir + "/unbind", "");
  }

  void AddPci(const FakePci& d) {
    const std::string dir = DeviceDir(d.address);
    Mkdir(dir);
    Write(dir + "/vendor", absl::StrFormat("0x%04x\n", d.vendor));
    Write(dir + "/device", absl::StrFormat("0x%04x\n", d.device));
    Write(dir + "/class", absl::StrFormat("0x%06x\n", d.class_code));
    Write(dir + "/subsystem_vendor", absl::StrFormat("0x%04x\n", d.subsystem_vendor));
    Write(dir + "/subsystem_device", absl::StrFormat("0x%04x\n", d.subsystem_device));
    Write(dir + "/numa_node", absl::StrCat(d.numa_node, "\n"));
    Write(dir + "/driver_override", "(null)\n");
    Link("../../../devices/pci0000:00/" + d.address,
         root_ + "/bus/pci/devices/" + d.address);
    if (!d.driver.empty()) {
      AddDriver(d.driver);
      Link("../../../bus/pci/drivers/" + d.driver, dir + "/driver");
    }
    if (d.group >= 0) {
      const std::string group_dir =
          absl::StrCat(root_, "/kernel/iommu_groups/", d.group);
      Mkdir(group_dir + "/devices");
      Link(absl::StrCat("../../../kernel/iommu_groups/", d.group),
           dir + "/iommu_group");
      Link("../../../../devices/pci0000:00/" + d.address,
           group_dir + "/devices/" + d.address);
      const std::string vfio = absl::StrCat(base_, "/dev/vfio/", d.group);
      if (!std::filesystem::exists(vfio)) Write(vfio, "");
    }
  }

  void AddMdevType(const std::string& parent, const std::string& id,
                   const std::string& name, int available) {
    const std::string dir = DeviceDir(parent) + "/mdev_supported_types/" + id;
    Mkdir(dir + "/devices");
    if (!name.empty()) Write(dir + "/name", name + "\n");
    Write(dir + "/device_api", "vfio-pci\n");
    Write(dir + "/available_instances", absl::StrCat(available, "\n"));
    Write(dir + "/create", "");
  }

  void AddMdev(const std::string& uuid, const std::string& parent,
               const std::string& type, int group) {
    const std::string dir = DeviceDir(parent) + "/" + uuid;
    Mkdir(dir);
    Link("../mdev_supported_types/" + type, dir + "/mdev_type");
    Link(absl::StrCat("../../../../kernel/iommu_groups/", group),
         dir + "/iommu_group");
    Mkdir(absl::StrCat(root_, "/kernel/iommu_groups/", group, "/devices"));
    Mkdir(root_ + "/bus/mdev/devices");
    Link("../../../devices/pci0000:00/" + parent + "/" + uuid,
         root_ + "/bus/mdev/devices/" + uuid);
  }

  // Contents of a file under the sysfs root ("bus/pci/drivers_probe").
  std::string Read(const std::string& relative) const {
    std::ifstream in(root_ + "/" + relative, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string DeviceDir(const std::string& address) const {
    return root_ + "/devices/pci0000:00/" + address;
  }

 private:
  static void Mkdir(const std::string& path) {
    std::filesystem::create_directories(path);
  }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  static void Link(const std::string& target, const std::string& path) {
    std::filesystem::create_symlink(target, path);
  }

  std::string base_;
  std::string root_;
};

}  // namespace qdirect::hostdev_test
