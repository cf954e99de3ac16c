// spec.domain.devices.disks -> -blockdev nodes and their -device.

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "plan/plan_context.h"

namespace qdirect::plan {
namespace {

struct CacheMode {
  bool direct = true;
  bool write_cache = true;
};

// KubeVirt's cache modes in QEMU's terms: "none" bypasses the host page
// cache (guest flushes still honoured); "writethrough" keeps the host
// cache but hides the guest's write cache so every write is stable;
// "writeback" caches on both sides.
CacheMode MapCache(spec::DiskCache cache, const ResolvedVolume& volume) {
  switch (cache) {
    case spec::DiskCache::kNone:
      return {true, true};
    case spec::DiskCache::kWriteThrough:
      return {false, false};
    case spec::DiskCache::kWriteBack:
      return {false, true};
    case spec::DiskCache::kDefault:
      break;
  }
  // KubeVirt's default is "none" where O_DIRECT works. ISOs live in the
  // runtime dir, often tmpfs (no O_DIRECT), and are small and read-only:
  // writethrough there, as KubeVirt falls back to.
  if (volume.kind == ResolvedVolume::Kind::kIso) return {false, false};
  return {true, true};
}

// KubeVirt's spellings; local so planning links without the decoder.
const char* CacheName(spec::DiskCache cache) {
  switch (cache) {
    case spec::DiskCache::kNone:
      return "none";
    case spec::DiskCache::kWriteThrough:
      return "writethrough";
    case spec::DiskCache::kWriteBack:
      return "writeback";
    case spec::DiskCache::kDefault:
      break;
  }
  return "";
}

const char* TypeName(spec::Disk::Type type) {
  switch (type) {
    case spec::Disk::Type::kDisk:
      return "disk";
    case spec::Disk::Type::kCdrom:
      return "cdrom";
    case spec::Disk::Type::kLun:
      return "lun";
  }
  return "";
}

const spec::Volume* FindVolume(const spec::Vmi& vmi, const std::string& name) {
  for (const spec::Volume& v : vmi.volumes) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

// A blockdev's "cache" member: one of two constant objects.
std::string_view CacheObject(const CacheMode& mode) {
  return mode.direct ? R"({"direct":true,"no-flush":false})"
                     : R"({"direct":false,"no-flush":false})";
}

// The file this volume asks the launcher to create, if any.
absl::Status AddFileToCreate(PlanContext& ctx, const spec::Volume& volume,
                             const ResolvedVolume& rv, const std::string& path) {
  switch (rv.kind) {
    case ResolvedVolume::Kind::kFile:
    case ResolvedVolume::Kind::kBlockDevice:
      return absl::OkStatus();
    case ResolvedVolume::Kind::kOverlay: {
      FileToCreate file;
      file.kind = FileToCreate::Kind::kQcow2Overlay;
      file.path = rv.path;
      file.backing_path = rv.backing_path;
      file.backing_format = rv.backing_format;
      ctx.files.push_back(std::move(file));
      return absl::OkStatus();
    }
    case ResolvedVolume::Kind::kCreate: {
      FileToCreate file;
      file.kind = FileToCreate::Kind::kRawImage;
      file.path = rv.path;
      file.size_bytes = rv.size_bytes;
      ctx.files.push_back(std::move(file));
      return absl::OkStatus();
    }
    case ResolvedVolume::Kind::kIso:
      break;
  }
  if (const auto* ci = std::get_if<spec::CloudInitSource>(&volume.source)) {
    ASSIGN_OR_RETURN(FileToCreate file, CloudInitIsoFile(ctx.vmi, *ci, rv));
    ctx.files.push_back(std::move(file));
    return absl::OkStatus();
  }
  if (const auto* config = std::get_if<spec::ConfigSource>(&volume.source)) {
    // The resolver read the source's files (each key a file, as mounted).
    FileToCreate file;
    file.kind = FileToCreate::Kind::kConfigIso;
    file.path = rv.path;
    file.label = config->volume_label.empty() ? "cfgdata" : config->volume_label;
    file.iso_files = rv.config_files;
    ctx.files.push_back(std::move(file));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": volume \"", volume.name,
      "\" resolved to an ISO but is neither cloud-init nor a config volume"));
}

// Adds the file (and format) nodes named <prefix>-*; returns the node the
// device attaches to.
absl::StatusOr<std::string> AddBlockdevs(PlanContext& ctx,
                                         const std::string& prefix,
                                         const spec::Disk& disk,
                                         const ResolvedVolume& rv,
                                         bool read_only, const CacheMode& cache,
                                         const std::string& path) {
  const bool block = rv.kind == ResolvedVolume::Kind::kBlockDevice;
  std::string aio;
  switch (disk.io) {
    case spec::DiskIo::kNative:
      if (!cache.direct) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".io: Invalid value: \"native\": requires cache \"none\" "
                  "(O_DIRECT); cache is \"",
            CacheName(disk.cache), "\""));
      }
      aio = "native";
      break;
    case spec::DiskIo::kThreads:
      aio = "threads";
      break;
    case spec::DiskIo::kDefault:
      // KubeVirt: native for block devices with cache none, else threads.
      aio = (block && cache.direct) ? "native" : "threads";
      break;
  }
  const bool shared = disk.shareable || rv.shared;

  // Node names, each spelled once: a node's name is also its entry's id
  // and the next node's "file".
  std::string backing_node;
  if (rv.kind == ResolvedVolume::Kind::kOverlay) {
    // The base is opened explicitly and read-only, rather than by the name
    // stored in the overlay: what QEMU opens is decided here.
    const std::string base_file_node = prefix + "-base-file";
    JsonWriter base_file(256);
    base_file.Str("driver", "file")
        .Str("filename", rv.backing_path)
        .Str("node-name", base_file_node)
        .Bool("read-only", true)
        .Str("aio", aio)
        .Raw("cache", CacheObject(cache));
    ctx.AddBlockdev(base_file_node, std::move(base_file), disk.name);
    backing_node = prefix + "-base-fmt";
    JsonWriter base_fmt(192);
    base_fmt.Str("driver", rv.backing_format.empty() ? "raw" : rv.backing_format)
        .Str("file", base_file_node)
        .Str("node-name", backing_node)
        .Bool("read-only", true)
        .Raw("cache", CacheObject(cache));
    ctx.AddBlockdev(backing_node, std::move(base_fmt), disk.name);
  }

  const std::string file_node = prefix + "-file";
  JsonWriter file(256);
  file.Str("driver", block ? "host_device" : "file")
      .Str("filename", rv.path)
      .Str("node-name", file_node)
      .Str("aio", aio)
      .Raw("cache", CacheObject(cache))
      .Bool("read-only", read_only);
  if (!read_only) file.Str("discard", "unmap");
  if (shared) file.Str("locking", "off");
  ctx.AddBlockdev(file_node, std::move(file), disk.name);

  const std::string format =
      rv.kind == ResolvedVolume::Kind::kOverlay ? "qcow2"
      : rv.format.empty()                       ? "raw"
                                                : rv.format;
  if (format != "raw" && format != "qcow2") {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": volume \"", disk.name, "\" has unsupported format \"", format,
        "\": supported values: \"qcow2\", \"raw\""));
  }
  std::string fmt_node = prefix + "-fmt";
  JsonWriter fmt(224);
  fmt.Str("driver", format)
      .Str("file", file_node)
      .Str("node-name", fmt_node)
      .Bool("read-only", read_only)
      .Raw("cache", CacheObject(cache));
  if (!read_only) fmt.Str("discard", "unmap").Str("detect-zeroes", "unmap");
  if (!backing_node.empty()) fmt.Str("backing", backing_node);
  ctx.AddBlockdev(fmt_node, std::move(fmt), disk.name);
  return fmt_node;
}

}  // namespace

absl::Status PlanDisk(PlanContext& ctx, const spec::Disk& disk,
                      const std::string& node_prefix, std::string path,
                      DiskUnits& units) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  const std::string& policy = ctx.vmi.domain.io_threads_policy;
  const bool shared_iothread = policy == "shared" || policy == "auto";
  const int max_sata = ctx.q35 ? 6 : 4;
  const spec::Volume* volume = FindVolume(ctx.vmi, disk.name);
  const bool cdrom = disk.type == spec::Disk::Type::kCdrom;
  const bool lun = disk.type == spec::Disk::Type::kLun;
  if (volume == nullptr && !cdrom) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".name: Not found: \"", disk.name, "\": no volume of that name"));
  }
  const ResolvedVolume* rv = nullptr;
  if (volume != nullptr) {
    auto it = ctx.host.volumes.volumes.find(disk.name);
    if (it == ctx.host.volumes.volumes.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": volume \"", disk.name, "\" was not resolved"));
    }
    rv = &it->second;
    RETURN_IF_ERROR(AddFileToCreate(ctx, *volume, *rv, path));
  }
  const bool read_only =
      disk.readonly || cdrom || (rv != nullptr && rv->read_only);
  CacheMode cache = rv != nullptr ? MapCache(disk.cache, *rv) : CacheMode{};
  std::string node;
  if (rv != nullptr) {
    ASSIGN_OR_RETURN(node, AddBlockdevs(ctx, node_prefix, disk, *rv, read_only, cache,
                                        path));
  }
  const std::string id = "ua-" + disk.name;

  JsonObject dev;
  switch (disk.bus) {
    case spec::DiskBus::kVirtio: {
      if (cdrom || lun) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".bus: Unsupported value: \"virtio\": a ",
            TypeName(disk.type), " needs bus \"sata\", \"scsi\" or "
                                       "\"usb\""));
      }
      dev.Str("driver", devices.use_virtio_transitional
                            ? "virtio-blk-pci-transitional"
                            : "virtio-blk-pci");
      dev.Str("id", id).Str("drive", node);
      if (!disk.serial.empty()) dev.Str("serial", disk.serial);
      if (disk.boot_order) dev.Int("bootindex", *disk.boot_order);
      if (devices.block_multi_queue) dev.Int("num-queues", ctx.vcpus);
      std::string iothread;
      if (disk.dedicated_io_thread) {
        iothread = "iothread-" + node_prefix;
        JsonObject obj;
        obj.Str("qom-type", "iothread").Str("id", iothread);
        ctx.AddObject(iothread, std::move(obj), LazyPath(path, ".", "dedicatedIOThread"));
      } else if (shared_iothread) {
        iothread = "iothread0";
        if (!units.shared_iothread_added) {
          JsonObject obj;
          obj.Str("qom-type", "iothread").Str("id", iothread);
          ctx.AddObject(iothread, std::move(obj), ctx.Field("domain.ioThreadsPolicy"));
          units.shared_iothread_added = true;
        }
      }
      if (!iothread.empty()) dev.Str("iothread", iothread);
      if (!cache.write_cache && !read_only) dev.Str("write-cache", "off");
      if (disk.shareable) dev.Bool("share-rw", true);
      auto [pci, request] = ctx.AddPciDevice(std::move(dev), id, std::move(path));
      pci.volume = disk.name;
      request.fixed_address = disk.pci_address;
      return absl::OkStatus();
    }
    case spec::DiskBus::kSata: {
      if (lun) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".bus: Unsupported value: \"sata\": a lun needs bus "
                  "\"scsi\""));
      }
      if (units.sata_units == max_sata) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".bus: Too many: ", max_sata + 1, ": the ",
            ctx.q35 ? "q35 AHCI controller" : "pc IDE controller",
            " has ", max_sata, " units"));
      }
      // q35's built-in AHCI has one unit per bus (ide.0..ide.5); the
      // PIIX IDE of pc has two units on each of ide.0 and ide.1.
      std::string bus = ctx.q35 ? absl::StrCat("ide.", units.sata_units)
                                : absl::StrCat("ide.", units.sata_units / 2);
      dev.Str("driver", cdrom ? "ide-cd" : "ide-hd").Str("bus", bus);
      if (!ctx.q35) dev.Int("unit", units.sata_units % 2);
      ++units.sata_units;
      if (!node.empty()) dev.Str("drive", node);
      dev.Str("id", id);
      if (!disk.serial.empty()) dev.Str("serial", disk.serial);
      if (disk.boot_order) dev.Int("bootindex", *disk.boot_order);
      if (!cache.write_cache && !node.empty() && !read_only) {
        dev.Str("write-cache", "off");
      }
      if (disk.shareable) dev.Bool("share-rw", true);
      ctx.AddBusDevice(std::move(dev), bus, disk.name, path);
      return absl::OkStatus();
    }
    case spec::DiskBus::kScsi: {
      ctx.need_scsi = true;
      std::string driver = "scsi-hd";
      if (cdrom) driver = "scsi-cd";
      // A lun passes SCSI commands through, which only a host block
      // device can take; on a file it degrades to an emulated disk.
      if (lun && rv != nullptr &&
          rv->kind == ResolvedVolume::Kind::kBlockDevice) {
        driver = "scsi-block";
      }
      dev.Str("driver", driver)
          .Str("bus", "scsi0.0")
          .Int("channel", 0)
          .Int("scsi-id", 0)
          .Int("lun", units.scsi_luns++);
      if (!node.empty()) dev.Str("drive", node);
      dev.Str("id", id);
      if (driver != "scsi-block") {
        if (!disk.serial.empty()) dev.Str("serial", disk.serial);
        if (!cache.write_cache && !node.empty() && !read_only) {
          dev.Str("write-cache", "off");
        }
      }
      if (disk.boot_order) dev.Int("bootindex", *disk.boot_order);
      if (disk.shareable) dev.Bool("share-rw", true);
      ctx.AddBusDevice(std::move(dev), "scsi0.0", disk.name, path);
      if (disk.dedicated_io_thread || shared_iothread) {
        ctx.scsi_iothread = "iothread-scsi0";
      }
      return absl::OkStatus();
    }
    case spec::DiskBus::kUsb: {
      if (node.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": a usb cdrom needs a volume (usb-storage cannot be "
                  "empty)"));
      }
      if (lun) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ".bus: Unsupported value: \"usb\": a lun needs bus "
                  "\"scsi\""));
      }
      ctx.need_xhci = true;
      dev.Str("driver", "usb-storage")
          .Str("bus", "usb.0")
          .Str("drive", node)
          .Str("id", id);
      if (!disk.serial.empty()) dev.Str("serial", disk.serial);
      if (disk.boot_order) dev.Int("bootindex", *disk.boot_order);
      if (cdrom) dev.Bool("removable", true);
      if (!cache.write_cache && !read_only) dev.Str("write-cache", "off");
      ctx.AddBusDevice(std::move(dev), "usb.0", disk.name, path);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::Status PlanDisks(PlanContext& ctx) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  DiskUnits units;
  for (size_t i = 0; i < devices.disks.size(); ++i) {
    // Node names derive from the index: QEMU caps them at 31 characters and
    // spec names may be 63.
    RETURN_IF_ERROR(PlanDisk(
        ctx, devices.disks[i], absl::StrCat("disk", i),
        ctx.Path("domain.devices.disks", i), units));
  }
  return absl::OkStatus();
}

}  // namespace qdirect::plan
