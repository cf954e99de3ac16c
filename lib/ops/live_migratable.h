#pragma once

// The LiveMigratable condition of a VMI, decided from its spec as
// virt-controller does (pkg/virt-controller/watch: migration conditions).
// Pure.

#include <string>

#include "qdirect/spec.h"
#include "qdirect/vmi_status.h"

namespace qdirect::ops {

// KubeVirt's reasons for LiveMigratable=False.
namespace live_migratable_reason {
inline constexpr char kHostDeviceNotLiveMigratable[] =
    "HostDeviceNotLiveMigratable";
inline constexpr char kDisksNotLiveMigratable[] = "DisksNotLiveMigratable";
inline constexpr char kInterfaceNotLiveMigratable[] =
    "InterfaceNotLiveMigratable";
}  // namespace live_migratable_reason

struct LiveMigratability {
  bool migratable = true;
  std::string reason;   // empty when migratable
  std::string message;  // KubeVirt's wording, naming the offending item
  bool operator==(const LiveMigratability&) const = default;
};

// The first reason `vmi` cannot migrate, in KubeVirt's order: host devices
// and GPUs (passed through, they stay on the host), then disks (qdirect has
// no block migration: a disk whose contents live only on this host, i.e.
// containerDisk, emptyDisk, ephemeral and a hostDisk not marked shared,
// would be lost; PVCs and DataVolumes are taken to be shared storage, and
// cloud-init/config ISOs are rebuilt identically on the target), then
// interfaces (bridge or SR-IOV on the pod network).
LiveMigratability ComputeLiveMigratability(const spec::Vmi& vmi);

// As the condition that goes into status.conditions.
VmiCondition LiveMigratableCondition(const LiveMigratability& verdict);

}  // namespace qdirect::ops
