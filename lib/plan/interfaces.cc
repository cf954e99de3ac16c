// spec.domain.devices.interfaces -> -netdev and NIC -device.

#include <charconv>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "plan/identity.h"
#include "plan/plan_context.h"

namespace qdirect::plan {
namespace {

const spec::Network* FindNetwork(const spec::Vmi& vmi, const std::string& name) {
  for (const spec::Network& n : vmi.networks) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

absl::StatusOr<std::string> NicDriver(const spec::Interface& iface,
                                      bool transitional,
                                      const std::string& path) {
  if (iface.model == "virtio") {
    return std::string(transitional ? "virtio-net-pci-transitional"
                                    : "virtio-net-pci");
  }
  for (const char* model : {"e1000", "e1000e", "igb", "ne2k_pci", "pcnet",
                            "rtl8139"}) {
    if (iface.model == model) return std::string(model);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ".model: Unsupported value: \"", iface.model,
      "\": supported values: \"e1000\", \"e1000e\", \"igb\", \"ne2k_pci\", "
      "\"pcnet\", \"rtl8139\", \"virtio\""));
}

// One of an interface's ports, checked: protocol "tcp" or "udp".
struct Forward {
  std::string protocol;
  uint32_t port = 0;
};

absl::StatusOr<std::vector<Forward>> ForwardedPorts(const spec::Interface& iface,
                                                    const std::string& path) {
  std::vector<Forward> out;
  for (size_t p = 0; p < iface.ports.size(); ++p) {
    const spec::Port& port = iface.ports[p];
    std::string proto = absl::AsciiStrToLower(port.protocol);
    if (proto != "tcp" && proto != "udp") {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".ports[", p, "].protocol: Unsupported value: \"",
          port.protocol, "\": supported values: \"TCP\", \"UDP\""));
    }
    if (port.port == 0 || port.port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".ports[", p, "].port: Invalid value: ", port.port));
    }
    out.push_back({std::move(proto), port.port});
  }
  return out;
}

// passt's forwarding options for the interface's ports ("-t 80,443",
// "-u 53"); none: passt forwards nothing inbound (outbound works).
absl::StatusOr<std::vector<std::string>> PasstForwards(const spec::Interface& iface,
                                                       const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<Forward> ports, ForwardedPorts(iface, path));
  std::vector<std::string> args;
  for (const char* proto : {"tcp", "udp"}) {
    std::vector<std::string> list;
    for (const Forward& f : ports) {
      if (f.protocol == proto) list.push_back(absl::StrCat(f.port));
    }
    if (list.empty()) continue;
    args.push_back(proto == std::string_view("tcp") ? "-t" : "-u");
    args.push_back(absl::StrJoin(list, ","));
  }
  return args;
}

// Parses "a.b.c.d/bits": decimal fields, nothing else. Hand-rolled rather
// than sscanf, which costs more than the rest of a user netdev.
bool ParseIpv4Cidr(std::string_view text, uint32_t* address, unsigned* bits) {
  const char* p = text.data();
  const char* const end = p + text.size();
  auto field = [&](unsigned max, char separator, unsigned* out) {
    if (p == end || *p < '0' || *p > '9') return false;
    auto [next, ec] = std::from_chars(p, end, *out);
    if (ec != std::errc() || *out > max) return false;
    p = next;
    if (separator == '\0') return p == end;
    if (p == end || *p != separator) return false;
    ++p;
    return true;
  };
  unsigned a, b, c, d;
  if (!field(255, '.', &a) || !field(255, '.', &b) || !field(255, '.', &c) ||
      !field(255, '/', &d) || !field(32, '\0', bits)) {
    return false;
  }
  *address = (a << 24) | (b << 16) | (c << 8) | d;
  return true;
}

// "10.0.2.1".
std::string Ipv4(uint32_t address) {
  char buf[16];
  char* p = buf;
  for (int shift = 24; shift >= 0; shift -= 8) {
    p = std::to_chars(p, buf + sizeof(buf), (address >> shift) & 255).ptr;
    if (shift != 0) *p++ = '.';
  }
  return std::string(buf, p);
}

// QEMU user networking laid out as KubeVirt's masquerade: gateway .1, the
// guest gets .2 by DHCP.
absl::StatusOr<JsonObject> UserNetdev(const spec::Interface& iface,
                                      const spec::Network& network,
                                      const std::string& id,
                                      const std::string& path) {
  std::string_view cidr = "10.0.2.0/24";
  if (const auto* pod = std::get_if<spec::PodNetwork>(&network.source)) {
    if (!pod->vm_network_cidr.empty()) cidr = pod->vm_network_cidr;
  }
  uint32_t base = 0;
  unsigned bits = 0;
  if (!ParseIpv4Cidr(cidr, &base, &bits) || bits < 8 || bits > 30) {
    return absl::InvalidArgumentError(absl::StrCat(
        "networks: pod.vmNetworkCIDR: Invalid value: \"", std::string(cidr),
        "\": must be an IPv4 CIDR with a prefix of 8..30 bits"));
  }
  base &= ~((uint32_t{1} << (32 - bits)) - 1);
  JsonObject netdev;
  netdev.Str("type", "user")
      .Str("id", id)
      .Str("net", absl::StrCat(Ipv4(base), "/", bits))
      .Str("host", Ipv4(base + 1))
      .Str("dhcpstart", Ipv4(base + 2));
  ASSIGN_OR_RETURN(std::vector<Forward> ports, ForwardedPorts(iface, path));
  std::vector<JsonObject> forwards;
  for (const Forward& port : ports) {
    // Standalone: the guest port is published on the same host port.
    JsonObject fwd;
    fwd.Str("str", absl::StrCat(port.protocol, "::", port.port, "-:", port.port));
    forwards.push_back(fwd);
  }
  if (!forwards.empty()) netdev.Array("hostfwd", forwards);
  return netdev;
}

}  // namespace

absl::Status PlanInterface(PlanContext& ctx, const spec::Interface& iface,
                           std::string path) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  const bool pod_mode =
      ctx.host.network_mode == HostFacts::NetworkMode::kPod;
  if (iface.state == "absent") return absl::OkStatus();
  const spec::Network* network = FindNetwork(ctx.vmi, iface.name);
  if (network == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".name: Not found: \"", iface.name,
        "\": no network of that name in ", ctx.vmi.spec_path, ".networks"));
  }

  if (iface.binding == spec::Interface::Binding::kSriov) {
    // KubeVirt's launcher pod carries the network's resource name in
    // KUBEVIRT_RESOURCE_NAME_<network>, the devices in PCI_RESOURCE_*.
    const std::string var = "KUBEVIRT_RESOURCE_NAME_" + network->name;
    auto it = ctx.host.device_plugin_env.find(var);
    if (it == ctx.host.device_plugin_env.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ".sriov: ", var, " is not set (no SR-IOV resource "
                                 "allocated for network \"",
          network->name, "\")"));
    }
    ASSIGN_OR_RETURN(HostDeviceAddress address,
                     TakeDevicePluginDevice(ctx, it->second, path));
    AddVfioDevice(ctx, iface.name, address, path);
    return absl::OkStatus();
  }

  const std::string netdev_id = "hostua-" + iface.name;
  JsonObject netdev;
  int queues = 1;
  switch (iface.binding) {
    case spec::Interface::Binding::kPasst: {
      // QEMU 7.2's stream netdev on one end of a socketpair, passt on the
      // other (`passt --fd`): no socket file, no connect race.
      Plan::Passt passt;
      passt.interface = iface.name;
      passt.child_fd = ctx.next_child_fd++;
      ASSIGN_OR_RETURN(passt.args, PasstForwards(iface, path));
      JsonObject addr;
      addr.Str("type", "fd").Str("str", absl::StrCat(passt.child_fd));
      netdev.Str("type", "stream")
          .Str("id", netdev_id)
          .Bool("server", false)
          .Object("addr", addr);
      ctx.fds.push_back({FdToPass::Kind::kPasst, passt.child_fd, iface.name});
      ctx.passt.push_back(std::move(passt));
      break;
    }
    case spec::Interface::Binding::kSlirp: {
      ASSIGN_OR_RETURN(netdev, UserNetdev(iface, *network, netdev_id, path));
      break;
    }
    case spec::Interface::Binding::kBridge:
    case spec::Interface::Binding::kMasquerade:
    case spec::Interface::Binding::kMacvtap: {
      if (!pod_mode) {
        if (iface.binding == spec::Interface::Binding::kMacvtap) {
          return absl::UnimplementedError(absl::StrCat(
              path, ".macvtap: needs the KubeVirt launcher (pod network "
                    "mode); standalone qdirect has no macvtap device"));
        }
        // Standalone has no pod network to bridge into: user networking
        // gives the guest the same addresses masquerade would.
        ASSIGN_OR_RETURN(netdev,
                         UserNetdev(iface, *network, netdev_id, path));
        break;
      }
      // Pod mode: the launcher opens the tap (one fd per queue).
      if (devices.network_interface_multiqueue && iface.model == "virtio") {
        queues = ctx.vcpus;
      }
      std::vector<std::string> fd_numbers;
      for (int q = 0; q < queues; ++q) {
        FdToPass fd;
        fd.kind = FdToPass::Kind::kTap;
        fd.child_fd = ctx.next_child_fd++;
        fd.name = iface.name;
        // Hotplug passes fds by name (getfd), cold plug by number.
      fd_numbers.push_back(ctx.tap_fd_name_prefix.empty()
                               ? absl::StrCat(fd.child_fd)
                               : absl::StrCat(ctx.tap_fd_name_prefix, q));
        ctx.fds.push_back(fd);
      }
      netdev.Str("type", "tap").Str("id", netdev_id);
      if (queues == 1) {
        netdev.Str("fd", fd_numbers[0]);
      } else {
        netdev.Str("fds", absl::StrJoin(fd_numbers, ":"));
      }
      break;
    }
    case spec::Interface::Binding::kSriov:
      break;  // handled above
  }
  ctx.backends->emplace_back(DeviceEntry::Kind::kNetdev, netdev_id, std::string(), std::string(),
                             iface.name, std::move(netdev).Render());

  ASSIGN_OR_RETURN(std::string driver,
                   NicDriver(iface, devices.use_virtio_transitional, path));
  JsonObject nic;
  nic.Str("driver", driver)
      .Str("id", "ua-" + iface.name)
      .Str("netdev", netdev_id)
      .Str("mac", iface.mac_address.empty()
                      ? DeterministicMac(ctx.vmi.metadata.namespace_,
                                         ctx.vmi.metadata.name, iface.name)
                      : iface.mac_address);
  if (iface.boot_order) nic.Int("bootindex", *iface.boot_order);
  if (queues > 1) {
    // One vector per rx and tx queue, plus config and control.
    nic.Bool("mq", true).Int("vectors", 2 * queues + 2);
  }
  auto [pci, request] = ctx.AddPciDevice(std::move(nic), "ua-" + iface.name, std::move(path));
  pci.volume = iface.name;
  request.fixed_address = iface.pci_address;
  return absl::OkStatus();
}

absl::Status PlanInterfaces(PlanContext& ctx) {
  const spec::Devices& devices = ctx.vmi.domain.devices;
  for (size_t i = 0; i < devices.interfaces.size(); ++i) {
    RETURN_IF_ERROR(PlanInterface(
        ctx, devices.interfaces[i],
        ctx.Path("domain.devices.interfaces", i)));
  }
  return absl::OkStatus();
}

}  // namespace qdirect::plan
