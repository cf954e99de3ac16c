// KubeVirt's spelling of the spec enums, and DecodeResult::ok.

#include <string_view>

#include "qdirect/spec.h"

namespace qdirect::spec {

std::string_view ToString(DiskBus bus) {
  switch (bus) {
    case DiskBus::kVirtio: return "virtio";
    case DiskBus::kSata: return "sata";
    case DiskBus::kScsi: return "scsi";
    case DiskBus::kUsb: return "usb";
  }
  return "?";
}

std::string_view ToString(DiskCache cache) {
  switch (cache) {
    case DiskCache::kDefault: return "";
    case DiskCache::kNone: return "none";
    case DiskCache::kWriteThrough: return "writethrough";
    case DiskCache::kWriteBack: return "writeback";
  }
  return "?";
}

std::string_view ToString(DiskIo io) {
  switch (io) {
    case DiskIo::kDefault: return "";
    case DiskIo::kNative: return "native";
    case DiskIo::kThreads: return "threads";
  }
  return "?";
}

std::string_view ToString(Disk::Type type) {
  switch (type) {
    case Disk::Type::kDisk: return "disk";
    case Disk::Type::kCdrom: return "cdrom";
    case Disk::Type::kLun: return "lun";
  }
  return "?";
}

std::string_view ToString(Interface::Binding binding) {
  switch (binding) {
    case Interface::Binding::kBridge: return "bridge";
    case Interface::Binding::kMasquerade: return "masquerade";
    case Interface::Binding::kPasst: return "passt";
    case Interface::Binding::kSriov: return "sriov";
    case Interface::Binding::kSlirp: return "slirp";
    case Interface::Binding::kMacvtap: return "macvtap";
  }
  return "?";
}

std::string_view ToString(EvictionStrategy strategy) {
  switch (strategy) {
    case EvictionStrategy::kNone: return "None";
    case EvictionStrategy::kLiveMigrate: return "LiveMigrate";
    case EvictionStrategy::kLiveMigrateIfPossible: return "LiveMigrateIfPossible";
    case EvictionStrategy::kExternal: return "External";
  }
  return "?";
}

bool DecodeResult::ok() const {
  if (!errors.empty()) return false;
  for (const DecodedVmi& d : vmis) {
    if (!d.errors.empty()) return false;
  }
  return true;
}

}  // namespace qdirect::spec
