#include "ops/live_migratable.h"

#include <variant>

#include "absl/strings/str_cat.h"

namespace qdirect::ops {

namespace {

LiveMigratability No(const char* reason, std::string message) {
  return LiveMigratability{false, reason, std::move(message)};
}

// Empty when the volume's contents survive on the target; else why not.
std::string LocalOnlyVolume(const spec::Volume& volume) {
  struct Visitor {
    std::string operator()(const spec::ContainerDiskSource&) const {
      return "containerDisk";
    }
    std::string operator()(const spec::EmptyDiskSource&) const {
      return "emptyDisk";
    }
    std::string operator()(const spec::EphemeralSource&) const {
      return "ephemeral";
    }
    std::string operator()(const spec::HostDiskSource& h) const {
      return h.shared ? "" : "hostDisk (not shared)";
    }
    std::string operator()(const spec::PersistentVolumeClaimSource&) const {
      return "";
    }
    std::string operator()(const spec::DataVolumeSource&) const { return ""; }
    std::string operator()(const spec::CloudInitSource&) const { return ""; }
    std::string operator()(const spec::ConfigSource&) const { return ""; }
  };
  return std::visit(Visitor{}, volume.source);
}

bool IsPodNetwork(const spec::Vmi& vmi, const std::string& name) {
  for (const spec::Network& n : vmi.networks) {
    if (n.name == name) return std::holds_alternative<spec::PodNetwork>(n.source);
  }
  return false;
}

}  // namespace

LiveMigratability ComputeLiveMigratability(const spec::Vmi& vmi) {
  namespace r = live_migratable_reason;
  const spec::Devices& devices = vmi.domain.devices;
  if (!devices.gpus.empty()) {
    return No(r::kHostDeviceNotLiveMigratable,
              absl::StrCat("VMI uses a GPU (", devices.gpus[0].name,
                           "): host devices cannot be live migrated"));
  }
  if (!devices.host_devices.empty()) {
    return No(r::kHostDeviceNotLiveMigratable,
              absl::StrCat("VMI uses a host device (",
                           devices.host_devices[0].name,
                           "): host devices cannot be live migrated"));
  }
  for (const spec::Volume& volume : vmi.volumes) {
    const std::string local = LocalOnlyVolume(volume);
    if (!local.empty()) {
      return No(r::kDisksNotLiveMigratable,
                absl::StrCat("cannot migrate VMI: volume ", volume.name, " is a ",
                             local,
                             " that lives on this host only; qdirect does not do "
                             "block migration"));
    }
  }
  for (const spec::Interface& nic : devices.interfaces) {
    if (nic.binding == spec::Interface::Binding::kSriov) {
      return No(r::kInterfaceNotLiveMigratable,
                absl::StrCat("cannot migrate VMI with an SR-IOV interface (",
                             nic.name, ")"));
    }
    if (nic.binding == spec::Interface::Binding::kBridge &&
        IsPodNetwork(vmi, nic.name)) {
      return No(r::kInterfaceNotLiveMigratable,
                absl::StrCat("cannot migrate VMI which does not use masquerade "
                             "to connect to the pod network (interface ",
                             nic.name, ")"));
    }
  }
  return {};
}

VmiCondition LiveMigratableCondition(const LiveMigratability& verdict) {
  VmiCondition c;
  c.type = vmi_condition::kLiveMigratable;
  c.status = verdict.migratable ? ConditionStatus::kTrue : ConditionStatus::kFalse;
  c.reason = verdict.reason;
  c.message = verdict.message;
  return c;
}

}  // namespace qdirect::ops
