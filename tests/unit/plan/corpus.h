#pragma once

// The VMI corpus (tests/data/manifests) and what planning it needs without
// a real host: a deterministic volume resolver rooted at a directory, fake
// device-plugin allocations, and the golden argv rendering. Shared by the
// golden unit test and the e2e test that runs QEMU on every plan.

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"

#ifndef QDIRECT_TEST_DATA_DIR
#error "QDIRECT_TEST_DATA_DIR must name tests/data"
#endif

namespace qdirect::testing {

inline std::string CorpusDir() {
  return std::string(QDIRECT_TEST_DATA_DIR) + "/manifests";
}
inline std::string GoldenDir() {
  return std::string(QDIRECT_TEST_DATA_DIR) + "/golden";
}

// Manifest file names, sorted.
inline std::vector<std::string> CorpusManifests() {
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(CorpusDir().c_str())) {
    while (dirent* e = ::readdir(dir)) {
      std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".yaml") {
        names.push_back(name);
      }
    }
    ::closedir(dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "quay.io/kubevirt/cirros:v1" -> "quay.io_kubevirt_cirros".
inline std::string FakeImageDir(std::string image) {
  size_t at = image.find('@');
  if (at != std::string::npos) image.resize(at);
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && image.find('/', colon) == std::string::npos) {
    image.resize(colon);
  }
  std::replace(image.begin(), image.end(), '/', '_');
  return image;
}

// Deterministic stand-in for the local resolver: images under
// <root>/images, claims under <root>/pvc, per-VM files under vm_dir.
class FakeVolumeResolver : public VolumeResolver {
 public:
  FakeVolumeResolver(std::string root, std::string vm_dir)
      : root_(std::move(root)), vm_dir_(std::move(vm_dir)) {}

  absl::StatusOr<ResolvedVolume> Resolve(
      const spec::Vmi& /*vmi*/, const spec::Volume& volume) const override {
    ResolvedVolume rv;
    const std::string& name = volume.name;
    if (const auto* cd = std::get_if<spec::ContainerDiskSource>(&volume.source)) {
      rv.kind = ResolvedVolume::Kind::kOverlay;
      rv.path = vm_dir_ + "/" + name + ".qcow2";
      rv.format = "qcow2";
      rv.backing_path = root_ + "/images/" + FakeImageDir(cd->image) + "/disk/disk.qcow2";
      rv.backing_format = "qcow2";
    } else if (const auto* pvc = std::get_if<spec::PersistentVolumeClaimSource>(&volume.source)) {
      rv.path = root_ + "/pvc/" + pvc->claim_name;
      rv.read_only = pvc->read_only;
    } else if (const auto* dv = std::get_if<spec::DataVolumeSource>(&volume.source)) {
      rv.path = root_ + "/pvc/" + dv->name;
    } else if (const auto* hd = std::get_if<spec::HostDiskSource>(&volume.source)) {
      rv.path = root_ + hd->path;
      if (hd->type == "DiskOrCreate") {
        rv.kind = ResolvedVolume::Kind::kCreate;
        rv.size_bytes = hd->capacity ? hd->capacity->value : 0;
      }
      rv.shared = hd->shared;
    } else if (const auto* ed = std::get_if<spec::EmptyDiskSource>(&volume.source)) {
      rv.kind = ResolvedVolume::Kind::kCreate;
      rv.path = vm_dir_ + "/" + name + ".img";
      rv.size_bytes = ed->capacity.value;
    } else if (const auto* eph = std::get_if<spec::EphemeralSource>(&volume.source)) {
      rv.kind = ResolvedVolume::Kind::kOverlay;
      rv.path = vm_dir_ + "/" + name + ".qcow2";
      rv.format = "qcow2";
      rv.backing_path = root_ + "/pvc/" + eph->persistent_volume_claim.claim_name;
      rv.backing_format = "raw";
    } else {
      // cloud-init and config volumes.
      rv.kind = ResolvedVolume::Kind::kIso;
      rv.path = vm_dir_ + "/" + name + ".iso";
      rv.read_only = true;
    }
    return rv;
  }

 private:
  std::string root_;
  std::string vm_dir_;
};

inline absl::StatusOr<ResolvedVolumes> FakeResolveVolumes(
    const spec::Vmi& vmi, const std::string& root, const std::string& vm_dir) {
  FakeVolumeResolver resolver(root, vm_dir);
  ResolvedVolumes out;
  for (const spec::Volume& v : vmi.volumes) {
    absl::StatusOr<ResolvedVolume> rv = resolver.Resolve(vmi, v);
    if (!rv.ok()) return rv.status();
    out.volumes[v.name] = *rv;
  }
  const auto& kb = vmi.domain.firmware.kernel_boot;
  if (kb && kb->container) {
    std::string dir = root + "/images/" + FakeImageDir(kb->container->image);
    out.kernel_path = dir + kb->container->kernel_path;
    if (!kb->container->initrd_path.empty()) {
      out.initrd_path = dir + kb->container->initrd_path;
    }
  }
  return out;
}

// What KubeVirt's device plugins would have allocated for the corpus.
inline std::map<std::string, std::string> FakeDevicePluginEnv() {
  return {
      {"PCI_RESOURCE_NVIDIA_COM_T4", "0000:65:00.0,0000:66:00.0"},
      {"PCI_RESOURCE_INTEL_COM_QAT", "0000:3d:01.0"},
      {"PCI_RESOURCE_INTEL_COM_SRIOV_VF", "0000:3b:02.1,0000:3b:02.2"},
      {"KUBEVIRT_RESOURCE_NAME_sriov-net", "intel.com/sriov_vf"},
      {"PCI_RESOURCE_NVIDIA_COM_GA102", "0000:01:00.0"},
      {"MDEV_PCI_RESOURCE_NVIDIA_COM_GRID_T4-1Q",
       "6d2c3e5a-52d4-4c7e-9b1a-1f9a3e0c9b11,7e3d4f6b-63e5-4d8f-8c2b-2a0b4f1dac22"},
  };
}

// What sysfs discovery would have said about the corpus's host devices: a
// desktop GPU with its HDMI audio in the same IOMMU group, and a ROM file.
inline std::map<std::string, HostFacts::HostPciDevice> FakeHostPciDevices() {
  return {
      {"0000:01:00.0", {{"0000:01:00.1"}, "/usr/share/qdirect/roms/ga102.rom"}},
  };
}

// The host the golden files are rendered for.
inline absl::StatusOr<HostFacts> CorpusHost(const spec::Vmi& vmi,
                                            const QemuCapabilities& caps,
                                            const std::string& root,
                                            const std::string& runtime_dir) {
  HostFacts host;
  host.qemu = caps;
  host.accel = "tcg";
  host.runtime_dir = runtime_dir;
  host.device_plugin_env = FakeDevicePluginEnv();
  host.host_pci_devices = FakeHostPciDevices();
  absl::StatusOr<ResolvedVolumes> volumes =
      FakeResolveVolumes(vmi, root, runtime_dir + "/vm");
  if (!volumes.ok()) return volumes.status();
  host.volumes = *volumes;
  return host;
}

// One argv element per line; a planning error is one "error:" line.
inline std::string RenderGolden(const absl::StatusOr<Plan>& plan) {
  if (!plan.ok()) return absl::StrCat("error: ", plan.status().ToString(), "\n");
  std::string out;
  for (const std::string& arg : plan->Argv()) absl::StrAppend(&out, arg, "\n");
  return out;
}

}  // namespace qdirect::testing
