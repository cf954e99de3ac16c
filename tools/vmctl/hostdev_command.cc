// vmctl hostdev list [--json] [--sysfs-root DIR]
// vmctl hostdev prepare ADDR [--dry-run] [--no-bind] [--qemu-user USER] [--sysfs-root DIR]
// vmctl hostdev release ADDR [--driver NAME] [--dry-run] [--sysfs-root DIR]
//
// What this host offers for VFIO passthrough, grouped by IOMMU group with
// viability and drivers; and moving a device (with its companion functions)
// to vfio-pci and back. The sysfs root is --sysfs-root, else
// $QDIRECT_SYSFS_ROOT, else /sys, so that tests run on a synthetic tree.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "launch/credentials.h"
#include "qdirect/hostdev.h"
#include "tools/vmctl/command.h"

namespace qdirect::vmctl {
namespace {

constexpr char kUsage[] =
    "usage: vmctl hostdev list [--json] [--sysfs-root DIR]\n"
    "       vmctl hostdev prepare ADDR [--dry-run] [--no-bind] [--qemu-user USER]\n"
    "                             [--sysfs-root DIR]\n"
    "       vmctl hostdev release ADDR [--driver NAME] [--dry-run] [--sysfs-root DIR]\n";

int Usage() {
  std::fputs(kUsage, stderr);
  return kExitUsage;
}

struct HostdevArgs {
  std::string verb;
  std::string address;
  std::string sysfs_root;
  std::string dev_root = "/dev";
  std::string qemu_user;
  std::string driver;
  bool json = false;
  bool dry_run = false;
  bool bind = true;
};

// false on a bad command line (usage already printed).
bool Parse(const Args& args, HostdevArgs* out) {
  if (args.empty()) return false;
  out->verb = args[0];
  const char* env_root = std::getenv("QDIRECT_SYSFS_ROOT");
  out->sysfs_root = env_root != nullptr && *env_root != '\0'
                        ? env_root
                        : hostdev::kDefaultSysfsRoot;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* into) {
      if (i + 1 >= args.size()) return false;
      *into = args[++i];
      return true;
    };
    if (a == "--json" && out->verb == "list") {
      out->json = true;
    } else if (a == "--dry-run" && out->verb != "list") {
      out->dry_run = true;
    } else if (a == "--no-bind" && out->verb == "prepare") {
      out->bind = false;
    } else if (a == "--sysfs-root") {
      if (!value(&out->sysfs_root)) return false;
    } else if (a == "--dev-root" && out->verb != "list") {
      if (!value(&out->dev_root)) return false;
    } else if (a == "--qemu-user" && out->verb == "prepare") {
      if (!value(&out->qemu_user)) return false;
    } else if (a == "--driver" && out->verb == "release") {
      if (!value(&out->driver)) return false;
    } else if (!a.empty() && a[0] != '-' && out->address.empty() &&
               out->verb != "list") {
      out->address = a;
    } else {
      std::fprintf(stderr, "vmctl hostdev %s: unexpected argument \"%s\"\n",
                   out->verb.c_str(), a.c_str());
      return false;
    }
  }
  if (out->verb == "list") return true;
  return (out->verb == "prepare" || out->verb == "release") &&
         !out->address.empty();
}

std::string DeviceLine(const hostdev::PciDevice& d) {
  std::string line = absl::StrFormat(
      "  %s %s class %06x %s", d.address, d.VendorSelector(), d.class_code,
      d.driver.empty() ? "(no driver)" : d.driver);
  if (d.numa_node >= 0) absl::StrAppend(&line, " numa ", d.numa_node);
  if (d.IsGpu()) absl::StrAppend(&line, " GPU");
  for (const hostdev::MdevType& t : d.mdev_types) {
    absl::StrAppend(&line, "\n    mdev type ", t.id,
                    t.name.empty() ? "" : " \"" + t.name + "\"", " (",
                    t.available_instances, " available)");
  }
  return line;
}

void PrintText(const hostdev::HostDevices& host) {
  for (int group : host.Groups()) {
    hostdev::GroupViability v = hostdev::CheckGroup(host, group);
    std::printf("IOMMU group %d: %s\n", group,
                v.viable ? "viable"
                         : absl::StrCat("not viable (",
                                        absl::StrJoin(v.offending, ", "),
                                        " on a host driver)")
                               .c_str());
    for (const hostdev::PciDevice* d : host.GroupMembers(group)) {
      std::printf("%s\n", DeviceLine(*d).c_str());
    }
  }
  bool header = false;
  for (const hostdev::PciDevice& d : host.pci) {
    if (d.iommu_group >= 0) continue;
    if (!header) {
      std::printf("no IOMMU group (not assignable):\n");
      header = true;
    }
    std::printf("%s\n", DeviceLine(d).c_str());
  }
  for (const hostdev::MdevInstance& m : host.mdevs) {
    std::printf("mdev %s type %s on %s\n", m.uuid.c_str(), m.type.c_str(),
                m.parent.c_str());
  }
}

// A write as the shell line that does it.
std::string ShellLine(const hostdev::SysfsWrite& w) {
  if (w.value == "\n") return absl::StrCat("echo > ", w.path);
  return absl::StrCat("echo '", w.value, "' > ", w.path);
}

int RunPrepare(const HostdevArgs& a) {
  hostdev::PrepareOptions options;
  options.sysfs_root = a.sysfs_root;
  options.dev_root = a.dev_root;
  options.bind = a.bind;
  options.dry_run = a.dry_run;
  if (!a.qemu_user.empty()) {
    absl::StatusOr<launch::Credentials> user = launch::LookupUser(a.qemu_user);
    if (!user.ok()) return ReportError(user.status());
    options.qemu_uid = user->uid;
    options.qemu_gid = user->gid;
  }
  absl::StatusOr<hostdev::PreparedDevice> prepared =
      hostdev::PrepareVfioDevice(a.address, options);
  if (!prepared.ok()) return ReportError(prepared.status());
  for (const hostdev::SysfsWrite& w : prepared->writes) {
    std::printf("%s%s\n", a.dry_run ? "would run: " : "", ShellLine(w).c_str());
  }
  if (a.dry_run && options.qemu_uid) {
    std::printf("would run: chown %u:%u %s\n", *options.qemu_uid,
                *options.qemu_gid, prepared->group_device.c_str());
  }
  for (const auto& [address, driver] : prepared->original_drivers) {
    std::printf("%s: was on %s (vmctl hostdev release %s%s)\n", address.c_str(),
                driver.empty() ? "no driver" : driver.c_str(), address.c_str(),
                driver.empty() ? "" : absl::StrCat(" --driver ", driver).c_str());
  }
  std::printf("%s: IOMMU group %d %s (%s)\n", prepared->address.c_str(),
              prepared->iommu_group, a.dry_run ? "would be ready" : "ready",
              prepared->group_device.c_str());
  return kExitOk;
}

int RunRelease(const HostdevArgs& a) {
  absl::StatusOr<std::string> address = hostdev::CanonicalPciAddress(a.address);
  if (!address.ok()) return ReportError(address.status());
  std::vector<hostdev::SysfsWrite> writes =
      hostdev::RestoreDriverWrites(*address, a.driver, a.sysfs_root);
  // No driver named: let the kernel pick the device's own driver again.
  if (a.driver.empty()) {
    writes.push_back({a.sysfs_root + "/bus/pci/drivers_probe", *address});
  }
  if (!a.dry_run) {
    if (absl::Status st = hostdev::ApplySysfsWrites(writes); !st.ok()) {
      return ReportError(st);
    }
  }
  for (const hostdev::SysfsWrite& w : writes) {
    std::printf("%s%s\n", a.dry_run ? "would run: " : "", ShellLine(w).c_str());
  }
  return kExitOk;
}

}  // namespace

int RunHostdev(const Args& args) {
  HostdevArgs a;
  if (!Parse(args, &a)) return Usage();
  if (a.verb == "prepare") return RunPrepare(a);
  if (a.verb == "release") return RunRelease(a);
  absl::StatusOr<hostdev::HostDevices> host =
      hostdev::DiscoverHostDevices(a.sysfs_root);
  if (!host.ok()) return ReportError(host.status());
  if (a.json) {
    std::printf("%s\n", hostdev::HostDevicesToJson(*host).c_str());
  } else {
    PrintText(*host);
  }
  return kExitOk;
}

}  // namespace qdirect::vmctl
