// Validate: KubeVirt's VMI admission rules (pkg/virt-api/webhooks/
// validating-webhook/admitters/vmi-create-admitter.go and the network and
// storage admitters), reported as Kubernetes field errors. Every rule runs;
// every finding is returned.

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qdirect/spec.h"
#include "spec/name_set.h"

namespace qdirect::spec {
namespace {

constexpr uint32_t kMaxVcpus = 512;

// A field path spelled only when a finding needs it: a key or index under
// a parent path, so a step costs a few stores, not a copy. A step is taken
// from a named path only (the rvalue overloads are deleted): a path must
// not point at a temporary that dies before it. Keys view literals or the
// VMI's own strings, which outlive the check.
class FieldPath {
 public:
  FieldPath(std::string_view root) : key_(root) {}  // NOLINT: literals convert
  FieldPath(const char* root) : FieldPath(std::string_view(root)) {}  // NOLINT
  // key under root, as root.Key(key) (for a root that is not a path).
  FieldPath(std::string_view root, std::string_view key) : root_(root), key_(key) {}
  FieldPath(const FieldPath&) = delete;
  FieldPath& operator=(const FieldPath&) = delete;

  FieldPath Key(std::string_view key) const& { return FieldPath(this, key, kNoIndex); }
  FieldPath Item(size_t index) const& { return FieldPath(this, {}, index); }
  FieldPath Key(std::string_view key) && = delete;
  FieldPath Item(size_t index) && = delete;

  std::string Str() const {
    std::string out = parent_ != nullptr ? parent_->Str() : std::string();
    auto append_key = [&out](std::string_view key) {
      if (key.empty()) return;
      if (!out.empty()) out.push_back('.');
      out.append(key);
    };
    append_key(root_);
    if (index_ != kNoIndex) {
      absl::StrAppend(&out, "[", index_, "]");
    } else {
      append_key(key_);
    }
    return out;
  }

 private:
  static constexpr size_t kNoIndex = SIZE_MAX;
  FieldPath(const FieldPath* parent, std::string_view key, size_t index)
      : parent_(parent), key_(key), index_(index) {}

  const FieldPath* parent_ = nullptr;
  std::string_view root_;  // before key_, with no parent
  std::string_view key_;   // empty for an item
  size_t index_ = kNoIndex;
};

constexpr bool IsAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// The characters of an RFC 1123 label: a table, one load per character
// (every VMI's name and namespace go through it).
constexpr std::array<bool, 256> kLabelChars = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = IsAlnumLower(static_cast<char>(c)) || c == '-';
  return t;
}();

class Checker {
 public:
  explicit Checker(const Vmi& vmi, const DecodeLimits& limits)
      : vmi_(vmi), limits_(limits), spec_(vmi.spec_path) {}

  std::vector<FieldError> Run() {
    Metadata();
    Cpu();
    Memory();
    Firmware();
    Features();
    Clock();
    Disks();
    Volumes();
    Interfaces();
    Networks();
    HostDevices();
    OtherDevices();
    Scheduling();
    return std::move(errors_);
  }

 private:
  FieldPath P(std::string_view rel) const { return FieldPath(spec_, rel); }

  void Add(FieldError::Type type, const FieldPath& path, std::string value, std::string detail) {
    FieldError e;
    e.type = type;
    e.path = path.Str();
    e.value = std::move(value);
    e.detail = std::move(detail);
    errors_.push_back(std::move(e));
  }
  void Required(const FieldPath& path, std::string detail = "") {
    Add(FieldError::Type::kRequired, path, "", std::move(detail));
  }
  void Invalid(const FieldPath& path, std::string value, std::string detail) {
    Add(FieldError::Type::kInvalid, path, std::move(value), std::move(detail));
  }
  void Forbidden(const FieldPath& path, std::string detail) {
    Add(FieldError::Type::kForbidden, path, "", std::move(detail));
  }
  void Unsupported(const FieldPath& path, std::string value,
                   std::initializer_list<std::string_view> options) {
    std::vector<std::string> quoted;
    for (std::string_view o : options) quoted.push_back("\"" + std::string(o) + "\"");
    Add(FieldError::Type::kUnsupported, path, std::move(value),
        absl::StrCat("supported values: ", absl::StrJoin(quoted, ", ")));
  }
  void OneOf(const FieldPath& path, const std::string& value,
             std::initializer_list<std::string_view> options) {
    for (std::string_view o : options) {
      if (value == o) return;
    }
    Unsupported(path, value, options);
  }
  void TooMany(const FieldPath& path, size_t n, size_t max) {
    if (n <= max) return;
    Add(FieldError::Type::kTooMany, path, std::to_string(n),
        absl::StrCat("must have at most ", max, " items"));
  }
  // Returns false when the length was reported.
  bool Length(const FieldPath& path, const std::string& value, size_t max) {
    if (value.size() <= max) return true;
    Add(FieldError::Type::kTooLong, path, "", absl::StrCat("must have at most ", max, " bytes"));
    return false;
  }

  // An RFC 1123 label, as k8s.io/apimachinery IsDNS1123Label.
  void Dns1123Label(const FieldPath& path, const std::string& value) {
    if (!Length(path, value, 63)) return;
    bool ok = !value.empty() && IsAlnumLower(value.front()) && IsAlnumLower(value.back());
    for (char c : value) ok &= kLabelChars[static_cast<unsigned char>(c)];
    if (!ok) {
      Invalid(path, value,
              "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
              "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
              "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
    }
  }

  // A device or volume name: required, bounded.
  bool Name(const FieldPath& path, const std::string& name) {
    if (name.empty()) {
      Required(path);
      return false;
    }
    return Length(path, name, limits_.max_name_bytes);
  }

  // A list item's name that must name an item of another list (a disk's
  // volume, an interface's network, a network's interface): required,
  // bounded, unique among `seen`, and `found` there (`noun` in `list`).
  // True when all of it holds.
  bool ReferringName(const FieldPath& item, const std::string& name, NameSet& seen, bool found,
                     std::string_view noun, std::string_view list) {
    if (!Name(item.Key("name"), name)) return false;
    if (!seen.Insert(name)) {
      Add(FieldError::Type::kDuplicate, item.Key("name"), name, "");
      return false;
    }
    if (!found) {
      Add(FieldError::Type::kNotFound, item.Key("name"), name,
          absl::StrCat("no ", absl::string_view(noun.data(), noun.size()), " of that name in ",
                       P(list).Str()));
      return false;
    }
    return true;
  }

  static bool IsHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  // dddd:bb:ss.f, slot 00..1f, function 0..7.
  void PciAddress(const FieldPath& path, const std::string& a) {
    bool ok = a.size() == 12 && a[4] == ':' && a[7] == ':' && a[10] == '.';
    for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) ok = ok && IsHex(a[i]);
    ok = ok && (a[8] == '0' || a[8] == '1') && a[11] >= '0' && a[11] <= '7';
    if (!ok) {
      Invalid(path, a, "must be a PCI address of the form dddd:bb:ss.f (e.g. 0000:81:01.0)");
    }
  }

  // The serial characters KubeVirt allows.
  void Serial(const FieldPath& path, const std::string& s) {
    bool ok = true;
    for (char c : s) {
      ok &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '+' || c == '-';
    }
    if (!ok) Invalid(path, s, "must be made up of the following characters [A-Za-z0-9_.+-]");
    Length(path, s, 256);
  }

  void Metadata() {
    if (vmi_.metadata.name.empty()) {
      Required("metadata.name", "name or generateName is required");
    } else {
      Dns1123Label("metadata.name", vmi_.metadata.name);
    }
    if (!vmi_.metadata.namespace_.empty()) {
      Dns1123Label("metadata.namespace", vmi_.metadata.namespace_);
    }
  }

  void Cpu() {
    const spec::Cpu& cpu = vmi_.domain.cpu;
    FieldPath base = P("domain.cpu");
    bool counts_ok = true;
    for (auto [key, n] : {std::pair<const char*, uint32_t>{"sockets", cpu.sockets},
                          {"cores", cpu.cores},
                          {"threads", cpu.threads}}) {
      if (n == 0) {
        Invalid(base.Key(key), "0", "must be greater than 0");
        counts_ok = false;
      }
    }
    uint64_t vcpus = uint64_t{cpu.sockets} * cpu.cores * cpu.threads;
    if (counts_ok && vcpus > kMaxVcpus) {
      Invalid(base, std::to_string(vcpus),
              absl::StrCat("sockets * cores * threads must be at most ", kMaxVcpus));
    }
    if (cpu.max_sockets && *cpu.max_sockets < cpu.sockets) {
      Invalid(base.Key("maxSockets"), std::to_string(*cpu.max_sockets),
              absl::StrCat("must be greater than or equal to sockets (", cpu.sockets, ")"));
    }
    FieldPath features = base.Key("features");
    for (size_t i = 0; i < cpu.features.size(); ++i) {
      FieldPath fp = features.Item(i);
      Name(fp.Key("name"), cpu.features[i].name);
      OneOf(fp.Key("policy"), cpu.features[i].policy,
            {"disable", "forbid", "force", "optional", "require"});
    }
    for (const auto* list : {&vmi_.domain.resources.requests, &vmi_.domain.resources.limits}) {
      std::string_view which = list == &vmi_.domain.resources.requests ? "requests" : "limits";
      for (const auto& [name, q] : *list) {
        if (q.milli < 0) {
          FieldPath resources = P("domain.resources");
          FieldPath list_path = resources.Key(which);
          Invalid(list_path.Key(name), q.text,
                  "must be greater than or equal to 0");
        }
      }
    }
    const auto& req = vmi_.domain.resources.requests;
    const auto& lim = vmi_.domain.resources.limits;
    // Limits first: most VMIs set requests only.
    for (const char* name : {"cpu", "memory"}) {
      auto l = lim.find(name);
      if (l == lim.end()) continue;
      auto r = req.find(name);
      if (r != req.end() && r->second.milli > l->second.milli) {
        FieldPath requests = P("domain.resources.requests");
        Invalid(requests.Key(name), r->second.text,
                absl::StrCat("must be less than or equal to ", name, " limit"));
      }
    }
  }

  void Memory() {
    const spec::Memory& m = vmi_.domain.memory;
    FieldPath base = P("domain.memory");
    if (!m.guest) {
      Required(P("domain.resources.requests.memory"),
               "set domain.memory.guest or domain.resources.requests.memory");
    } else if (m.guest->value <= 0) {
      Invalid(base.Key("guest"), m.guest->text, "must be greater than 0");
    } else {
      auto limit = vmi_.domain.resources.limits.find("memory");
      if (limit != vmi_.domain.resources.limits.end() && limit->second.value > 0 &&
          m.guest->value > limit->second.value) {
        Invalid(base.Key("guest"), m.guest->text,
                absl::StrCat("must be less than or equal to the memory limit ",
                             limit->second.text));
      }
      if (m.max_guest && m.max_guest->value < m.guest->value) {
        Invalid(base.Key("maxGuest"), m.max_guest->text,
                "must be greater than or equal to the guest memory");
      }
    }
    if (m.hugepages) {
      const std::string& size = m.hugepages->page_size;
      if (size != "2Mi" && size != "1Gi") {
        Unsupported(base.Key("hugepages.pageSize"), size, {"1Gi", "2Mi"});
      } else if (m.guest && m.guest->value > 0) {
        int64_t page = size == "2Mi" ? (int64_t{2} << 20) : (int64_t{1} << 30);
        if (m.guest->value % page != 0) {
          Invalid(base.Key("guest"), m.guest->text,
                  absl::StrCat("must be a multiple of the hugepage size ", size));
        }
      }
    }
  }

  void Firmware() {
    const spec::Firmware& fw = vmi_.domain.firmware;
    FieldPath base = P("domain.firmware");
    if (!fw.uuid.empty()) {
      const std::string& u = fw.uuid;
      bool ok = u.size() == 36;
      for (size_t i = 0; ok && i < u.size(); ++i) {
        ok = (i == 8 || i == 13 || i == 18 || i == 23) ? u[i] == '-' : IsHex(u[i]);
      }
      if (!ok) Invalid(base.Key("uuid"), u, "must be a UUID (8-4-4-4-12 hexadecimal digits)");
    }
    if (!fw.serial.empty()) Serial(base.Key("serial"), fw.serial);
    if (fw.kernel_boot) {
      const KernelBoot& kb = *fw.kernel_boot;
      FieldPath kp = base.Key("kernelBoot");
      if (!kb.container) {
        if (!kb.kernel_args.empty()) {
          Forbidden(kp.Key("kernelArgs"),
                    "kernel arguments cannot be provided without an external kernel");
        }
        Required(kp.Key("container"), "kernel boot needs a container with the kernel");
      } else {
        if (kb.container->image.empty()) Required(kp.Key("container.image"));
        if (kb.container->kernel_path.empty() && kb.container->initrd_path.empty()) {
          Required(kp.Key("container"),
                   "must be defined with at least one of kernelPath or initrdPath");
        }
        if (!kb.container->image_pull_policy.empty()) {
          OneOf(kp.Key("container.imagePullPolicy"), kb.container->image_pull_policy,
                {"Always", "IfNotPresent", "Never"});
        }
      }
    }
    if (const Efi* efi = std::get_if<Efi>(&fw.bootloader)) {
      const auto& smm = vmi_.domain.features.smm;
      if (efi->secure_boot && smm && !smm->enabled) {
        Invalid(P("domain.features.smm.enabled"), "false",
                "SMM must be enabled to allow EFI secure boot");
      }
    }
    // KubeVirt takes its list from the cluster's emulatedMachines setting;
    // qdirect allows the x86 machines its planner builds.
    const std::string& machine = vmi_.domain.machine.type;
    if (machine != "q35" && machine.rfind("pc-q35-", 0) != 0 && machine != "pc" &&
        machine.rfind("pc-i440fx-", 0) != 0) {
      Unsupported(P("domain.machine.type"), machine, {"pc", "pc-i440fx-*", "pc-q35-*", "q35"});
    }
    if (!vmi_.domain.io_threads_policy.empty()) {
      OneOf(P("domain.ioThreadsPolicy"), vmi_.domain.io_threads_policy, {"auto", "shared"});
    }
  }

  void Features() {
    const auto& hv = vmi_.domain.features.hyperv;
    if (!hv) return;
    if (hv->spinlocks && hv->spinlocks->enabled && hv->spinlocks->spinlocks < 4096) {
      Invalid(P("domain.features.hyperv.spinlocks.spinlocks"),
              std::to_string(hv->spinlocks->spinlocks), "must be at least 4096");
    }
    if (hv->vendorid && hv->vendorid->enabled) {
      const std::string& id = hv->vendorid->vendor_id;
      if (id.empty() || id.size() > 12) {
        Invalid(P("domain.features.hyperv.vendorid.vendorid"), id,
                "must be between 1 and 12 characters long");
      }
    }
  }

  void Clock() {
    const spec::Clock& c = vmi_.domain.clock;
    FieldPath base = P("domain.clock.timer");
    for (auto [key, timer] : {std::pair<const char*, const std::optional<Timer>*>{"hpet", &c.hpet},
                              {"pit", &c.pit},
                              {"rtc", &c.rtc}}) {
      if (!*timer || (*timer)->tick_policy.empty()) continue;
      FieldPath timer_path = base.Key(key);
      OneOf(timer_path.Key("tickPolicy"), (*timer)->tick_policy,
            {"catchup", "delay", "discard", "merge"});
    }
    if (c.rtc && !c.rtc->track.empty()) {
      OneOf(base.Key("rtc.track"), c.rtc->track, {"guest", "wall"});
    }
  }

  void Disks() {
    const auto& disks = vmi_.domain.devices.disks;
    FieldPath base = P("domain.devices.disks");
    TooMany(base, disks.size(), limits_.max_disks);
    NameSet volumes;
    for (const Volume& v : vmi_.volumes) volumes.Insert(v.name);
    NameSet names;
    for (size_t i = 0; i < disks.size(); ++i) {
      const Disk& d = disks[i];
      FieldPath dp = base.Item(i);
      ReferringName(dp, d.name, names, volumes.Contains(d.name), "volume", "volumes");
      const std::string_view type = ToString(d.type);
      FieldPath target = dp.Key(type);
      std::string bus(ToString(d.bus));
      switch (d.type) {
        case Disk::Type::kDisk:
          break;
        case Disk::Type::kCdrom:
          OneOf(dp.Key("bus"), bus, {"sata", "scsi"});
          break;
        case Disk::Type::kLun:
          OneOf(dp.Key("bus"), bus, {"scsi"});
          break;
      }
      if (!d.pci_address.empty()) {
        PciAddress(target.Key("pciAddress"), d.pci_address);
        if (d.bus != DiskBus::kVirtio) {
          Forbidden(target.Key("pciAddress"), "a PCI address needs the virtio bus");
        }
      }
      if (d.io == DiskIo::kNative && d.cache != DiskCache::kNone &&
          d.cache != DiskCache::kDefault) {
        Invalid(dp.Key("io"), "native",
                absl::StrCat("io native requires cache \"none\", not \"", std::string(ToString(d.cache)), "\""));
      }
      if (d.shareable && d.cache != DiskCache::kNone && d.cache != DiskCache::kDefault) {
        Invalid(dp.Key("cache"), std::string(ToString(d.cache)),
                "a shareable disk requires cache \"none\"");
      }
      if (d.dedicated_io_thread && d.bus != DiskBus::kVirtio) {
        Forbidden(dp.Key("dedicatedIOThread"), "a dedicated IO thread needs the virtio bus");
      }
      if (!d.serial.empty()) Serial(dp.Key("serial"), d.serial);
      if (d.boot_order) BootOrder(dp.Key("bootOrder"), *d.boot_order);
    }
  }

  void BootOrder(const FieldPath& path, uint32_t order) {
    if (order == 0) {
      Invalid(path, "0", "must be greater than 0");
      return;
    }
    if (!boot_orders_.insert(order).second) {
      Add(FieldError::Type::kDuplicate, path, std::to_string(order), "");
    }
  }

  void Volumes() {
    FieldPath base = P("volumes");
    TooMany(base, vmi_.volumes.size(), limits_.max_volumes);
    NameSet names;
    for (size_t i = 0; i < vmi_.volumes.size(); ++i) {
      const Volume& v = vmi_.volumes[i];
      FieldPath vp = base.Item(i);
      if (Name(vp.Key("name"), v.name) && !names.Insert(v.name)) {
        Add(FieldError::Type::kDuplicate, vp.Key("name"), v.name, "");
      }
      if (const auto* c = std::get_if<ContainerDiskSource>(&v.source)) {
        if (c->image.empty()) Required(vp.Key("containerDisk.image"));
        if (!c->image_pull_policy.empty()) {
          OneOf(vp.Key("containerDisk.imagePullPolicy"), c->image_pull_policy,
                {"Always", "IfNotPresent", "Never"});
        }
      } else if (const auto* c = std::get_if<PersistentVolumeClaimSource>(&v.source)) {
        if (c->claim_name.empty()) Required(vp.Key("persistentVolumeClaim.claimName"));
      } else if (const auto* c = std::get_if<DataVolumeSource>(&v.source)) {
        if (c->name.empty()) Required(vp.Key("dataVolume.name"));
      } else if (const auto* c = std::get_if<HostDiskSource>(&v.source)) {
        if (c->path.empty()) Required(vp.Key("hostDisk.path"));
        OneOf(vp.Key("hostDisk.type"), c->type, {"Disk", "DiskOrCreate"});
        if (c->type == "DiskOrCreate" && (!c->capacity || c->capacity->value <= 0)) {
          Required(vp.Key("hostDisk.capacity"), "type DiskOrCreate needs a capacity");
        }
      } else if (const auto* c = std::get_if<EmptyDiskSource>(&v.source)) {
        if (c->capacity.value <= 0 && !c->capacity.text.empty()) {
          Invalid(vp.Key("emptyDisk.capacity"), c->capacity.text, "must be greater than 0");
        }
      } else if (const auto* c = std::get_if<EphemeralSource>(&v.source)) {
        if (c->persistent_volume_claim.claim_name.empty()) {
          Required(vp.Key("ephemeral.persistentVolumeClaim.claimName"));
        }
      } else if (const auto* c = std::get_if<ConfigSource>(&v.source)) {
        static constexpr const char* kKeys[] = {"configMap.name", "secret.secretName",
                                                "serviceAccount.serviceAccountName", ""};
        const char* key = kKeys[static_cast<int>(c->kind)];
        if (*key != '\0' && c->name.empty()) Required(vp.Key(key));
      }
    }
  }

  void Interfaces() {
    const auto& ifaces = vmi_.domain.devices.interfaces;
    FieldPath base = P("domain.devices.interfaces");
    TooMany(base, ifaces.size(), limits_.max_interfaces);
    // The first network of each name: a scan while they are few, as decoded
    // ones are (limits_.max_interfaces), a map (no allocation otherwise)
    // past that.
    std::map<std::string_view, const Network*> by_name;
    if (vmi_.networks.size() > 32) {
      for (const Network& n : vmi_.networks) by_name.emplace(n.name, &n);
    }
    auto find_network = [&](const std::string& name) -> const Network* {
      if (!by_name.empty()) {
        auto it = by_name.find(name);
        return it == by_name.end() ? nullptr : it->second;
      }
      for (const Network& n : vmi_.networks) {
        if (n.name == name) return &n;
      }
      return nullptr;
    };
    NameSet names;
    for (size_t i = 0; i < ifaces.size(); ++i) {
      const Interface& iface = ifaces[i];
      FieldPath ip = base.Item(i);
      const std::string_view binding = ToString(iface.binding);
      FieldPath binding_path = ip.Key(binding);
      const Network* network = find_network(iface.name);
      if (ReferringName(ip, iface.name, names, network != nullptr, "network", "networks")) {
        const bool pod = std::holds_alternative<PodNetwork>(network->source);
        switch (iface.binding) {
          case Interface::Binding::kBridge:
            break;
          case Interface::Binding::kSriov:
          case Interface::Binding::kMacvtap:
            if (pod) {
              Forbidden(binding_path, absl::StrCat(std::string(ToString(iface.binding)),
                                                   " needs a multus network, not the pod network"));
            }
            break;
          case Interface::Binding::kMasquerade:
          case Interface::Binding::kPasst:
          case Interface::Binding::kSlirp:
            if (!pod) {
              Forbidden(binding_path, absl::StrCat(std::string(ToString(iface.binding)),
                                                   " needs the pod network, not multus"));
            }
            break;
        }
      }
      if (iface.binding == Interface::Binding::kSriov) {
        if (iface.model != "virtio" && !iface.model.empty()) {
          Forbidden(ip.Key("model"), "an SR-IOV interface has no model");
        }
      } else {
        OneOf(ip.Key("model"), iface.model,
              {"e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139", "virtio"});
      }
      if (!iface.mac_address.empty()) MacAddress(ip.Key("macAddress"), iface.mac_address);
      if (!iface.pci_address.empty()) PciAddress(ip.Key("pciAddress"), iface.pci_address);
      if (iface.boot_order) BootOrder(ip.Key("bootOrder"), *iface.boot_order);
      if (!iface.state.empty()) OneOf(ip.Key("state"), iface.state, {"absent", "down", "up"});
      FieldPath ports = ip.Key("ports");
      for (size_t j = 0; j < iface.ports.size(); ++j) {
        const Port& port = iface.ports[j];
        FieldPath pp = ports.Item(j);
        if (port.port < 1 || port.port > 65535) {
          Invalid(pp.Key("port"), std::to_string(port.port),
                  "must be between 1 and 65535, inclusive");
        }
        OneOf(pp.Key("protocol"), port.protocol, {"TCP", "UDP"});
      }
    }
  }

  void MacAddress(const FieldPath& path, const std::string& mac) {
    bool ok = mac.size() == 17;
    for (size_t i = 0; ok && i < mac.size(); ++i) {
      ok = (i % 3 == 2) ? (mac[i] == ':' || mac[i] == '-') : IsHex(mac[i]);
    }
    if (!ok) Invalid(path, mac, "must be a MAC address of the form 02:00:00:00:00:01");
  }

  void Networks() {
    FieldPath base = P("networks");
    TooMany(base, vmi_.networks.size(), limits_.max_interfaces);
    NameSet ifaces;
    for (const Interface& i : vmi_.domain.devices.interfaces) ifaces.Insert(i.name);
    NameSet names;
    size_t pods = 0, default_multus = 0;
    for (size_t i = 0; i < vmi_.networks.size(); ++i) {
      const Network& n = vmi_.networks[i];
      FieldPath np = base.Item(i);
      ReferringName(np, n.name, names, ifaces.Contains(n.name), "interface",
                    "domain.devices.interfaces");
      if (const auto* m = std::get_if<MultusNetwork>(&n.source)) {
        if (m->network_name.empty()) Required(np.Key("multus.networkName"));
        if (m->is_default && ++default_multus > 1) {
          Forbidden(np.Key("multus.default"), "only one multus network may be the default");
        }
      } else if (++pods > 1) {
        Forbidden(np.Key("pod"), "only one pod network may be defined");
      }
    }
    if (pods > 0 && default_multus > 0) {
      Forbidden(base, "a pod network and a default multus network cannot both be defined");
    }
  }

  void HostDevices() {
    const Devices& d = vmi_.domain.devices;
    TooMany(P("domain.devices.hostDevices"), d.gpus.size() + d.host_devices.size(),
            limits_.max_host_devices);
    NameSet names;
    auto check = [&](const FieldPath& dp, const std::string& name,
                     const std::string& device_name) {
      if (Name(dp.Key("name"), name) && !names.Insert(name)) {
        Add(FieldError::Type::kDuplicate, dp.Key("name"), name, "");
      }
      if (device_name.empty()) Required(dp.Key("deviceName"));
      Length(dp.Key("deviceName"), device_name, limits_.max_name_bytes);
    };
    FieldPath gpus = P("domain.devices.gpus");
    for (size_t i = 0; i < d.gpus.size(); ++i) {
      check(gpus.Item(i), d.gpus[i].name,
            d.gpus[i].device_name);
    }
    FieldPath host_devices = P("domain.devices.hostDevices");
    for (size_t i = 0; i < d.host_devices.size(); ++i) {
      check(host_devices.Item(i), d.host_devices[i].name,
            d.host_devices[i].device_name);
    }
  }

  void OtherDevices() {
    const Devices& d = vmi_.domain.devices;
    if (d.watchdog) {
      FieldPath wp = P("domain.devices.watchdog");
      Name(wp.Key("name"), d.watchdog->name);
      OneOf(wp.Key("i6300esb.action"), d.watchdog->action, {"poweroff", "reset", "shutdown"});
    }
    FieldPath inputs = P("domain.devices.inputs");
    for (size_t i = 0; i < d.inputs.size(); ++i) {
      FieldPath ip = inputs.Item(i);
      Name(ip.Key("name"), d.inputs[i].name);
      OneOf(ip.Key("type"), d.inputs[i].type, {"tablet"});
      OneOf(ip.Key("bus"), d.inputs[i].bus, {"usb", "virtio"});
    }
  }

  void Scheduling() {
    if (vmi_.termination_grace_period_seconds && *vmi_.termination_grace_period_seconds < 0) {
      Invalid(P("terminationGracePeriodSeconds"),
              std::to_string(*vmi_.termination_grace_period_seconds),
              "must be greater than or equal to 0");
    }
    if (!vmi_.hostname.empty()) Dns1123Label(P("hostname"), vmi_.hostname);
    if (!vmi_.subdomain.empty()) Dns1123Label(P("subdomain"), vmi_.subdomain);
    if (!vmi_.start_strategy.empty()) OneOf(P("startStrategy"), vmi_.start_strategy, {"Paused"});
  }

  const Vmi& vmi_;
  const DecodeLimits& limits_;
  std::string_view spec_;  // the VMI's own
  std::set<uint32_t> boot_orders_;
  std::vector<FieldError> errors_;
};

}  // namespace

std::vector<FieldError> Validate(const Vmi& vmi, const DecodeLimits& limits) {
  return Checker(vmi, limits).Run();
}

}  // namespace qdirect::spec
