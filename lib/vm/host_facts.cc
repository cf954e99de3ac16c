#include "vm/host_facts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "base/status_macros.h"
#include "qdirect/hostdev.h"

extern char** environ;

namespace qdirect {
namespace {

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? std::string(value)
                                              : std::move(fallback);
}

std::string DefaultCacheDir() {
  if (geteuid() == 0) return "/var/cache/qdirect";
  std::string xdg = EnvOr("XDG_CACHE_HOME", "");
  if (!xdg.empty()) return xdg + "/qdirect";
  std::string home = EnvOr("HOME", "/tmp");
  return home + "/.cache/qdirect";
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

StandaloneConfig StandaloneConfigFromEnvironment() {
  StandaloneConfig config;
  config.qemu_binary = EnvOr("QDIRECT_QEMU", "qemu-system-x86_64");
  config.passt_binary = EnvOr("QDIRECT_PASST", "passt");
  config.image_dir = EnvOr("QDIRECT_IMAGE_DIR", "/var/lib/qdirect/images");
  config.pvc_dir = EnvOr("QDIRECT_PVC_DIR", "/var/lib/qdirect/pvc");
  config.config_dir = EnvOr("QDIRECT_CONFIG_DIR", "/var/lib/qdirect/config");
  config.cache_dir = EnvOr("QDIRECT_CACHE_DIR", DefaultCacheDir());
  for (absl::string_view root :
       absl::StrSplit(EnvOr("QDIRECT_ALLOWED_ROOTS", ""), ':',
                      absl::SkipEmpty())) {
    config.allowed_roots.emplace_back(root);
  }
  config.accel = EnvOr("QDIRECT_ACCEL", "");
  config.sysfs_root = EnvOr("QDIRECT_SYSFS_ROOT", hostdev::kDefaultSysfsRoot);
  config.dev_root = EnvOr("QDIRECT_DEV_ROOT", "/dev");
  config.hostdev_config = EnvOr("QDIRECT_HOSTDEV_CONFIG", "");
  config.pci_hotplug = EnvOr("QDIRECT_PCI_HOTPLUG", "");
  return config;
}

absl::StatusOr<std::string> FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (IsExecutableFile(name)) return name;
    return absl::NotFoundError(absl::StrCat(name, ": no such executable"));
  }
  std::string path = EnvOr("PATH", "/usr/local/bin:/usr/bin:/bin");
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat(name, ": not found on PATH (set QDIRECT_QEMU)"));
}

// Standalone stand-in for KubeVirt's device plugins and virt-handler's
// view of the host: the device-plugin variables a permittedHostDevices
// config yields on this host, and each passed-through GPU's companion
// functions and ROM file.
absl::Status GatherHostDeviceFacts(const StandaloneConfig& config,
                                   HostFacts& facts) {
  ASSIGN_OR_RETURN(hostdev::HostDevices host,
                   hostdev::DiscoverHostDevices(config.sysfs_root));
  for (const hostdev::PciDevice& dev : host.pci) {
    if (!dev.IsGpu()) continue;
    // Only companions QEMU can open: an unbound one keeps the group viable
    // but stays on the host (vmctl hostdev prepare binds it).
    std::vector<std::string> companions;
    for (std::string& c : hostdev::CompanionFunctions(host, dev.address)) {
      if (host.Find(c)->driver == hostdev::kVfioPciDriver) {
        companions.push_back(std::move(c));
      }
    }
    if (!companions.empty()) {
      facts.host_pci_devices[dev.address].companions = std::move(companions);
    }
  }
  if (config.hostdev_config.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(hostdev::PermittedHostDevices permitted,
                   hostdev::ReadPermittedHostDevicesFile(config.hostdev_config));
  for (auto& [name, value] : hostdev::DevicePluginEnvironment(permitted, host)) {
    facts.device_plugin_env.try_emplace(name, std::move(value));
  }
  for (const hostdev::PciHostDeviceSelector& s : permitted.pci_host_devices) {
    if (s.rom_file.empty()) continue;
    for (const hostdev::PciDevice& dev : host.pci) {
      if (dev.VendorSelector() == s.pci_vendor_selector) {
        facts.host_pci_devices[dev.address].rom_file = s.rom_file;
      }
    }
  }
  return absl::OkStatus();
}

std::unique_ptr<VolumeResolver> MakeStandaloneVolumeResolver(
    const StandaloneConfig& config, const std::string& vm_dir) {
  LocalResolverOptions options;
  options.image_dir = config.image_dir;
  options.pvc_dir = config.pvc_dir;
  options.config_dir = config.config_dir;
  options.allowed_roots = config.allowed_roots;
  options.allowed_roots.push_back(config.image_dir);
  options.allowed_roots.push_back(config.pvc_dir);
  options.vm_dir = vm_dir;
  return MakeLocalVolumeResolver(std::move(options));
}

absl::StatusOr<HostFacts> GatherHostFacts(const spec::Vmi& vmi,
                                          const StandaloneConfig& config,
                                          const std::string& vm_dir) {
  HostFacts facts;
  ASSIGN_OR_RETURN(std::string binary, FindExecutable(config.qemu_binary));
  ASSIGN_OR_RETURN(facts.qemu, ProbeQemu(binary, config.cache_dir));
  if (config.accel.empty()) {
    ASSIGN_OR_RETURN(facts.accel, ChooseAccelerator());
  } else if (config.accel == "kvm" || config.accel == "tcg") {
    facts.accel = config.accel;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "accelerator \"", config.accel, "\": supported values: kvm, tcg"));
  }

  if (config.pci_hotplug == "native") {
    facts.pci_hotplug = HostFacts::PciHotplug::kNative;
  } else if (!config.pci_hotplug.empty() && config.pci_hotplug != "acpi") {
    return absl::InvalidArgumentError(absl::StrCat(
        "QDIRECT_PCI_HOTPLUG \"", config.pci_hotplug,
        "\": supported values: acpi, native"));
  }

  std::unique_ptr<VolumeResolver> resolver =
      MakeStandaloneVolumeResolver(config, vm_dir);
  ASSIGN_OR_RETURN(facts.volumes, ResolveVolumes(vmi, *resolver));

  // KubeVirt's device plugins hand out host devices through these.
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view text(*entry);
    if (!absl::StartsWith(text, "PCI_RESOURCE_") &&
        !absl::StartsWith(text, "MDEV_PCI_RESOURCE_") &&
        !absl::StartsWith(text, "KUBEVIRT_RESOURCE_NAME_")) {
      continue;
    }
    size_t eq = text.find('=');
    if (eq == absl::string_view::npos) continue;
    facts.device_plugin_env[std::string(text.substr(0, eq))] =
        std::string(text.substr(eq + 1));
  }

  if (!vmi.domain.devices.gpus.empty() ||
      !vmi.domain.devices.host_devices.empty()) {
    RETURN_IF_ERROR(GatherHostDeviceFacts(config, facts));
  }

  facts.runtime_dir = vm_dir;
  // clock.utc.offsetSeconds is relative to the moment QEMU starts.
  facts.start_time_unix = static_cast<int64_t>(::time(nullptr));
  facts.host_cpus = static_cast<int>(std::thread::hardware_concurrency());
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) {
    facts.host_memory_bytes = static_cast<int64_t>(pages) * page_size;
  }
  return facts;
}

}  // namespace qdirect
