// MakePlan: spec::Vmi + HostFacts -> Plan. Pure: no I/O, no environment, no
// clock. The parts for disks, interfaces and host devices live beside it;
// this file holds the machine-wide options and the assembly of argv from
// the device table (one code path for cold plug and hotplug JSON).

#include <algorithm>
#include <charconv>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "plan/identity.h"
#include "plan/json_object.h"
#include "plan/plan_context.h"
#include "qdirect/plan.h"

namespace qdirect {

using std::string_literals::operator""s;  // "qmp"s: a literal's length, no strlen

namespace plan {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

// QEMU's option syntax doubles a comma to quote it.
std::string Keyval(std::string_view value) {
  // Names rarely hold a comma: copied as they are, without StrReplaceAll.
  if (value.find(',') == std::string_view::npos) return std::string(value);
  return absl::StrReplaceAll(absl::string_view(value.data(), value.size()), {{",", ",,"}});
}

std::string QemuId(const QemuCapabilities& caps) {
  return absl::StrCat("qemu ", caps.version, " (", caps.binary, ")");
}

// A literal word as a view of its known length (a const char* would cost
// a strlen call: ~20 literals a plan); any other word as it is.
template <size_t N>
std::string_view Word(const char (&literal)[N]) {
  return std::string_view(literal, N - 1);
}
template <typename W>
W&& Word(W&& word) {
  return std::forward<W>(word);
}

// Appends each word to argv, moving the ones passed as rvalues (an
// initializer list would copy every one).
template <typename... Words>
void AppendArgs(std::vector<std::string>& argv, Words&&... words) {
  (argv.emplace_back(Word(std::forward<Words>(words))), ...);
}

bool Enabled(const std::optional<spec::FeatureState>& f) {
  return f.has_value() && f->enabled;
}

int64_t RoundUp(int64_t value, int64_t unit) {
  return (value + unit - 1) / unit * unit;
}

absl::StatusOr<std::string> CpuOption(const PlanContext& ctx) {
  const spec::Cpu& cpu = ctx.vmi.domain.cpu;
  const bool kvm = ctx.host.accel == "kvm";
  std::string model;
  if (cpu.model.empty() || cpu.model == "host-model" ||
      cpu.model == "host-passthrough") {
    // QEMU has no host-model: libvirt computes a named model from the host
    // CPU. "host" is the closest without it under KVM. TCG cannot expose
    // the host CPU at all; "max" is everything TCG emulates.
    model = kvm ? "host" : "max";
  } else {
    if (ctx.host.qemu.cpu_models.count(cpu.model) == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          QemuId(ctx.host.qemu), " has no CPU model \"", cpu.model,
          "\" needed by ", ctx.Path("domain.cpu.model")));
    }
    model = cpu.model;
  }
  // The model, then ",flag" per feature, appended in one string.
  std::string option = std::move(model);
  option.reserve(128);
  auto add = [&option](std::string_view flag, std::string_view value = "") {
    option.append(1, ',').append(flag).append(value);
  };
  for (size_t i = 0; i < cpu.features.size(); ++i) {
    const spec::CpuFeature& f = cpu.features[i];
    const std::string& p = f.policy;
    if (p == "require" || p == "force" || p == "optional") {
      add(f.name, "=on");
    } else if (p == "disable" || p == "forbid") {
      add(f.name, "=off");
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx.Path(absl::StrCat("domain.cpu.features[", i, "].policy")),
          ": Unsupported value: \"", p,
          "\": supported values: \"disable\", \"forbid\", \"force\", "
          "\"optional\", \"require\""));
    }
  }
  const spec::Features& features = ctx.vmi.domain.features;
  // Paravirt and Hyper-V features are KVM's: QEMU 7.2 under TCG refuses
  // most hv-* ("kernel doesn't allow setting HyperV VP_INDEX"), so a TCG
  // guest runs without them, as on a host without Hyper-V emulation.
  if (kvm) {
    if (Enabled(features.kvm_hidden)) add("kvm=off");
    if (features.pvspinlock) {
      add("kvm-pv-unhalt=", features.pvspinlock->enabled ? "on" : "off");
    }
    if (features.hyperv) {
      const spec::Hyperv& hv = *features.hyperv;
      auto flag = [&](const std::optional<spec::FeatureState>& f,
                      const char* name) {
        if (Enabled(f)) add(name, "=on");
      };
      flag(hv.relaxed, "hv-relaxed");
      flag(hv.vapic, "hv-vapic");
      if (hv.spinlocks && hv.spinlocks->enabled) {
        add("hv-spinlocks=0x", absl::StrCat(absl::Hex(hv.spinlocks->spinlocks)));
      }
      flag(hv.vpindex, "hv-vpindex");
      flag(hv.runtime, "hv-runtime");
      flag(hv.synic, "hv-synic");
      if (hv.synictimer && hv.synictimer->enabled) {
        add("hv-stimer=on");
        if (Enabled(hv.synictimer->direct)) add("hv-stimer-direct=on");
      }
      flag(hv.reset, "hv-reset");
      if (hv.vendorid && hv.vendorid->enabled && !hv.vendorid->vendor_id.empty()) {
        add("hv-vendor-id=", Keyval(hv.vendorid->vendor_id));
      }
      flag(hv.frequencies, "hv-frequencies");
      flag(hv.reenlightenment, "hv-reenlightenment");
      flag(hv.tlbflush, "hv-tlbflush");
      flag(hv.ipi, "hv-ipi");
      flag(hv.evmcs, "hv-evmcs");
    }
  }
  return option;
}

// A root port's -device JSON. Written from a template: root ports are
// many (the spares) and differ only in their numbers and names, which need
// no escaping.
std::string RootPortJson(const RootPort& port, std::string_view addr) {
  char buf[192];
  char* p = buf;
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(R"({"driver":"pcie-root-port","port":)");
  p = std::to_chars(p, p + 12, port.port).ptr;
  put(R"(,"chassis":)");
  p = std::to_chars(p, p + 12, port.chassis).ptr;
  put(R"(,"id":")");
  put(port.id.view());
  put(R"(","bus":"pcie.0","addr":")");
  put(addr);
  put("\"");
  if (port.multifunction) put(R"(,"multifunction":true)");
  put("}");
  return std::string(buf, static_cast<size_t>(p - buf));
}

void AddPortDevice(PlanContext& ctx, JsonObject&& props, std::string path) {
  std::string id(props.GetStr("id"));  // before props move into the device
  ctx.AddPciDevice(std::move(props), std::move(id), std::move(path));
}

// AddPortDevice for a controller that answers to `field` (a literal).
void AddFieldPortDevice(PlanContext& ctx, JsonObject&& props, std::string_view field) {
  std::string id(props.GetStr("id"));
  ctx.AddFieldPciDevice(std::move(props), std::move(id), field);
}

// Memory backend(s) and the -m option.
absl::StatusOr<std::string> PlanMemory(PlanContext& ctx) {
  const spec::Memory& memory = ctx.vmi.domain.memory;
  // Spelled for an error only.
  constexpr std::string_view kGuestField = "domain.memory.guest";
  int64_t guest = 0;
  if (memory.guest) {
    guest = memory.guest->value;
  } else if (auto it = ctx.vmi.domain.resources.requests.find("memory");
             it != ctx.vmi.domain.resources.requests.end()) {
    guest = it->second.value;
  }
  if (guest <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.Path(kGuestField), ": Required value: guest memory (or "
                           "resources.requests.memory) must be set"));
  }
  int64_t page = 0;
  if (memory.hugepages) {
    if (memory.hugepages->page_size == "2Mi") {
      page = 2 * kMiB;
    } else if (memory.hugepages->page_size == "1Gi") {
      page = 1024 * kMiB;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx.Path("domain.memory.hugepages.pageSize"),
          ": Unsupported value: \"", memory.hugepages->page_size,
          "\": supported values: \"1Gi\", \"2Mi\""));
    }
    if (guest % page != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx.Path(kGuestField), ": Invalid value: ", guest, ": not a multiple of the ",
          memory.hugepages->page_size, " hugepage size"));
    }
  }
  // QEMU sizes RAM in pages; 1 MiB keeps every host page size happy.
  guest = RoundUp(guest, kMiB);
  ctx.memory_bytes = std::max(guest, memory.max_guest ? memory.max_guest->value : 0);

  auto backend = [&](const std::string& id, int64_t size) {
    JsonObject obj;
    obj.Str("qom-type", "memory-backend-memfd")
        .Str("id", id)
        .Int("size", size)
        .Bool("share", true);
    if (page != 0) obj.Bool("hugetlb", true).Int("hugetlbsize", page);
    return obj;
  };
  ctx.AddObject("mem0", backend("mem0", guest), ctx.Field("domain.memory"));

  // -m counts in MiB without a suffix; guest is MiB-aligned above.
  std::string m = absl::StrCat("size=", guest / kMiB, "M");
  if (memory.max_guest && memory.max_guest->value < guest) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Path("domain.memory.maxGuest"), ": Invalid value: \"",
        memory.max_guest->text, "\": less than the guest memory (", guest,
        " bytes)"));
  }
  if (memory.max_guest && memory.max_guest->value > guest) {
    // virtio-mem: hotpluggable memory is the region between guest and
    // maxGuest, plugged in 2 MiB blocks.
    const int64_t max = memory.max_guest->value;
    const int64_t block = page > 2 * kMiB ? page : 2 * kMiB;
    if ((max - guest) % block != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx.Path("domain.memory.maxGuest"), ": Invalid value: ", max,
          ": maxGuest - guest must be a multiple of ", block, " bytes"));
    }
    absl::StrAppend(&m, ",maxmem=", max / kMiB, "M");
    ctx.AddObject("mem-virtiomem0", backend("mem-virtiomem0", max - guest),
                  ctx.Field("domain.memory.maxGuest"));
    ctx.need_virtio_mem = true;  // the device follows the others (layout)
  }
  return m;
}

}  // namespace

void PlanContext::AddListenerChardev(std::string_view id, int child_fd) {
  // chardev-add's arguments, written out whole: five nested JsonObjects
  // for two variable strings cost more than the rest of a chardev.
  char fd_buf[16];
  const std::string_view fd(
      fd_buf, static_cast<size_t>(std::to_chars(fd_buf, fd_buf + sizeof(fd_buf), child_fd).ptr -
                                  fd_buf));
  std::string args;
  args.reserve(128);
  args.append("{\"id\":");
  AppendJsonString(id, &args);
  args.append(
      ",\"backend\":{\"type\":\"socket\",\"data\":"
      "{\"addr\":{\"type\":\"fd\",\"data\":{\"str\":\"");
  args.append(fd);
  args.append("\"}},\"server\":true,\"wait\":false}}}");
  std::string keyval;
  keyval.reserve(48 + id.size());
  keyval.append("socket,id=").append(id).append(",fd=").append(fd).append(
      ",server=on,wait=off");
  backends->emplace_back(DeviceEntry::Kind::kChardev, std::string(id), std::string(),
                         std::string(), std::string(), std::move(args), std::move(keyval));
}

absl::Status CheckQemuHasNeeds(const PlanContext& ctx) {
  const QemuCapabilities& qemu = ctx.host.qemu;
  // The first missing name in name order, as a walk over all would find.
  if (!ctx.missing_devices.empty()) {
    const auto& [driver, path] = *ctx.missing_devices.begin();
    return absl::FailedPreconditionError(
        absl::StrCat(QemuId(qemu), " has no device \"", driver, "\" needed by ", path));
  }
  if (!ctx.missing_objects.empty()) {
    const auto& [type, path] = *ctx.missing_objects.begin();
    return absl::FailedPreconditionError(
        absl::StrCat(QemuId(qemu), " has no object type \"", type, "\" needed by ", path));
  }
  return ctx.property_error;
}

bool PlanContext::CheckProperty(const CapabilityProperties::value_type& known,
                                std::string_view key, const LazyPath& path) {
  // Every device has driver, id and bus; every PCI device (PCIDevice)
  // addr, and only PCI devices are given one.
  if (key == "driver" || key == "id" || key == "bus" || key == "addr") return true;
  if (known.second.contains(key)) return true;
  property_error = absl::FailedPreconditionError(
      absl::StrCat(QemuId(host.qemu), ": device \"", known.first, "\" has no property \"",
                   std::string(key), "\" needed by ", path.Spell()));
  return false;
}

void PlanContext::CheckProperties(const JsonObject& props, const LazyPath& path) {
  if (!property_error.ok()) return;  // the first failure is the one reported
  const auto* known = host.qemu.device_properties.Find(props.GetStr("driver"));
  if (known == nullptr) return;  // not probed
  for (size_t i = 0; i < props.size(); ++i) {
    if (!CheckProperty(*known, props.KeyAt(i), path)) return;
  }
}

void PlanContext::CheckProperties(std::string_view driver,
                                  std::initializer_list<std::string_view> keys,
                                  const LazyPath& path) {
  if (!property_error.ok()) return;
  const auto* known = host.qemu.device_properties.Find(driver);
  if (known == nullptr) return;
  for (std::string_view key : keys) {
    if (!CheckProperty(*known, key, path)) return;
  }
}

}  // namespace plan

namespace {

// The option that cold-plugs entry, and its value.
std::string_view ColdPlugOption(const DeviceEntry& entry) {
  switch (entry.kind) {
    case DeviceEntry::Kind::kObject:
      return "-object";
    case DeviceEntry::Kind::kChardev:
      return "-chardev";
    case DeviceEntry::Kind::kBlockdev:
      return "-blockdev";
    case DeviceEntry::Kind::kNetdev:
      return "-netdev";
    case DeviceEntry::Kind::kDevice:
      break;
  }
  return "-device";
}

const std::string& ColdPlugValue(const DeviceEntry& entry) {
  return entry.kind == DeviceEntry::Kind::kChardev ? entry.keyval : entry.json;
}

}  // namespace

std::vector<std::string_view> Plan::CommandLine() const {
  std::vector<std::string_view> words;
  words.reserve(args.size() + 2 * devices.size());
  const size_t at = std::min(device_args_at, args.size());
  words.insert(words.end(), args.begin(), args.begin() + static_cast<ptrdiff_t>(at));
  for (const DeviceEntry& e : devices) {
    words.push_back(ColdPlugOption(e));
    words.push_back(ColdPlugValue(e));
  }
  words.insert(words.end(), args.begin() + static_cast<ptrdiff_t>(at), args.end());
  return words;
}

std::vector<std::string> Plan::Argv() const {
  const std::vector<std::string_view> words = CommandLine();
  return std::vector<std::string>(words.begin(), words.end());
}

absl::Status AddHotpluggedDevices(const std::vector<DeviceEntry>& hotplugged,
                                  Plan& plan_out) {
  if (hotplugged.empty()) return absl::OkStatus();
  Plan plan = plan_out;  // a refusal leaves plan_out as it was
  std::set<std::string> used_ports;
  std::set<std::string> all_ports;
  for (const DeviceEntry& e : plan.devices) {
    if (e.kind == DeviceEntry::Kind::kDevice) used_ports.insert(e.bus);
    if (absl::StrContains(e.json, "\"driver\":\"pcie-root-port\"")) {
      all_ports.insert(e.id);
    }
  }
  std::set<std::pair<DeviceEntry::Kind, std::string>> ids;
  for (const DeviceEntry& e : plan.devices) ids.insert({e.kind, e.id});
  // The functions of one hot-plugged multifunction device share its port,
  // each at its own address (0x0, 0x0.0x1 ...).
  std::set<std::pair<std::string, std::string>> hot_functions;
  for (const DeviceEntry& e : hotplugged) {
    if (!ids.insert({e.kind, e.id}).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("hotplugged device \"", e.id, "\": the plan has this id already"));
    }
    if (e.kind == DeviceEntry::Kind::kDevice && absl::StartsWith(e.bus, "rp")) {
      const bool port_free = used_ports.count(e.bus) == 0;
      if (all_ports.count(e.bus) == 0 || !port_free ||
          !hot_functions.insert({e.bus, e.address}).second) {
        return absl::FailedPreconditionError(absl::StrCat(
            "hotplugged device \"", e.id, "\": root port ", e.bus,
            all_ports.count(e.bus) == 0 ? " does not exist" : " is in use"));
      }
      std::erase(plan.free_root_ports, e.bus);
    }
    plan.devices.push_back(e);
  }
  plan_out = std::move(plan);
  return absl::OkStatus();
}

namespace plan {

absl::Status CheckPlanInputs(const spec::Vmi& vmi, const HostFacts& host) {
  if (vmi.metadata.name.empty()) {
    return absl::InvalidArgumentError("metadata.name: Required value");
  }
  if (host.runtime_dir.empty() || host.qemu.binary.empty()) {
    return absl::InvalidArgumentError(
        "host facts: runtime_dir and qemu.binary must be set");
  }
  // sockaddr_un holds 107 path bytes; the longest socket name we put in
  // the runtime dir is "/passt-NN.sock".
  constexpr size_t kMaxSocketPath = 107;
  if (host.runtime_dir.size() + std::string_view("/passt-00.sock").size() >
      kMaxSocketPath) {
    return absl::InvalidArgumentError(absl::StrCat(
        "host facts: runtime_dir \"", host.runtime_dir,
        "\" is too long for unix socket paths (", kMaxSocketPath,
        " bytes at most)"));
  }
  if (host.qmp_fd < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "host facts: qmp_fd ", host.qmp_fd, " collides with stdio"));
  }
  if (host.accel != "kvm" && host.accel != "tcg") {
    return absl::InvalidArgumentError(absl::StrCat(
        "host facts: accel \"", host.accel, "\": supported values: kvm, tcg"));
  }

  return absl::OkStatus();
}

absl::Status PlanMachine(PlanContext& ctx, Plan& plan) {
  const spec::Vmi& vmi = ctx.vmi;
  const HostFacts& host = ctx.host;
  const spec::Domain& domain = vmi.domain;
  // Machine type.
  const std::string& machine_type = domain.machine.type;
  if (machine_type == "q35" || machine_type.rfind("pc-q35-", 0) == 0) {
    ctx.q35 = true;
  } else if (machine_type == "pc" || machine_type.rfind("pc-i440fx-", 0) == 0) {
    ctx.q35 = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Path("domain.machine.type"), ": Unsupported value: \"",
        machine_type, "\": supported values: \"q35\", \"pc-q35-*\", \"pc\", "
                      "\"pc-i440fx-*\""));
  }
  if (host.qemu.machine_types.count(machine_type) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        QemuId(host.qemu), " has no machine type \"", machine_type,
        "\" needed by ", ctx.Path("domain.machine.type")));
  }
  if (host.qemu.accelerators.count(host.accel) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        QemuId(host.qemu), " has no accelerator \"", host.accel, "\""));
  }

  // CPU topology; maxSockets leaves room for vCPU hotplug.
  const spec::Cpu& cpu = domain.cpu;
  if (cpu.sockets == 0 || cpu.cores == 0 || cpu.threads == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Path("domain.cpu"), ": Invalid value: sockets, cores and "
                                "threads must be at least 1"));
  }
  ctx.vcpus = static_cast<int>(cpu.sockets * cpu.cores * cpu.threads);
  uint32_t max_sockets = cpu.max_sockets.value_or(cpu.sockets);
  if (max_sockets < cpu.sockets) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Path("domain.cpu.maxSockets"), ": Invalid value: ", max_sockets,
        ": less than sockets (", cpu.sockets, ")"));
  }

  std::vector<std::string>& argv = plan.args;
  // A typical plan's words, without regrowing.
  argv.reserve(48);
  AppendArgs(argv, host.qemu.binary, "-name",
                   absl::StrCat("guest=", Keyval(vmi.metadata.namespace_), "_",
                                Keyval(vmi.metadata.name), ",debug-threads=on"),
                   "-S", "-nodefaults", "-no-user-config");

  // Firmware decisions feed -machine.
  const bool efi = std::holds_alternative<spec::Efi>(domain.firmware.bootloader);
  const bool secure_boot =
      efi && std::get<spec::Efi>(domain.firmware.bootloader).secure_boot;
  const spec::Features& features = domain.features;
  if (secure_boot && !ctx.q35) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Path("domain.firmware.bootloader.efi.secureBoot"),
        ": Invalid value: true: secure boot needs machine type q35"));
  }
  if (secure_boot && features.smm && !features.smm->enabled) {
    return absl::InvalidArgumentError(absl::StrCat(
        ctx.Path("domain.features.smm"),
        ": Invalid value: disabled: secure boot needs SMM"));
  }
  std::string machine =
      absl::StrCat(machine_type, ",accel=", host.accel,
                   ",usb=off,dump-guest-core=off,memory-backend=mem0");
  if (secure_boot || Enabled(features.smm)) {
    absl::StrAppend(&machine, ",smm=on");
  } else if (features.smm) {
    absl::StrAppend(&machine, ",smm=off");
  }
  if (!features.acpi.enabled) absl::StrAppend(&machine, ",acpi=off");
  if (domain.clock.hpet && !domain.clock.hpet->present) {
    absl::StrAppend(&machine, ",hpet=off");
  }
  if (efi) absl::StrAppend(&machine, ",pflash0=pflash0,pflash1=pflash1");
  // bios.useSerial: SeaBIOS prints to the serial port when the machine has
  // no graphics (libvirt's <bios useserial='yes'/> does the same).
  if (const auto* bios = std::get_if<spec::Bios>(&domain.firmware.bootloader);
      bios != nullptr && bios->use_serial) {
    absl::StrAppend(&machine, ",graphics=off");
  }

  ASSIGN_OR_RETURN(std::string cpu_option, CpuOption(ctx));
  ASSIGN_OR_RETURN(std::string memory_option, PlanMemory(ctx));
  const std::string uuid =
      domain.firmware.uuid.empty()
          ? DeterministicUuid(vmi.metadata.namespace_, vmi.metadata.name)
          : domain.firmware.uuid;
  std::string smbios = absl::StrCat("type=1,manufacturer=KubeVirt,product=None,"
                                    "family=KubeVirt,uuid=", uuid);
  if (!domain.firmware.serial.empty()) {
    absl::StrAppend(&smbios, ",serial=", Keyval(domain.firmware.serial));
  }
  AppendArgs(argv, "-machine", std::move(machine), "-cpu", std::move(cpu_option), "-smp",
                   absl::StrCat("cpus=", ctx.vcpus, ",sockets=", max_sockets,
                                ",cores=", cpu.cores, ",threads=", cpu.threads,
                                ",maxcpus=", max_sockets * cpu.cores * cpu.threads),
                   "-m", std::move(memory_option), "-uuid", uuid, "-smbios",
                   std::move(smbios));
  if (ctx.q35 && host.pci_hotplug == HostFacts::PciHotplug::kNative) {
    argv.insert(argv.end(),
                {"-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"});
  }

  // EFI: read-only code, and a per-VM copy of the variable store (a qcow2
  // overlay over Debian's template, created by the launcher).
  if (efi) {
    const std::string code =
        secure_boot ? host.ovmf_secure_code : host.ovmf_code;
    const std::string vars_template =
        secure_boot ? host.ovmf_secure_vars : host.ovmf_vars;
    const std::string vars = host.runtime_dir + "/efivars.qcow2";
    auto node = [&](const std::string& name, JsonObject props) {
      props.Str("node-name", name);
      ctx.AddBlockdev(name, std::move(props), "");
    };
    node("pflash0-file", JsonObject().Str("driver", "file")
                             .Str("filename", code).Bool("read-only", true));
    node("pflash0", JsonObject().Str("driver", "raw")
                        .Str("file", "pflash0-file").Bool("read-only", true));
    node("pflash1-base-file", JsonObject().Str("driver", "file")
                                  .Str("filename", vars_template)
                                  .Bool("read-only", true));
    node("pflash1-base", JsonObject().Str("driver", "raw")
                             .Str("file", "pflash1-base-file")
                             .Bool("read-only", true));
    node("pflash1-file", JsonObject().Str("driver", "file")
                             .Str("filename", vars));
    node("pflash1", JsonObject().Str("driver", "qcow2")
                        .Str("file", "pflash1-file")
                        .Str("backing", "pflash1-base"));
    FileToCreate file;
    file.kind = FileToCreate::Kind::kQcow2Overlay;
    file.path = vars;
    file.backing_path = vars_template;
    file.backing_format = "raw";
    ctx.files.push_back(std::move(file));
  }
  if (domain.firmware.kernel_boot && domain.firmware.kernel_boot->container) {
    if (host.volumes.kernel_path.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          ctx.Path("domain.firmware.kernelBoot.container"),
          ": the kernel image was not resolved"));
    }
    argv.insert(argv.end(), {"-kernel", host.volumes.kernel_path});
    if (!host.volumes.initrd_path.empty()) {
      argv.insert(argv.end(), {"-initrd", host.volumes.initrd_path});
    }
    if (!domain.firmware.kernel_boot->kernel_args.empty()) {
      argv.insert(argv.end(), {"-append", domain.firmware.kernel_boot->kernel_args});
    }
  }

  return absl::OkStatus();
}

absl::Status PlanRuntimeOptions(PlanContext& ctx, Plan& plan) {
  const spec::Vmi& vmi = ctx.vmi;
  const HostFacts& host = ctx.host;
  const spec::Domain& domain = vmi.domain;
  const spec::Devices& devices = domain.devices;
  const bool secure_boot = std::holds_alternative<spec::Efi>(domain.firmware.bootloader) &&
                           std::get<spec::Efi>(domain.firmware.bootloader).secure_boot;
  std::vector<std::string>& argv = plan.args;
  // Clock.
  std::string rtc;
  if (!domain.clock.timezone.empty()) {
    // QEMU reads the zone from TZ; the launcher sets it from Plan::env.
    rtc = "base=localtime";
    plan.env.push_back("TZ=" + domain.clock.timezone);
  } else if (domain.clock.utc_offset_seconds && *domain.clock.utc_offset_seconds != 0) {
    if (host.start_time_unix == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          ctx.Path("domain.clock.utc.offsetSeconds"),
          ": QEMU 7.2 takes an offset only as an absolute date; the host "
          "facts carry no start time"));
    }
    absl::Time base = absl::FromUnixSeconds(host.start_time_unix +
                                            *domain.clock.utc_offset_seconds);
    rtc = absl::StrCat("base=", absl::FormatTime("%Y-%m-%dT%H:%M:%S", base,
                                                 absl::UTCTimeZone()));
  } else {
    rtc = "base=utc";
  }
  if (domain.clock.rtc && domain.clock.rtc->tick_policy == "catchup") {
    absl::StrAppend(&rtc, ",driftfix=slew");
  }
  // -no-shutdown: a guest poweroff stops QEMU instead of ending it, so the
  // monitor sees SHUTDOWN, reads final state and decides (quit, restart).
  AppendArgs(argv, "-rtc", std::move(rtc), "-no-shutdown", "-sandbox",
                   "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                   "resourcecontrol=deny",
                   "-msg", "timestamp=on", "-display", "none");
  if (secure_boot) {
    argv.insert(argv.end(), {"-global", "driver=cfi.pflash01,property=secure,value=on"});
  }
  if (devices.watchdog) {
    const std::string& action = devices.watchdog->action;
    if (action != "poweroff" && action != "reset" && action != "shutdown") {
      return absl::InvalidArgumentError(absl::StrCat(
          ctx.Path("domain.devices.watchdog.i6300esb.action"),
          ": Unsupported value: \"", action,
          "\": supported values: \"poweroff\", \"reset\", \"shutdown\""));
    }
    argv.insert(argv.end(), {"-action", "watchdog=" + action});
  }

  return absl::OkStatus();
}

void PlanSockets(PlanContext& ctx, Plan& plan) {
  const HostFacts& host = ctx.host;
  const spec::Devices& devices = ctx.vmi.domain.devices;
  // Sockets in the runtime dir. The launcher binds every listener QEMU
  // serves (QMP at host.qmp_fd, then console and agent) and passes it: each
  // exists before QEMU does, and QEMU never needs to write the runtime dir,
  // which stays the launcher's (a QEMU that could write it could replace
  // control.sock).
  plan.qmp_socket = host.runtime_dir + "/qmp.sock";
  ctx.AddListenerChardev("qmp", host.qmp_fd);
  plan.fds.push_back({FdToPass::Kind::kQmpListener, host.qmp_fd, "qmp"s});
  if (devices.autoattach_serial_console) {
    plan.console_socket = host.runtime_dir + "/console.sock";
    const int fd = ctx.next_child_fd++;
    ctx.AddListenerChardev("console", fd);
    plan.fds.push_back({FdToPass::Kind::kConsoleListener, fd, "console"s});
    JsonObject serial;
    serial.Str("driver", "isa-serial").Str("chardev", "console").Str("id", "serial0");
    ctx.AddBusDevice(std::move(serial), "", "",
                     ctx.Field("domain.devices.autoattachSerialConsole"));
  }
  // The guest agent channel is always there: the monitor uses it when a
  // guest runs qemu-ga, and it costs nothing when none does.
  plan.agent_socket = host.runtime_dir + "/agent.sock";
  {
    const int fd = ctx.next_child_fd++;
    ctx.AddListenerChardev("agent", fd);
    plan.fds.push_back({FdToPass::Kind::kAgentListener, fd, "agent"s});
  }

}

absl::Status PlanInputs(PlanContext& ctx) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  for (size_t i = 0; i < devices.inputs.size(); ++i) {
    const spec::Input& input = devices.inputs[i];
    const std::string path = ctx.Path("domain.devices.inputs", i);
    if (input.type != "tablet" && input.type != "keyboard") {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".type: Unsupported value: \"", input.type,
          "\": supported values: \"keyboard\", \"tablet\""));
    }
    JsonObject dev;
    if (input.bus == "usb" || input.bus.empty()) {
      ctx.need_xhci = true;
      dev.Str("driver", input.type == "tablet" ? "usb-tablet" : "usb-kbd")
          .Str("bus", "usb.0").Str("id", "ua-" + input.name);
      ctx.AddBusDevice(std::move(dev), "usb.0", "", path);
    } else if (input.bus == "virtio") {
      dev.Str("driver", input.type == "tablet" ? "virtio-tablet-pci"
                                               : "virtio-keyboard-pci")
          .Str("id", "ua-" + input.name);
      AddPortDevice(ctx, std::move(dev), path);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".bus: Unsupported value: \"", input.bus,
          "\": supported values: \"usb\", \"virtio\""));
    }
  }

  return absl::OkStatus();
}

void PlanControllers(PlanContext& ctx) {
  const spec::Domain& domain = ctx.vmi.domain;
  const spec::Devices& devices = domain.devices;
  {
    JsonObject dev;
    dev.Str("driver", "virtio-serial-pci").Str("id", "virtio-serial0");
    AddFieldPortDevice(ctx, std::move(dev), "domain.devices");
    JsonObject port;
    port.Str("driver", "virtserialport")
        .Str("bus", "virtio-serial0.0")
        .Int("nr", 1)
        .Str("chardev", "agent")
        .Str("id", "channel0")
        .Str("name", "org.qemu.guest_agent.0");
    ctx.AddBusDevice(std::move(port), "virtio-serial0.0", "", ctx.Field("domain.devices"));
  }
  if (ctx.need_scsi) {
    JsonObject dev;
    dev.Str("driver", "virtio-scsi-pci").Str("id", "scsi0");
    if (!ctx.scsi_iothread.empty()) {
      JsonObject obj;
      obj.Str("qom-type", "iothread").Str("id", ctx.scsi_iothread);
      ctx.AddObject(ctx.scsi_iothread, std::move(obj), ctx.Field("domain.devices.disks"));
      dev.Str("iothread", ctx.scsi_iothread);
    }
    AddFieldPortDevice(ctx, std::move(dev), "domain.devices.disks");
  }
  if (ctx.need_xhci) {
    JsonObject dev;
    dev.Str("driver", "qemu-xhci").Str("id", "usb");
    AddFieldPortDevice(ctx, std::move(dev), "domain.devices");
  }
  if (devices.autoattach_mem_balloon) {
    JsonObject dev;
    dev.Str("driver", "virtio-balloon-pci").Str("id", "balloon0");
    // KubeVirt turns free page reporting off where guest memory is pinned.
    if (!domain.memory.hugepages && !domain.cpu.dedicated_cpu_placement) {
      dev.Bool("free-page-reporting", true);
    }
    AddFieldPortDevice(ctx, std::move(dev), "domain.devices.autoattachMemBalloon");
  }
  if (devices.rng) {
    JsonObject obj;
    obj.Str("qom-type", "rng-random").Str("id", "rng0").Str("filename", "/dev/urandom");
    ctx.AddObject("rng0", std::move(obj), ctx.Field("domain.devices.rng"));
    JsonObject dev;
    dev.Str("driver", "virtio-rng-pci").Str("id", "rng").Str("rng", "rng0");
    AddFieldPortDevice(ctx, std::move(dev), "domain.devices.rng");
  }
  if (ctx.need_virtio_mem) {
    JsonObject dev;
    dev.Str("driver", "virtio-mem-pci")
        .Str("id", "virtiomem0")
        .Str("memdev", "mem-virtiomem0")
        .Int("requested-size", 0);
    AddFieldPortDevice(ctx, std::move(dev), "domain.memory.maxGuest");
  }
  // Integrated on the root bus: the watchdog (conventional PCI) and the VGA
  // at 00:01.0 (q35) / 00:02.0 (pc), where firmware and guests look first.
  if (devices.watchdog) {
    const std::string id = "ua-" + devices.watchdog->name;
    JsonObject dev;
    dev.Str("driver", "i6300esb").Str("id", id);
    ctx.AddFieldPciDevice(std::move(dev), id, "domain.devices.watchdog")
        .request.root_bus = true;
  }
  if (devices.autoattach_graphics_device) {
    // -nodefaults leaves no display adapter; VGA works with SeaBIOS and
    // OVMF alike and is what VNC/screenshots will use (-display none now).
    JsonObject dev;
    dev.Str("driver", "VGA").Str("id", "video0");
    PciRequest& request =
        ctx.AddFieldPciDevice(std::move(dev), "video0",
                              "domain.devices.autoattachGraphicsDevice")
            .request;
    request.root_bus = true;
    request.preferred_slot = ctx.q35 ? 1 : 2;
  }

}

absl::Status PlanDeviceTable(PlanContext& ctx, Plan& plan) {
  const HostFacts& host = ctx.host;
  // PCI layout.
  ASSIGN_OR_RETURN(PciLayout layout,
                   LayoutPci(ctx.q35 ? PciFamily::kQ35 : PciFamily::kI440fx, ctx.pci_requests,
                             host.spare_root_ports));
  plan.free_root_ports = std::move(layout.free_root_ports);
  // The device table, in the order argv needs it: the backends (there
  // already), then the root ports and PCI devices built here in place (no
  // second move of each entry), then the devices on their buses.
  size_t functions = 0;
  for (const PendingPciDevice& d : ctx.pci_devices) functions += d.functions.size();
  plan.devices.reserve(plan.devices.size() + layout.root_ports.size() +
                       ctx.pci_devices.size() + functions + ctx.bus_devices.size());
  if (!layout.root_ports.empty()) {
    ctx.NeedDevice("pcie-root-port", ctx.Field("domain.devices"));
  }
  if (!layout.root_ports.empty()) {
    // Every root port has the properties of RootPortJson (the first is
    // named: it is there whenever any is).
    ctx.CheckProperties("pcie-root-port", {"port", "chassis", "multifunction"},
                        LazyPath("root port ", "", layout.root_ports[0].id.view()));
  }
  for (const RootPort& port : layout.root_ports) {
    const PciName addr = port.Addr();
    plan.devices.emplace_back(DeviceEntry::Kind::kDevice, std::string(port.id.view()), "pcie.0"s,
                              std::string(addr.view()), std::string(),
                              RootPortJson(port, addr.view()));
  }
  for (size_t i = 0; i < ctx.pci_devices.size(); ++i) {
    PendingPciDevice& d = ctx.pci_devices[i];
    const PciPlacement& where = layout.placements[i];
    d.props.Str("bus", where.bus.view()).Str("addr", where.addr.view());
    const LazyPath owner = ctx.pci_requests[i].OwnerPath();
    ctx.CheckProperties(d.props, owner);
    plan.devices.emplace_back(DeviceEntry::Kind::kDevice, std::move(d.id),
                              std::string(where.bus.view()), std::string(where.addr.view()),
                              d.volume, std::move(d.props).Render());
    for (PendingPciDevice::Function& f : d.functions) {
      std::string addr =
          absl::StrCat(std::string(where.addr.view()), ".0x", absl::Hex(f.number));
      f.props.Str("bus", where.bus.view()).Str("addr", addr);
      ctx.NeedDevice(f.props.GetStr("driver"), owner);
      ctx.CheckProperties(f.props, owner);
      plan.devices.emplace_back(DeviceEntry::Kind::kDevice, std::move(f.id),
                                std::string(where.bus.view()), std::move(addr), d.volume,
                                std::move(f.props).Render());
    }
  }
  for (DeviceEntry& e : ctx.bus_devices) plan.devices.push_back(std::move(e));

  // Everything used must exist in this QEMU.
  RETURN_IF_ERROR(CheckQemuHasNeeds(ctx));

  return absl::OkStatus();
}

}  // namespace plan

absl::StatusOr<Plan> MakePlan(const spec::Vmi& vmi, const HostFacts& host) {
  RETURN_IF_ERROR(plan::CheckPlanInputs(vmi, host));
  plan::PlanContext ctx(vmi, host);
  // Further fds (console and agent listeners, taps) follow the QMP one.
  ctx.next_child_fd = std::max(host.qmp_fd + 1, 4);
  Plan plan;
  // Backends go straight into the device table, with room for a typical
  // plan's whole table: a disk's four nodes, an interface's netdev, the
  // chardevs and objects, then root ports (one per PCI device, the spares),
  // PCI and bus devices. A larger plan moves the table once or twice.
  const spec::Devices& devices = vmi.domain.devices;
  plan.devices.reserve(16 + 5 * devices.disks.size() + 3 * devices.interfaces.size() +
                       3 * (devices.gpus.size() + devices.host_devices.size()) +
                       static_cast<size_t>(std::max(host.spare_root_ports, 0)));
  ctx.backends = &plan.devices;
  RETURN_IF_ERROR(plan::PlanMachine(ctx, plan));
  RETURN_IF_ERROR(plan::PlanRuntimeOptions(ctx, plan));
  plan::PlanSockets(ctx, plan);
  // Devices, in PCI layout order: disks, interfaces, host devices, inputs,
  // then controllers, balloon, rng, virtio-mem; integrated ones last.
  RETURN_IF_ERROR(plan::PlanDisks(ctx));
  RETURN_IF_ERROR(plan::PlanInterfaces(ctx));
  RETURN_IF_ERROR(plan::PlanHostDevices(ctx));
  RETURN_IF_ERROR(plan::PlanInputs(ctx));
  plan::PlanControllers(ctx);
  RETURN_IF_ERROR(plan::PlanDeviceTable(ctx, plan));

  // The devices go here (Plan::CommandLine), before the monitor.
  plan.device_args_at = plan.args.size();
  plan::AppendArgs(plan.args, "-mon", "chardev=qmp,mode=control");

  for (FdToPass& fd : ctx.fds) plan.fds.push_back(std::move(fd));
  plan.files = std::move(ctx.files);
  plan.passt = std::move(ctx.passt);
  plan.guest_memory_bytes = ctx.memory_bytes;
  if (ctx.has_vfio) plan.memlock_bytes = ctx.memory_bytes + (int64_t{1} << 30);
  return plan;
}

}  // namespace qdirect
