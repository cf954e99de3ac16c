// VirtualMachineInstanceSpec fields, as KubeVirt's pkg/apis/core/v1
// types.go and schema.go spell them.
//
// Three kinds of members besides the decoded ones:
//  - Forbid: KubeVirt has them, qdirect cannot honour them yet. An error,
//    never dropped silently.
//  - Ignore: Kubernetes scheduling and pod-level fields (affinity,
//    tolerations, probes, dnsConfig, ...) that mean nothing without a
//    cluster scheduler. Accepted with no warning, so a manifest written for
//    a cluster runs unchanged.
//  - anything else: an unknown-field warning (an error when strict).

#include "spec/decode_spec.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace qdirect::spec {
namespace {


// Reports value as unsupported among the options.
void Unsupported(Findings* f, std::string path, std::string value,
                 std::initializer_list<std::string_view> options) {
  FieldError e;
  e.type = FieldError::Type::kUnsupported;
  e.path = std::move(path);
  e.value = std::move(value);
  std::vector<std::string> quoted;
  for (std::string_view o : options) quoted.push_back("\"" + std::string(o) + "\"");
  e.detail = absl::StrCat("supported values: ", absl::StrJoin(quoted, ", "));
  f->Error(std::move(e));
}

// A FeatureState-like object, parent's member key (value v): {enabled:
// bool}, present means enabled.
FeatureState DecodeFeatureState(ObjectReader& parent, const Node* v, std::string_view key) {
  ObjectReader r(parent, v, key);
  FeatureState s;
  r.Bool("enabled", &s.enabled);
  return s;
}

// Inline: most features asked for are absent, and a literal key's
// presence check folds (ObjectReader::Field).
[[gnu::always_inline]] inline std::optional<FeatureState> OptionalFeature(ObjectReader& parent,
                                                                          std::string_view key) {
  const Node* v = parent.Field(key);
  if (v == nullptr) return std::nullopt;
  return DecodeFeatureState(parent, v, key);
}

void DecodeResources(ObjectReader& r, ResourceRequirements* out) {
  // Views, not a braced list of literals: that is a list of const char*,
  // each measured by strlen at run time.
  static constexpr std::string_view kLists[] = {"requests", "limits"};
  for (std::string_view key : kLists) {
    const Node* v = r.Field(key);
    ObjectReader list(r, v, key);
    if (!list.present()) continue;
    auto* target = key == "requests" ? &out->requests : &out->limits;
    for (const Node& m : *v) {
      std::string name(m.key());
      Quantity q;
      if (list.Quantity(name, &q)) target->insert_or_assign(std::move(name), std::move(q));
    }
  }
  r.Bool("overcommitGuestOverhead", &out->overcommit_guest_overhead);
}

void DecodeCpu(ObjectReader& r, Cpu* cpu) {
  r.Uint32("cores", &cpu->cores);
  r.Uint32("sockets", &cpu->sockets);
  r.Uint32("threads", &cpu->threads);
  r.Uint32("maxSockets", &cpu->max_sockets);
  r.String("model", &cpu->model);
  r.Bool("dedicatedCpuPlacement", &cpu->dedicated_cpu_placement);
  r.Bool("isolateEmulatorThread", &cpu->isolate_emulator_thread);
  r.Forbid("numa", "realtime");
  if (const Node* features = r.Array("features")) {
    for (size_t i = 0; i < features->Size(); ++i) {
      ObjectReader fr(r, &(*features)[i], "features", i);
      CpuFeature f;
      fr.String("name", &f.name);
      fr.String("policy", &f.policy);
      cpu->features.push_back(std::move(f));
    }
  }
}

void DecodeMemory(ObjectReader& r, Memory* mem) {
  Quantity q;
  if (r.Quantity("guest", &q)) mem->guest = std::move(q);
  if (r.Quantity("maxGuest", &q)) mem->max_guest = std::move(q);
  ObjectReader hp(r, r.Field("hugepages"), "hugepages");
  if (hp.present()) {
    hp.String("pageSize", &mem->hugepages.emplace().page_size);
  }
}

void DecodeFirmware(ObjectReader& r, Firmware* fw) {
  r.String("uuid", &fw->uuid);
  r.String("serial", &fw->serial);
  r.Forbid("acpi");
  ObjectReader bl(r, r.Field("bootloader"), "bootloader");
  if (bl.present()) {
    bool has_bios = bl.Field("bios") != nullptr;
    bool has_efi = bl.Field("efi") != nullptr;
    if (has_bios && has_efi) {
      r.findings()->Forbidden(bl.path(), "only one of bios and efi may be set");
    }
    if (has_efi) {
      ObjectReader er(bl, bl.Field("efi"), "efi");
      Efi efi;
      er.Bool("secureBoot", &efi.secure_boot);
      er.Bool("persistent", &efi.persistent);
      fw->bootloader = efi;
    } else if (has_bios) {
      ObjectReader br(bl, bl.Field("bios"), "bios");
      Bios bios;
      br.Bool("useSerial", &bios.use_serial);
      fw->bootloader = bios;
    }
  }
  ObjectReader kb(r, r.Field("kernelBoot"), "kernelBoot");
  if (kb.present()) {
    KernelBoot k;
    kb.String("kernelArgs", &k.kernel_args);
    ObjectReader c(kb, kb.Field("container"), "container");
    if (c.present()) {
      KernelBootContainer kc;
      c.String("image", &kc.image);
      c.String("kernelPath", &kc.kernel_path);
      c.String("initrdPath", &kc.initrd_path);
      c.String("imagePullPolicy", &kc.image_pull_policy);
      c.Ignore("imagePullSecret");
      k.container = std::move(kc);
    }
    fw->kernel_boot = std::move(k);
  }
}

void DecodeHyperv(ObjectReader& r, Hyperv* h) {
  h->relaxed = OptionalFeature(r, "relaxed");
  h->vapic = OptionalFeature(r, "vapic");
  h->vpindex = OptionalFeature(r, "vpindex");
  h->runtime = OptionalFeature(r, "runtime");
  h->synic = OptionalFeature(r, "synic");
  h->reset = OptionalFeature(r, "reset");
  h->frequencies = OptionalFeature(r, "frequencies");
  h->reenlightenment = OptionalFeature(r, "reenlightenment");
  h->tlbflush = OptionalFeature(r, "tlbflush");
  h->ipi = OptionalFeature(r, "ipi");
  h->evmcs = OptionalFeature(r, "evmcs");
  if (const Node* v = r.Field("spinlocks")) {
    ObjectReader s(r, v, "spinlocks");
    FeatureSpinlocks f;
    s.Bool("enabled", &f.enabled);
    s.Uint32("spinlocks", &f.spinlocks);
    h->spinlocks = f;
  }
  if (const Node* v = r.Field("vendorid")) {
    ObjectReader s(r, v, "vendorid");
    FeatureVendorId f;
    s.Bool("enabled", &f.enabled);
    s.String("vendorid", &f.vendor_id);
    h->vendorid = std::move(f);
  }
  if (const Node* v = r.Field("synictimer")) {
    ObjectReader s(r, v, "synictimer");
    SyNicTimer t;
    s.Bool("enabled", &t.enabled);
    t.direct = OptionalFeature(s, "direct");
    h->synictimer = std::move(t);
  }
}

void DecodeFeatures(ObjectReader& r, Features* f) {
  if (const Node* v = r.Field("acpi")) f->acpi = DecodeFeatureState(r, v, "acpi");
  if (const Node* v = r.Field("apic")) {
    ObjectReader a(r, v, "apic");
    FeatureState s;
    a.Bool("enabled", &s.enabled);
    a.Forbid("endOfInterrupt");
    f->apic = s;
  }
  f->smm = OptionalFeature(r, "smm");
  f->pvspinlock = OptionalFeature(r, "pvspinlock");
  if (const Node* v = r.Field("kvm")) {
    ObjectReader k(r, v, "kvm");
    bool hidden = false;
    if (k.Bool("hidden", &hidden)) f->kvm_hidden = FeatureState{hidden};
  }
  if (const Node* v = r.Field("hyperv")) {
    ObjectReader h(r, v, "hyperv");
    DecodeHyperv(h, &f->hyperv.emplace());
  }
  r.Forbid("hypervPassthrough");
}

std::optional<Timer> DecodeTimer(ObjectReader& timers, std::string_view key, bool policy,
                                 bool track) {
  const Node* v = timers.Field(key);
  if (v == nullptr) return std::nullopt;
  ObjectReader t(timers, v, key);
  Timer timer;
  t.Bool("present", &timer.present);
  if (policy) t.String("tickPolicy", &timer.tick_policy);
  if (track) t.String("track", &timer.track);
  return timer;
}

void DecodeClock(ObjectReader& r, Clock* c) {
  const Node* utc = r.Field("utc");
  const bool has_utc = utc != nullptr;
  bool has_tz = r.String("timezone", &c->timezone);
  if (has_utc && has_tz) {
    r.findings()->Forbidden(r.path(), "only one of utc and timezone may be set");
  }
  if (has_utc) {
    ObjectReader u(r, utc, "utc");
    int64_t offset = 0;
    if (u.Int64("offsetSeconds", &offset)) {
      if (offset < INT32_MIN || offset > INT32_MAX) {
        r.findings()->Invalid(u.PathOf("offsetSeconds"), std::to_string(offset),
                              "must fit in a 32-bit integer");
      } else {
        c->utc_offset_seconds = static_cast<int32_t>(offset);
      }
    }
  }
  ObjectReader t(r, r.Field("timer"), "timer");
  if (t.present()) {
    c->hpet = DecodeTimer(t, "hpet", true, false);
    c->kvm = DecodeTimer(t, "kvm", false, false);
    c->pit = DecodeTimer(t, "pit", true, false);
    c->rtc = DecodeTimer(t, "rtc", true, true);
    c->hyperv = DecodeTimer(t, "hyperv", false, false);
  }
}

// Reports an unknown bus at disk's "bus", spelled only then.
bool ParseBus(Findings* f, const ObjectReader& disk, const std::string& text, DiskBus* bus) {
  static constexpr std::pair<std::string_view, DiskBus> kBuses[] = {
      {"virtio", DiskBus::kVirtio}, {"sata", DiskBus::kSata},
      {"scsi", DiskBus::kScsi},     {"usb", DiskBus::kUsb}};
  for (const auto& [name, value] : kBuses) {
    if (text == name) {
      *bus = value;
      return true;
    }
  }
  Unsupported(f, disk.PathOf("bus"), text, {"sata", "scsi", "usb", "virtio"});
  return false;
}

// The cache mode text names, into *c; false (c untouched) for an unknown one.
bool ParseCache(std::string_view text, DiskCache* c) {
  if (text == "none") {
    *c = DiskCache::kNone;
  } else if (text == "writethrough") {
    *c = DiskCache::kWriteThrough;
  } else if (text == "writeback") {
    *c = DiskCache::kWriteBack;
  } else {
    return false;
  }
  return true;
}

void UnsupportedCache(Findings* f, std::string path, std::string text) {
  Unsupported(f, std::move(path), std::move(text), {"none", "writeback", "writethrough"});
}

bool ParseIo(std::string_view text, DiskIo* io) {
  if (text == "native") {
    *io = DiskIo::kNative;
  } else if (text == "threads") {
    *io = DiskIo::kThreads;
  } else {
    return false;
  }
  return true;
}

void UnsupportedIo(Findings* f, std::string path, std::string text) {
  Unsupported(f, std::move(path), std::move(text), {"native", "threads"});
}

void DecodeDisk(ObjectReader& r, Disk* d) {
  Findings* f = r.findings();
  r.String("name", &d->name);
  r.Uint32("bootOrder", &d->boot_order);
  r.String("serial", &d->serial);
  r.Bool("dedicatedIOThread", &d->dedicated_io_thread);
  r.Bool("shareable", &d->shareable);
  r.String("tag", &d->tag);
  std::string text;
  bool cache_set = false, io_set = false;
  if (r.String("cache", &text)) {
    if (!ParseCache(text, &d->cache)) UnsupportedCache(f, r.PathOf("cache"), text);
    cache_set = true;
  }
  if (r.String("io", &text)) {
    if (!ParseIo(text, &d->io)) UnsupportedIo(f, r.PathOf("io"), text);
    io_set = true;
  }
  r.Forbid("floppy", "blockSize", "errorPolicy");

  static constexpr std::pair<std::string_view, Disk::Type> kTargets[] = {
      {"disk", Disk::Type::kDisk}, {"cdrom", Disk::Type::kCdrom}, {"lun", Disk::Type::kLun}};
  int targets = 0;
  for (const auto& [key, type] : kTargets) {
    const Node* v = r.Field(key);
    if (v == nullptr) continue;
    if (++targets > 1) {
      f->Forbidden(r.PathOf(key), "a disk can only have a single target type defined");
      continue;
    }
    d->type = type;
    ObjectReader t(r, v, key);
    // KubeVirt's defaults: virtio disks, sata cdroms (read-only), scsi luns.
    d->bus = type == Disk::Type::kDisk    ? DiskBus::kVirtio
             : type == Disk::Type::kCdrom ? DiskBus::kSata
                                          : DiskBus::kScsi;
    d->readonly = type == Disk::Type::kCdrom;
    // The bus is reported at disks[i].bus, the path the project's contract
    // (and the issue) names, though YAML nests it under the target.
    if (t.String("bus", &text)) {
      size_t before = f->errors.size();
      ParseBus(f, r, text, &d->bus);
      if (f->errors.size() > before) Findings::PlaceAt(&f->errors.back(), t.PositionOf("bus"));
    }
    t.Bool("readonly", &d->readonly);
    if (type == Disk::Type::kDisk) t.String("pciAddress", &d->pci_address);
    if (type == Disk::Type::kCdrom && t.String("tray", &text) && text != "closed") {
      // An open tray is an empty drive: qdirect always inserts the medium.
      f->Forbidden(t.PathOf("tray"), "only \"closed\" is supported by qdirect yet");
    }
    if (type == Disk::Type::kLun) t.Forbid("reservation");
    // The seed manifests put cache/io inside the target; KubeVirt has them
    // on the disk. Apply them (unless set in the right place) and say so.
    std::string disk_path;
    static constexpr std::string_view kMisplaced[] = {"cache", "io"};
    for (std::string_view misplaced : kMisplaced) {
      if (!t.String(misplaced, &text)) continue;
      const bool cache = misplaced == "cache";
      // False only for a value applied and unknown: an error.
      const bool known = (cache ? cache_set : io_set) ||
                         (cache ? ParseCache(text, &d->cache) : ParseIo(text, &d->io));
      if (known && !f->reports_warnings()) continue;
      // Both paths of a finding extend the disk's, spelled once.
      if (disk_path.empty()) disk_path = r.path();
      std::string path =
          absl::StrCat(disk_path, ".", std::string(key), ".", std::string(misplaced));
      if (f->reports_warnings()) {
        FieldError w;
        w.type = FieldError::Type::kUnknown;
        w.path = known ? std::move(path) : path;
        w.detail = absl::StrCat("misplaced field: KubeVirt expects ", disk_path, ".",
                                std::string(misplaced));
        Findings::PlaceAt(&w, t.PositionOf(misplaced));
        f->Warn(std::move(w));
      }
      if (known) continue;
      if (cache) {
        UnsupportedCache(f, std::move(path), text);
      } else {
        UnsupportedIo(f, std::move(path), text);
      }
    }
  }
  if (targets == 0) d->type = Disk::Type::kDisk;  // KubeVirt: no target is a disk
}

void DecodeInterface(ObjectReader& r, Interface* iface) {
  Findings* f = r.findings();
  r.String("name", &iface->name);
  r.String("model", &iface->model);
  r.String("macAddress", &iface->mac_address);
  r.String("pciAddress", &iface->pci_address);
  r.Uint32("bootOrder", &iface->boot_order);
  r.String("state", &iface->state);
  r.String("tag", &iface->tag);
  r.Forbid("dhcpOptions", "acpiIndex");
  static constexpr std::pair<std::string_view, Interface::Binding> kBindings[] = {
      {"bridge", Interface::Binding::kBridge},   {"masquerade", Interface::Binding::kMasquerade},
      {"passt", Interface::Binding::kPasst},     {"sriov", Interface::Binding::kSriov},
      {"slirp", Interface::Binding::kSlirp},     {"macvtap", Interface::Binding::kMacvtap}};
  int bindings = 0;
  for (const auto& [key, binding] : kBindings) {
    const Node* v = r.Field(key);
    if (v == nullptr) continue;
    if (++bindings > 1) {
      f->Forbidden(r.PathOf(key), "an interface can only have one binding");
      continue;
    }
    iface->binding = binding;
    // The core bindings are empty objects.
    ObjectReader b(r, v, key);
  }
  if (const Node* v = r.Field("binding")) {
    ObjectReader b(r, v, "binding");
    std::string name;
    if (++bindings > 1) {
      f->Forbidden(r.PathOf("binding"), "an interface can only have one binding");
    } else if (b.String("name", &name)) {
      if (name == "passt") {
        iface->binding = Interface::Binding::kPasst;
      } else if (name == "macvtap") {
        iface->binding = Interface::Binding::kMacvtap;
      } else if (name == "slirp") {
        iface->binding = Interface::Binding::kSlirp;
      } else {
        Unsupported(f, b.PathOf("name"), name, {"macvtap", "passt", "slirp"});
      }
    } else if (b.present()) {
      FieldError e;
      e.type = FieldError::Type::kRequired;
      e.path = b.PathOf("name");
      f->Error(std::move(e));
    }
  }
  if (const Node* ports = r.Array("ports")) {
    for (size_t i = 0; i < ports->Size(); ++i) {
      ObjectReader p(r, &(*ports)[i], "ports", i);
      Port port;
      p.String("name", &port.name);
      p.String("protocol", &port.protocol);
      int64_t number = 0;
      if (p.Int64("port", &number)) {
        if (number < 0 || number > UINT32_MAX) {
          f->Invalid(p.PathOf("port"), std::to_string(number),
                     "must be between 1 and 65535, inclusive");
        } else {
          port.port = static_cast<uint32_t>(number);
        }
      }
      iface->ports.push_back(std::move(port));
    }
  }
}

void DecodeDevices(ObjectReader& r, const DecodeLimits& limits, Devices* d) {
  Findings* f = r.findings();
  auto too_many = [&](std::string_view key, size_t n, size_t max) {
    if (n <= max) return false;
    FieldError e;
    e.type = FieldError::Type::kTooMany;
    e.path = r.PathOf(key);
    e.value = std::to_string(n);
    e.detail = absl::StrCat("must have at most ", max, " items");
    f->Error(std::move(e));
    return true;
  };
  if (const Node* disks = r.Array("disks"); disks && !too_many("disks", disks->Size(), limits.max_disks)) {
    d->disks.reserve(disks->Size());
    for (size_t i = 0; i < disks->Size(); ++i) {
      // Decoded in place, as are the other lists' items: no moves.
      ObjectReader dr(r, &(*disks)[i], "disks", i);
      DecodeDisk(dr, &d->disks.emplace_back());
    }
  }
  if (const Node* ifaces = r.Array("interfaces");
      ifaces && !too_many("interfaces", ifaces->Size(), limits.max_interfaces)) {
    d->interfaces.reserve(ifaces->Size());
    for (size_t i = 0; i < ifaces->Size(); ++i) {
      ObjectReader ir(r, &(*ifaces)[i], "interfaces", i);
      DecodeInterface(ir, &d->interfaces.emplace_back());
    }
  }
  const Node* gpus = r.Array("gpus");
  const Node* host_devices = r.Array("hostDevices");
  size_t host_count = (gpus ? gpus->Size() : 0) + (host_devices ? host_devices->Size() : 0);
  if (!too_many(gpus ? "gpus" : "hostDevices", host_count, limits.max_host_devices)) {
    for (size_t i = 0; gpus && i < gpus->Size(); ++i) {
      ObjectReader g(r, &(*gpus)[i], "gpus", i);
      Gpu gpu;
      g.String("name", &gpu.name);
      g.String("deviceName", &gpu.device_name);
      g.String("tag", &gpu.tag);
      ObjectReader opts(g, g.Field("virtualGPUOptions"), "virtualGPUOptions");
      ObjectReader disp(opts, opts.Field("display"), "display");
      if (disp.present()) {
        VgpuDisplay display;
        disp.Bool("enabled", &display.enabled);
        ObjectReader ramfb(disp, disp.Field("ramFB"), "ramFB");
        ramfb.Bool("enabled", &display.ramfb);
        gpu.display = display;
      }
      d->gpus.push_back(std::move(gpu));
    }
    for (size_t i = 0; host_devices && i < host_devices->Size(); ++i) {
      ObjectReader h(r, &(*host_devices)[i], "hostDevices", i);
      HostDevice dev;
      h.String("name", &dev.name);
      h.String("deviceName", &dev.device_name);
      h.String("tag", &dev.tag);
      d->host_devices.push_back(std::move(dev));
    }
  }
  if (const Node* inputs = r.Array("inputs")) {
    for (size_t i = 0; i < inputs->Size() && i < limits.max_disks; ++i) {
      ObjectReader in(r, &(*inputs)[i], "inputs", i);
      Input input;
      in.String("name", &input.name);
      in.String("type", &input.type);
      in.String("bus", &input.bus);
      d->inputs.push_back(std::move(input));
    }
  }
  if (const Node* v = r.Field("watchdog")) {
    ObjectReader w(r, v, "watchdog");
    Watchdog wd;
    w.String("name", &wd.name);
    ObjectReader i6300(w, w.Field("i6300esb"), "i6300esb");
    i6300.String("action", &wd.action);
    w.Forbid("diag288");
    d->watchdog = std::move(wd);
  }
  if (const Node* v = r.Field("rng")) {
    ObjectReader rng(r, v, "rng");
    d->rng = true;
  }
  r.Bool("autoattachSerialConsole", &d->autoattach_serial_console);
  r.Bool("autoattachGraphicsDevice", &d->autoattach_graphics_device);
  r.Bool("autoattachMemBalloon", &d->autoattach_mem_balloon);
  r.Bool("autoattachPodInterface", &d->autoattach_pod_interface);
  r.Bool("blockMultiQueue", &d->block_multi_queue);
  r.Bool("networkInterfaceMultiqueue", &d->network_interface_multiqueue);
  r.Bool("useVirtioTransitional", &d->use_virtio_transitional);
  // Defaults that match what qdirect does anyway.
  r.Ignore("autoattachInputDevice", "disableHotplug", "logSerialConsole");
  r.Forbid("filesystems", "tpm", "sound", "clientPassthrough", "autoattachVSOCK",
           "downwardMetrics", "video", "panicDevices");
}

void DecodeDomain(ObjectReader& r, const DecodeLimits& limits, Domain* d) {
  {
    ObjectReader res(r, r.Field("resources"), "resources");
    if (res.present()) DecodeResources(res, &d->resources);
  }
  {
    ObjectReader cpu(r, r.Field("cpu"), "cpu");
    // Unset counts stay 0 so the defaults can tell them from explicit 1s.
    d->cpu.cores = d->cpu.sockets = d->cpu.threads = 0;
    if (cpu.present()) DecodeCpu(cpu, &d->cpu);
  }
  {
    ObjectReader mem(r, r.Field("memory"), "memory");
    if (mem.present()) DecodeMemory(mem, &d->memory);
  }
  {
    ObjectReader machine(r, r.Field("machine"), "machine");
    machine.String("type", &d->machine.type);
  }
  {
    ObjectReader fw(r, r.Field("firmware"), "firmware");
    if (fw.present()) DecodeFirmware(fw, &d->firmware);
  }
  {
    ObjectReader feat(r, r.Field("features"), "features");
    if (feat.present()) DecodeFeatures(feat, &d->features);
  }
  {
    ObjectReader clock(r, r.Field("clock"), "clock");
    if (clock.present()) DecodeClock(clock, &d->clock);
  }
  {
    ObjectReader dev(r, r.Field("devices"), "devices");
    if (dev.present()) DecodeDevices(dev, limits, &d->devices);
  }
  r.String("ioThreadsPolicy", &d->io_threads_policy);
  r.Forbid("chassis", "launchSecurity", "ioThreads");
}

// Reads the user or network data of a cloud-init source: inline text,
// base64 text or a secret reference.
void DecodeCloudInitData(ObjectReader& r, std::string_view plain_key,
                         std::string_view base64_key, std::string_view secret_key,
                         std::string* data, std::string* secret, int* sources) {
  Findings* f = r.findings();
  if (r.String(plain_key, data)) ++*sources;
  std::string encoded;
  if (r.String(base64_key, &encoded)) {
    ++*sources;
    if (!absl::Base64Unescape(encoded, data)) {
      f->Invalid(r.PathOf(base64_key), encoded.size() > 64 ? encoded.substr(0, 64) + "..." : encoded,
                 "must be valid base64");
    }
  }
  if (const Node* v = r.Field(secret_key)) {
    ++*sources;
    ObjectReader s(r, v, secret_key);
    s.String("name", secret);
  }
}

// Reads volume r's source `key` (value v), in place in *out.
bool DecodeVolumeSource(ObjectReader& r, const Node* v, std::string_view key, VolumeSource* out) {
  Findings* f = r.findings();
  ObjectReader s(r, v, key);
  if (key == "containerDisk") {
    ContainerDiskSource& c = out->emplace<ContainerDiskSource>();
    s.String("image", &c.image);
    s.String("path", &c.path);
    s.String("imagePullPolicy", &c.image_pull_policy);
    s.Ignore("imagePullSecret");
  } else if (key == "persistentVolumeClaim") {
    PersistentVolumeClaimSource& c = out->emplace<PersistentVolumeClaimSource>();
    s.String("claimName", &c.claim_name);
    s.Bool("readOnly", &c.read_only);
    s.Bool("hotpluggable", &c.hotpluggable);
  } else if (key == "dataVolume") {
    DataVolumeSource& c = out->emplace<DataVolumeSource>();
    s.String("name", &c.name);
    s.Bool("hotpluggable", &c.hotpluggable);
  } else if (key == "hostDisk") {
    HostDiskSource& c = out->emplace<HostDiskSource>();
    s.String("path", &c.path);
    s.String("type", &c.type);
    Quantity q;
    if (s.Quantity("capacity", &q)) c.capacity = std::move(q);
    s.Bool("shared", &c.shared);
  } else if (key == "emptyDisk") {
    EmptyDiskSource& c = out->emplace<EmptyDiskSource>();
    if (!s.Quantity("capacity", &c.capacity)) {
      if (s.Field("capacity") == nullptr) {
        FieldError e;
        e.type = FieldError::Type::kRequired;
        e.path = s.PathOf("capacity");
        f->Error(std::move(e));
      }
    }
  } else if (key == "ephemeral") {
    EphemeralSource& c = out->emplace<EphemeralSource>();
    ObjectReader pvc(s, s.Field("persistentVolumeClaim"), "persistentVolumeClaim");
    pvc.String("claimName", &c.persistent_volume_claim.claim_name);
    pvc.Bool("readOnly", &c.persistent_volume_claim.read_only);
  } else if (key == "cloudInitNoCloud" || key == "cloudInitConfigDrive") {
    CloudInitSource& c = out->emplace<CloudInitSource>();
    c.flavor = key == "cloudInitNoCloud" ? CloudInitSource::Flavor::kNoCloud
                                         : CloudInitSource::Flavor::kConfigDrive;
    int user_sources = 0, network_sources = 0;
    DecodeCloudInitData(s, "userData", "userDataBase64", "secretRef", &c.user_data,
                        &c.user_data_secret_ref, &user_sources);
    DecodeCloudInitData(s, "networkData", "networkDataBase64", "networkDataSecretRef",
                        &c.network_data, &c.network_data_secret_ref, &network_sources);
    if (user_sources > 1) {
      f->Forbidden(s.path(), "must have only one userdata source set");
    }
    if (network_sources > 1) {
      f->Forbidden(s.path(), "must have only one networkdata source set");
    }
    if (user_sources + network_sources == 0 && s.present()) {
      FieldError e;
      e.type = FieldError::Type::kRequired;
      e.path = s.path();
      e.detail = "must have at least one userdata or networkdata source set";
      f->Error(std::move(e));
    }
  } else {
    ConfigSource& c = out->emplace<ConfigSource>();
    if (key == "configMap") {
      c.kind = ConfigSource::Kind::kConfigMap;
      s.String("name", &c.name);
    } else if (key == "secret") {
      c.kind = ConfigSource::Kind::kSecret;
      s.String("secretName", &c.name);
    } else if (key == "serviceAccount") {
      c.kind = ConfigSource::Kind::kServiceAccount;
      s.String("serviceAccountName", &c.name);
    } else {
      c.kind = ConfigSource::Kind::kDownwardApi;
      s.Forbid("fields");
    }
    s.String("volumeLabel", &c.volume_label);
    s.Bool("optional", &c.optional);
  }
  return true;
}

void DecodeVolume(ObjectReader& r, Volume* v) {
  Findings* f = r.findings();
  r.String("name", &v->name);
  static constexpr std::string_view kSources[] = {
      "containerDisk", "persistentVolumeClaim", "dataVolume", "hostDisk",
      "emptyDisk",     "ephemeral",             "cloudInitNoCloud", "cloudInitConfigDrive",
      "configMap",     "secret",                "serviceAccount",   "downwardAPI"};
  r.Forbid("sysprep", "memoryDump", "downwardMetrics");
  int sources = 0;
  for (std::string_view key : kSources) {
    const Node* value = r.Field(key);
    if (value == nullptr) continue;
    if (++sources > 1) {
      f->Forbidden(r.PathOf(key), "may not specify more than 1 volume type");
      continue;
    }
    DecodeVolumeSource(r, value, key, &v->source);
  }
  if (sources == 0 && r.present()) {
    bool unsupported = false;
    for (std::string_view key : {"sysprep", "memoryDump", "downwardMetrics"}) {
      unsupported |= r.Field(key) != nullptr;
    }
    if (!unsupported) {
      FieldError e;
      e.type = FieldError::Type::kRequired;
      e.path = r.path();
      e.detail = "must specify a volume type";
      f->Error(std::move(e));
    }
  }
}

void DecodeNetwork(ObjectReader& r, Network* n) {
  Findings* f = r.findings();
  r.String("name", &n->name);
  const Node* pod_value = r.Field("pod");
  const Node* multus_value = r.Field("multus");
  const bool pod = pod_value != nullptr;
  const bool multus = multus_value != nullptr;
  if (pod && multus) {
    f->Forbidden(r.PathOf("multus"), "should have only one network type");
  }
  if (multus) {
    ObjectReader m(r, multus_value, "multus");
    MultusNetwork& net = n->source.emplace<MultusNetwork>();
    m.String("networkName", &net.network_name);
    m.Bool("default", &net.is_default);
  } else if (pod) {
    ObjectReader p(r, pod_value, "pod");
    PodNetwork& net = n->source.emplace<PodNetwork>();
    p.String("vmNetworkCIDR", &net.vm_network_cidr);
    p.String("vmIPv6NetworkCIDR", &net.vm_ipv6_network_cidr);
  } else if (r.present()) {
    FieldError e;
    e.type = FieldError::Type::kRequired;
    e.path = r.path();
    e.detail = "should have a network type";
    f->Error(std::move(e));
  }
}

}  // namespace

void DecodeObjectMeta(ObjectReader& r, ObjectMeta* meta) {
  r.String("name", &meta->name);
  r.String("namespace", &meta->namespace_);
  r.StringMap("labels", &meta->labels);
  r.StringMap("annotations", &meta->annotations);
  r.String("uid", &meta->uid);
  // Set by the API server or by clients; meaningless here.
  r.Ignore("generateName", "creationTimestamp", "resourceVersion", "generation",
           "ownerReferences", "finalizers", "managedFields", "selfLink",
           "deletionTimestamp", "deletionGracePeriodSeconds");
}

void DecodeVmiSpec(ObjectReader& r, const DecodeLimits& limits, Vmi* vmi) {
  Findings* f = r.findings();
  {
    ObjectReader domain(r, r.Field("domain"), "domain");
    if (!domain.present()) {
      FieldError e;
      e.type = FieldError::Type::kRequired;
      e.path = r.PathOf("domain");
      f->Error(std::move(e));
    }
    DecodeDomain(domain, limits, &vmi->domain);
  }
  if (const Node* volumes = r.Array("volumes")) {
    if (volumes->Size() > limits.max_volumes) {
      FieldError e;
      e.type = FieldError::Type::kTooMany;
      e.path = r.PathOf("volumes");
      e.value = std::to_string(volumes->Size());
      e.detail = absl::StrCat("must have at most ", limits.max_volumes, " items");
      f->Error(std::move(e));
    } else {
      vmi->volumes.reserve(volumes->Size());
      for (size_t i = 0; i < volumes->Size(); ++i) {
        ObjectReader vr(r, &(*volumes)[i], "volumes", i);
        DecodeVolume(vr, &vmi->volumes.emplace_back());
      }
    }
  }
  if (const Node* networks = r.Array("networks")) {
    if (networks->Size() > limits.max_interfaces) {
      FieldError e;
      e.type = FieldError::Type::kTooMany;
      e.path = r.PathOf("networks");
      e.value = std::to_string(networks->Size());
      e.detail = absl::StrCat("must have at most ", limits.max_interfaces, " items");
      f->Error(std::move(e));
    } else {
      vmi->networks.reserve(networks->Size());
      for (size_t i = 0; i < networks->Size(); ++i) {
        ObjectReader nr(r, &(*networks)[i], "networks", i);
        DecodeNetwork(nr, &vmi->networks.emplace_back());
      }
    }
  }
  int64_t grace = 0;
  if (r.Int64("terminationGracePeriodSeconds", &grace)) {
    vmi->termination_grace_period_seconds = grace;
  }
  std::string text;
  if (r.String("evictionStrategy", &text)) {
    static constexpr std::pair<std::string_view, EvictionStrategy> kStrategies[] = {
        {"None", EvictionStrategy::kNone},
        {"LiveMigrate", EvictionStrategy::kLiveMigrate},
        {"LiveMigrateIfPossible", EvictionStrategy::kLiveMigrateIfPossible},
        {"External", EvictionStrategy::kExternal}};
    for (const auto& [name, value] : kStrategies) {
      if (text == name) vmi->eviction_strategy = value;
    }
    if (!vmi->eviction_strategy) {
      Unsupported(f, r.PathOf("evictionStrategy"), text,
                  {"External", "LiveMigrate", "LiveMigrateIfPossible", "None"});
    }
  }
  r.String("hostname", &vmi->hostname);
  r.String("subdomain", &vmi->subdomain);
  r.StringMap("nodeSelector", &vmi->node_selector);
  r.String("startStrategy", &vmi->start_strategy);
  // Scheduler and pod-level fields: nothing to do without a cluster.
  r.Ignore("affinity", "tolerations", "schedulerName", "priorityClassName", "dnsPolicy",
           "dnsConfig", "readinessProbe", "livenessProbe", "accessCredentials",
           "topologySpreadConstraints", "resourceClaims");
  if (r.String("architecture", &text) && text != "amd64") {
    Unsupported(f, r.PathOf("architecture"), text, {"amd64"});
  }
}

}  // namespace qdirect::spec
