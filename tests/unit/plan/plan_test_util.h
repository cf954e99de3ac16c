#pragma once

// Hand-built specs and host facts for planner tests.

#include <algorithm>
#include <string>
#include <vector>

#include "qdirect/plan.h"
#include "qdirect/spec.h"

namespace qdirect::testing {

inline spec::Quantity Bytes(int64_t value) {
  spec::Quantity q;
  q.text = std::to_string(value);
  q.value = value;
  q.milli = value * 1000;
  return q;
}

// A VMI with one virtio containerDisk "rootdisk" and 512 MiB of memory.
inline spec::Vmi MinimalVmi() {
  spec::Vmi vmi;
  vmi.metadata.name = "testvm";
  vmi.metadata.namespace_ = "default";
  vmi.domain.memory.guest = Bytes(512LL << 20);
  spec::Disk disk;
  disk.name = "rootdisk";
  vmi.domain.devices.disks.push_back(disk);
  vmi.volumes.push_back({"rootdisk", spec::ContainerDiskSource{"example/img", "", ""}});
  return vmi;
}

inline ResolvedVolume OverlayVolume(const std::string& name) {
  ResolvedVolume rv;
  rv.kind = ResolvedVolume::Kind::kOverlay;
  rv.path = "/vm/" + name + ".qcow2";
  rv.format = "qcow2";
  rv.backing_path = "/images/example/disk/disk.qcow2";
  rv.backing_format = "qcow2";
  return rv;
}

inline ResolvedVolume FileVolume(const std::string& path) {
  ResolvedVolume rv;
  rv.kind = ResolvedVolume::Kind::kFile;
  rv.path = path;
  return rv;
}

inline HostFacts TcgHost() {
  HostFacts host;
  host.qemu = BuiltinQemu72Capabilities();
  host.accel = "tcg";
  host.runtime_dir = "/run/qdirect/testvm";
  host.spare_root_ports = 2;
  host.volumes.volumes["rootdisk"] = OverlayVolume("rootdisk");
  return host;
}

// The argument after the first `flag` whose value contains `needle`
// ("" when none).
inline std::string FindArg(const std::vector<std::string>& argv,
                           const std::string& flag,
                           const std::string& needle = "") {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag && argv[i + 1].find(needle) != std::string::npos) {
      return argv[i + 1];
    }
  }
  return "";
}

inline std::vector<std::string> FindAllArgs(const std::vector<std::string>& argv,
                                            const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) out.push_back(argv[i + 1]);
  }
  return out;
}

inline const DeviceEntry* FindDevice(const Plan& plan, const std::string& id) {
  for (const DeviceEntry& e : plan.devices) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

}  // namespace qdirect::testing
