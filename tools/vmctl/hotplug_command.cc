// vmctl addvolume|removevolume|addinterface|removeinterface|setlink|scale|
// changemedia|addhostdev|removehostdev:
// hotplug into a background VM through its launcher (lib/kube's hotplug
// requests, vm::Machine's hotplug methods). NAME comes first; each prints
// one line: what was done, or that it is pending and why.

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "qdirect/hostdev.h"
#include "qdirect/spec.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {
namespace {

constexpr char kAddVolumeUsage[] =
    "usage: vmctl addvolume NAME --volume-name V (--disk PATH | --claim CLAIM)\n"
    "                       [--bus virtio|scsi] [--serial S] [--readonly]\n"
    "                       [--cache none|writethrough|writeback] [--namespace NS]\n";
constexpr char kAddInterfaceUsage[] =
    "usage: vmctl addinterface NAME --name N [--mac M] [--model virtio|e1000|...]\n"
    "                          [--binding masquerade|bridge|slirp] [--namespace NS]\n";
constexpr char kAddHostdevUsage[] =
    "usage: vmctl addhostdev NAME --name DEV --pci ADDR [--with-companions|--no-companions]\n"
    "                        [--namespace NS]\n";
constexpr char kScaleUsage[] =
    "usage: vmctl scale NAME (--sockets N | --memory QUANTITY) [--namespace NS]\n";

int Usage(const char* text) {
  std::fputs(text, stderr);
  return kExitUsage;
}

// Reads "--flag VALUE" at rest[i]; false when rest[i] is not `flag`.
bool FlagValue(const Args& rest, size_t& i, const char* flag, std::string* out) {
  if (rest[i] != flag || i + 1 >= rest.size()) return false;
  *out = rest[++i];
  return true;
}

int Report(const VmRef& vm, const char* what, const kube::ControlRequest& request) {
  absl::StatusOr<kube::ControlResponse> response = CallVm(vm, request);
  if (!response.ok()) return ReportError(response.status());
  if (response->hotplug && response->hotplug->outcome == HotplugOutcome::kPending) {
    std::printf("vm %s: %s pending (%s): %s\n", vm.label().c_str(), what,
                response->hotplug->device_id.c_str(), response->hotplug->message.c_str());
  } else {
    std::printf("vm %s: %s done%s%s%s\n", vm.label().c_str(), what,
                response->hotplug && !response->hotplug->device_id.empty() ? " (" : "",
                response->hotplug ? response->hotplug->device_id.c_str() : "",
                response->hotplug && !response->hotplug->device_id.empty() ? ")" : "");
  }
  return kExitOk;
}

// NAME ITEM: the request naming one hot-plugged thing.
template <typename Request>
int RunRemove(const char* command, const char* what, const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs(command, args, &parsed)) return *code;
  if (parsed.rest.size() != 1 || parsed.rest[0].empty() || parsed.rest[0][0] == '-') {
    std::fprintf(stderr, "usage: vmctl %s NAME %s [--namespace NS]\n", command,
                 what);
    return kExitUsage;
  }
  return Report(parsed.vm, (std::string(what) + " " + parsed.rest[0] + " removal").c_str(),
                Request{parsed.rest[0]});
}

}  // namespace

int RunAddVolume(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("addvolume", args, &parsed)) return *code;
  kube::AddVolumeRequest request;
  const Args& rest = parsed.rest;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (FlagValue(rest, i, "--volume-name", &request.name) ||
        FlagValue(rest, i, "--disk", &request.disk_path) ||
        FlagValue(rest, i, "--claim", &request.claim_name) ||
        FlagValue(rest, i, "--bus", &request.bus) ||
        FlagValue(rest, i, "--serial", &request.serial) ||
        FlagValue(rest, i, "--cache", &request.cache)) {
      continue;
    }
    if (rest[i] == "--readonly") {
      request.read_only = true;
      continue;
    }
    return Usage(kAddVolumeUsage);
  }
  if (request.name.empty() || request.disk_path.empty() == request.claim_name.empty()) {
    return Usage(kAddVolumeUsage);
  }
  return Report(parsed.vm, ("volume " + request.name + " hotplug").c_str(), request);
}

int RunRemoveVolume(const Args& args) {
  return RunRemove<kube::RemoveVolumeRequest>("removevolume", "VOLUME", args);
}

int RunAddInterface(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("addinterface", args, &parsed)) return *code;
  kube::AddInterfaceRequest request;
  const Args& rest = parsed.rest;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (FlagValue(rest, i, "--name", &request.name) ||
        FlagValue(rest, i, "--mac", &request.mac) ||
        FlagValue(rest, i, "--model", &request.model) ||
        FlagValue(rest, i, "--binding", &request.binding)) {
      continue;
    }
    return Usage(kAddInterfaceUsage);
  }
  if (request.name.empty()) return Usage(kAddInterfaceUsage);
  return Report(parsed.vm, ("interface " + request.name + " hotplug").c_str(), request);
}

int RunRemoveInterface(const Args& args) {
  return RunRemove<kube::RemoveInterfaceRequest>("removeinterface", "INTERFACE", args);
}

int RunAddHostdev(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("addhostdev", args, &parsed)) return *code;
  kube::AddHostDeviceRequest request;
  int companion_flags = 0;
  const Args& rest = parsed.rest;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (FlagValue(rest, i, "--name", &request.name) ||
        FlagValue(rest, i, "--pci", &request.pci_address)) {
      continue;
    }
    if (rest[i] == "--with-companions" || rest[i] == "--no-companions") {
      request.with_companions = rest[i] == "--with-companions";
      ++companion_flags;
      continue;
    }
    return Usage(kAddHostdevUsage);
  }
  if (request.name.empty() || request.pci_address.empty() || companion_flags > 1) {
    return Usage(kAddHostdevUsage);
  }
  absl::StatusOr<std::string> address = hostdev::CanonicalPciAddress(request.pci_address);
  if (!address.ok()) {
    return ReportError(absl::InvalidArgumentError(
        "addhostdev --pci: " + std::string(address.status().message())));
  }
  request.pci_address = *address;
  return Report(parsed.vm, ("host device " + request.name + " hotplug").c_str(), request);
}

int RunRemoveHostdev(const Args& args) {
  return RunRemove<kube::RemoveHostDeviceRequest>("removehostdev", "DEV", args);
}

int RunSetLink(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("setlink", args, &parsed)) return *code;
  if (parsed.rest.size() != 2 || (parsed.rest[1] != "up" && parsed.rest[1] != "down")) {
    return Usage("usage: vmctl setlink NAME INTERFACE up|down [--namespace NS]\n");
  }
  return Report(parsed.vm, ("link " + parsed.rest[1] + " of " + parsed.rest[0]).c_str(),
                kube::SetLinkRequest{parsed.rest[0], parsed.rest[1] == "up"});
}

int RunChangeMedia(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("changemedia", args, &parsed)) return *code;
  constexpr char kUsage[] =
      "usage: vmctl changemedia NAME DISK (--disk PATH | --claim CLAIM | --eject)"
      " [--namespace NS]\n";
  kube::ChangeMediaRequest request;
  const Args& rest = parsed.rest;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (FlagValue(rest, i, "--disk", &request.disk_path) ||
        FlagValue(rest, i, "--claim", &request.claim_name)) {
      continue;
    }
    if (rest[i] == "--eject") {
      request.eject = true;
    } else if (request.name.empty() && !rest[i].empty() && rest[i][0] != '-') {
      request.name = rest[i];
    } else {
      return Usage(kUsage);
    }
  }
  const int given = !request.disk_path.empty() + !request.claim_name.empty() + request.eject;
  if (request.name.empty() || given != 1) return Usage(kUsage);
  return Report(parsed.vm, ("medium of " + request.name + (request.eject ? " eject" : " change")).c_str(),
                request);
}

int RunScale(const Args& args) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs("scale", args, &parsed)) return *code;
  kube::ScaleRequest request;
  const Args& rest = parsed.rest;
  for (size_t i = 0; i < rest.size(); ++i) {
    std::string value;
    if (FlagValue(rest, i, "--sockets", &value)) {
      uint32_t sockets = 0;
      if (!absl::SimpleAtoi(value, &sockets) || sockets == 0) {
        std::fprintf(stderr, "vmctl scale: --sockets %s: expected an integer >= 1\n",
                     value.c_str());
        return kExitInvalid;
      }
      request.sockets = sockets;
    } else if (FlagValue(rest, i, "--memory", &value)) {
      absl::StatusOr<spec::Quantity> quantity = spec::ParseQuantity(value);
      if (!quantity.ok()) {
        return ReportError(absl::InvalidArgumentError(
            "scale --memory " + value + ": " + std::string(quantity.status().message())));
      }
      request.memory_bytes = quantity->value;
    } else {
      return Usage(kScaleUsage);
    }
  }
  if (!request.sockets && !request.memory_bytes) return Usage(kScaleUsage);
  return Report(parsed.vm, "scale", request);
}

}  // namespace qdirect::vmctl
