#pragma once

// Volume resolvers (private side of qdirect/plan.h's VolumeResolver): the
// standalone one over a local image store (MakeLocalVolumeResolver, public)
// and the one that knows KubeVirt's paths inside a virt-launcher pod.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "qdirect/plan.h"
#include "qdirect/spec.h"

namespace qdirect {

// A VolumeResolver that also finds kernelBoot.container artifacts. Both
// resolvers below implement it; ResolveVolumes uses it through dynamic_cast
// because VolumeResolver (public) has no such method yet.
class KernelBootResolver {
 public:
  virtual ~KernelBootResolver() = default;
  // Absolute host path of `path_in_image` (kernelPath or initrdPath) in the
  // kernelBoot container `image`. `field` is the spec field path used in
  // error messages.
  virtual absl::StatusOr<std::string> ResolveKernelBootFile(
      const spec::Vmi& vmi, const std::string& image,
      const std::string& path_in_image, absl::string_view field) const = 0;
};

// KubeVirt's in-pod layout (virt-launcher's view, as KubeVirt's
// pkg/container-disk, pkg/config, pkg/hostdisk, pkg/cloud-init lay it out):
//   containerDisk #i   /var/run/kubevirt/container-disks/disk_<i>.img (base)
//                      overlay /var/run/kubevirt-ephemeral-disks/disk-data/
//                      <volume>/disk.qcow2
//   PVC / DataVolume   /dev/<volume> when that is a block device, else
//                      /var/run/kubevirt-private/vmi-disks/<volume>/disk.img
//   hostDisk           its path, as is
//   emptyDisk          /var/run/kubevirt-ephemeral-disks/empty-disks/<v>.img
//   cloud-init         /var/run/kubevirt-ephemeral-disks/cloud-init-data/
//                      <namespace>/<name>/{noCloud,configdrive}.iso
//   configMap, secret, downwardAPI
//                      /var/run/kubevirt-private/{config-map,secret,
//                      downwardapi}-disks/<volume>.iso
//   serviceAccount     /var/run/kubevirt-private/service-account-disk/
//                      service-account.iso
//   kernelBoot         /var/run/kubevirt/container-disks/kernel-boot/<path>
struct KubeVirtPodResolverOptions {
  // Prefix for the files the resolver inspects (format, block or file);
  // tests point it at a temporary tree. Returned paths never carry it.
  std::string inspect_root;
};
std::unique_ptr<VolumeResolver> MakeKubeVirtPodVolumeResolver(
    KubeVirtPodResolverOptions options = {});

}  // namespace qdirect
