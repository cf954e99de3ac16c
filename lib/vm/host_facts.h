#pragma once

// Gathers HostFacts for standalone use (vmctl, the Python harness, tests):
// the I/O half that the pure planner must not do — probe QEMU, pick the
// accelerator, resolve volumes against the local image store.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"

namespace qdirect {

// Where standalone qdirect finds things. Every field has an environment
// variable; see StandaloneConfigFromEnvironment.
struct StandaloneConfig {
  std::string qemu_binary;  // QDIRECT_QEMU, else qemu-system-x86_64 on PATH
  std::string passt_binary;  // QDIRECT_PASST, else passt on PATH
  std::string image_dir;    // QDIRECT_IMAGE_DIR, else /var/lib/qdirect/images
  std::string pvc_dir;      // QDIRECT_PVC_DIR, else /var/lib/qdirect/pvc
  // configMaps, secrets and serviceAccounts as directories (see
  // LocalResolverOptions): QDIRECT_CONFIG_DIR, else /var/lib/qdirect/config
  std::string config_dir;
  std::string cache_dir;    // QDIRECT_CACHE_DIR, else /var/cache/qdirect
                            // (root) or $XDG_CACHE_HOME/qdirect
  // hostDisk paths must lie under one of these (QDIRECT_ALLOWED_ROOTS, a
  // colon-separated list); the image and PVC dirs are always allowed.
  std::vector<std::string> allowed_roots;
  std::string accel;  // QDIRECT_ACCEL; empty: kvm when usable, else tcg
  // Host devices (read only for VMIs with gpus or hostDevices): the sysfs
  // root (QDIRECT_SYSFS_ROOT, else /sys) and a permittedHostDevices config
  // (QDIRECT_HOSTDEV_CONFIG, YAML or JSON; empty: none) that stands in for
  // KubeVirt's device plugins. PCI_RESOURCE_* already in the environment
  // win over what the config gives.
  std::string sysfs_root = "/sys";
  // Where /dev/vfio/<group> lives (QDIRECT_DEV_ROOT, else /dev): a synthetic
  // sysfs tree comes with its own group devices.
  std::string dev_root = "/dev";
  std::string hostdev_config;
  // QDIRECT_PCI_HOTPLUG: "acpi" (default) or "native" (HostFacts::pci_hotplug).
  std::string pci_hotplug;
};

StandaloneConfig StandaloneConfigFromEnvironment();

// Finds `name` on $PATH (or returns it when it contains a slash).
absl::StatusOr<std::string> FindExecutable(const std::string& name);

// The host-device part of GatherHostFacts (run for VMIs with gpus or
// hostDevices): each GPU's companion functions from sysfs and, with a
// permittedHostDevices config, the device-plugin variables it yields on this
// host (variables already in facts.device_plugin_env are kept) and the ROM
// files it names. Errors name the sysfs path or the config field.
absl::Status GatherHostDeviceFacts(const StandaloneConfig& config,
                                   HostFacts& facts);

// The resolver GatherHostFacts uses (also for volumes hot-plugged later).
std::unique_ptr<VolumeResolver> MakeStandaloneVolumeResolver(
    const StandaloneConfig& config, const std::string& vm_dir);

// Probes QEMU (cached), chooses the accelerator and resolves vmi's volumes;
// vm_dir is the per-VM directory where overlays and ISOs will be created.
absl::StatusOr<HostFacts> GatherHostFacts(const spec::Vmi& vmi,
                                          const StandaloneConfig& config,
                                          const std::string& vm_dir);

}  // namespace qdirect
