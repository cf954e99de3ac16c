// vmctl: the command line of qdirect.

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "tools/vmctl/command.h"

namespace qdirect::vmctl {
namespace {

constexpr char kUsage[] =
    "usage: vmctl COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  validate [--strict] FILE...     check VM/VMI manifests; errors as FILE: PATH: message\n"
    "  run FILE [--name N] [--grace S] [--until REGEX]\n"
    "                                  run a VM in the foreground, console on stdout; stop\n"
    "                                  it on Ctrl-C, Ctrl-] or once the console shows REGEX;\n"
    "                                  exit 0 when it ends Succeeded, 6 when Failed\n"
    "  render FILE [--accel tcg|kvm] [--json] [--name NAME]\n"
    "                                  print the QEMU argv the launcher would exec\n"
    "  start FILE [--name N]           start a VM in the background (a qdirect-launcher keeps\n"
    "                                  it); returns once it is Running\n"
    "  list                            one VM a line: NAMESPACE/NAME PHASE\n"
    "  status VM [--json]              the VMI status (--json: as KubeVirt names it)\n"
    "  stop VM [--grace S]             ACPI shutdown, quit after the grace period, then kill;\n"
    "                                  returns when the phase is final\n"
    "  pause VM | unpause VM | restart VM | soft-reboot VM | kill VM\n"
    "  console VM [--log]              attach (Ctrl-] detaches); --log prints the output so far\n"
    "  qmp VM 'JSON'                   a raw QMP command; prints QEMU's return value\n"
    "  stats VM                        vCPU time, memory, disk and NIC counters as JSON\n"
    "  guestosinfo VM | fslist VM | userlist VM\n"
    "                                  from the guest agent\n"
    "  hostdev list [--json]           host PCI devices by IOMMU group: viability, driver,\n"
    "                                  GPUs with companions, mdev types (--sysfs-root DIR)\n"
    "  hostdev prepare ADDR [--dry-run] [--no-bind] [--qemu-user U]\n"
    "                                  move a device (and its slot's functions) to vfio-pci;\n"
    "                                  --dry-run prints the sysfs writes instead\n"
    "  hostdev release ADDR [--driver NAME] [--dry-run]\n"
    "                                  give it back to NAME (default: the kernel's choice)\n"
    "  addvolume VM --volume-name V (--disk PATH | --claim CLAIM) [--bus virtio|scsi]\n"
    "            [--serial S] [--readonly] [--cache MODE]\n"
    "                                  hot-plug a disk (next free root port, or the SCSI bus)\n"
    "  removevolume VM V               unplug a hot-plugged disk (waits for the guest)\n"
    "  addinterface VM --name N [--mac M] [--model M] [--binding masquerade|bridge|slirp]\n"
    "  removeinterface VM N            hot-plug / unplug a NIC\n"
    "  setlink VM N up|down            the NIC's link state\n"
    "  scale VM --sockets N | --memory Q\n"
    "                                  vCPU sockets (up to maxSockets) / guest memory\n"
    "                                  (virtio-mem, up to maxGuest)\n"
    "  changemedia VM DISK (--disk PATH | --claim CLAIM | --eject)\n"
    "                                  swap or eject a cdrom's medium\n"
    "  addhostdev VM --name DEV --pci ADDR [--with-companions|--no-companions]\n"
    "                                  pass a host PCI device through (vfio-pci; bound to\n"
    "                                  vfio-pci first: hostdev prepare); by default with the\n"
    "                                  other functions of its slot and IOMMU group (HDMI audio)\n"
    "  removehostdev VM DEV            unplug it, companions included (waits for the guest)\n"
    "  migrate VM [--to URI] [--parallel N] [--bandwidth MIB_PER_S] [--allow-postcopy]\n"
    "            [--allow-auto-converge] [--max-downtime MS] [--progress-timeout S]\n"
    "            [--completion-timeout-per-gib S] [--tls-dir DIR [--tls-hostname H]]\n"
    "                                  live-migrate (without --to: to a new launcher on\n"
    "                                  this host; the VM keeps its name); shows progress\n"
    "  migrate-cancel VM               stop a running migration; the VM stays where it was\n"
    "  receive FILE --listen URI [--name N] [--parallel N] [--allow-postcopy]\n"
    "          [--tls-dir DIR] [--detach]\n"
    "                                  start a migration target listening on URI\n"
    "\n"
    "VM is NAME or NAMESPACE/NAME (namespace \"default\" when omitted).\n"
    "exit codes: 0 ok, 1 invalid, 2 usage, 3 not found, 4 failed, 5 internal,\n"
    "            6 the VM ended Failed\n"
    "\n"
    "environment: QDIRECT_IMAGE_DIR, QDIRECT_PVC_DIR, QDIRECT_CONFIG_DIR,\n"
    "             QDIRECT_ALLOWED_ROOTS, QDIRECT_ACCEL,\n"
    "             QDIRECT_QEMU, QDIRECT_CACHE_DIR, QDIRECT_RUNTIME_DIR,\n"
    "             QDIRECT_LAUNCHER, QDIRECT_SYSFS_ROOT, QDIRECT_HOSTDEV_CONFIG,\n"
    "             QDIRECT_PCI_HOTPLUG (acpi|native)\n";

struct Command {
  const char* name;
  int (*run)(const Args&);
};

constexpr Command kCommands[] = {
    {"validate", RunValidate},
    {"render", RunRender},
    {"run", RunRun},
    {"start", RunStart},
    {"list", RunList},
    {"status", RunStatus},
    {"stop", RunStop},
    {"pause", RunPause},
    {"unpause", RunUnpause},
    {"restart", RunRestart},
    {"soft-reboot", RunSoftReboot},
    {"kill", RunKill},
    {"console", RunConsole},
    {"qmp", RunQmp},
    {"stats", RunStats},
    {"guestosinfo", RunGuestOsInfo},
    {"fslist", RunFsList},
    {"userlist", RunUserList},
    {"hostdev", RunHostdev},
    {"addvolume", RunAddVolume},
    {"removevolume", RunRemoveVolume},
    {"addinterface", RunAddInterface},
    {"removeinterface", RunRemoveInterface},
    {"setlink", RunSetLink},
    {"scale", RunScale},
    {"changemedia", RunChangeMedia},
    {"addhostdev", RunAddHostdev},
    {"removehostdev", RunRemoveHostdev},
    {"migrate", RunMigrate},
    {"migrate-cancel", RunMigrateCancel},
    {"receive", RunReceive},
};

}  // namespace

int ReportError(const absl::Status& status) {
  std::fprintf(stderr, "vmctl: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitInvalid;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return kExitInternal;
    default:
      return kExitFailed;
  }
}

}  // namespace qdirect::vmctl

int main(int argc, char** argv) {
  using namespace qdirect::vmctl;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 ||
      std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  Args args(argv + 2, argv + argc);
  for (const Command& command : kCommands) {
    if (std::strcmp(argv[1], command.name) == 0) return command.run(args);
  }
  std::fprintf(stderr, "vmctl: unknown command \"%s\"\n%s", argv[1], kUsage);
  return kExitUsage;
}
