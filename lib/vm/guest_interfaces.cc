#include "vm/guest_interfaces.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "rapidjson/document.h"

namespace qdirect::vm {
namespace {

bool SameMac(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// KubeVirt tells the families apart by parsing; an IPv6 address is the one
// with a colon.
bool IsIpv6(const std::string& address) {
  return address.find(':') != std::string::npos;
}

const DeviceEntry* FindNic(const Plan& plan, const std::string& name) {
  const std::string id = "ua-" + name;
  for (const DeviceEntry& device : plan.devices) {
    if (device.kind == DeviceEntry::Kind::kDevice && device.id == id) {
      return &device;
    }
  }
  return nullptr;
}

void FillFromNicJson(const std::string& json, DomainInterface& out) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return;
  auto mac = doc.FindMember("mac");
  if (mac != doc.MemberEnd() && mac->value.IsString()) {
    out.mac = mac->value.GetString();
  }
  // The planner asks for 2 * queues + 2 vectors with multiqueue.
  auto mq = doc.FindMember("mq");
  auto vectors = doc.FindMember("vectors");
  if (mq != doc.MemberEnd() && mq->value.IsBool() && mq->value.GetBool() &&
      vectors != doc.MemberEnd() && vectors->value.IsInt() &&
      vectors->value.GetInt() > 2) {
    out.queue_count = (vectors->value.GetInt() - 2) / 2;
  }
}

}  // namespace

std::vector<DomainInterface> DomainInterfacesFromPlan(const spec::Vmi& vmi,
                                                      const Plan& plan) {
  std::vector<DomainInterface> out;
  for (const spec::Interface& iface : vmi.domain.devices.interfaces) {
    if (iface.state == "absent") continue;
    DomainInterface domain;
    domain.name = iface.name;
    domain.mac = iface.mac_address;
    if (const DeviceEntry* nic = FindNic(plan, iface.name); nic != nullptr) {
      FillFromNicJson(nic->json, domain);
    }
    if (iface.state == "down") domain.link_state = "down";
    out.push_back(std::move(domain));
  }
  return out;
}

std::vector<VmiInterface> InterfaceStatusFromDomain(
    const std::vector<DomainInterface>& domain) {
  std::vector<VmiInterface> out;
  out.reserve(domain.size());
  for (const DomainInterface& nic : domain) {
    VmiInterface status;
    status.name = nic.name;
    status.mac = nic.mac;
    status.info_source = kInfoSourceDomain;
    status.queue_count = nic.queue_count;
    status.link_state = nic.link_state;
    out.push_back(std::move(status));
  }
  return out;
}

std::vector<VmiInterface> MergeGuestInterfaces(
    std::vector<VmiInterface> status,
    const std::vector<agent::NetworkInterface>& guest) {
  for (const agent::NetworkInterface& nic : guest) {
    if (nic.name == "lo") continue;
    std::vector<std::string> guest_v4;
    std::vector<std::string> guest_v6;
    std::vector<std::string> guest_all;  // in the guest's order
    std::string guest_main;              // the first IPv4, else the first
    for (const agent::IpAddress& ip : nic.ip_addresses) {
      const bool v6 =
          ip.type == "ipv6" || (ip.type.empty() && IsIpv6(ip.address));
      (v6 ? guest_v6 : guest_v4).push_back(ip.address);
      guest_all.push_back(ip.address);
      if (!v6 && guest_main.empty()) guest_main = ip.address;
    }
    if (guest_main.empty() && !guest_all.empty()) guest_main = guest_all[0];

    auto match = std::find_if(status.begin(), status.end(),
                              [&](const VmiInterface& s) {
                                return SameMac(s.mac, nic.hardware_address);
                              });
    if (match == status.end()) {
      VmiInterface added;
      added.mac = nic.hardware_address;
      added.ip_address = guest_main;
      added.ip_addresses = std::move(guest_all);
      added.interface_name = nic.name;
      added.info_source = kInfoSourceGuestAgent;
      status.push_back(std::move(added));
      continue;
    }
    // As KubeVirt: addresses known before (the pod's) win per family unless
    // the guest reports none of that family.
    std::vector<std::string> v4;
    std::vector<std::string> v6;
    for (const std::string& ip : match->ip_addresses) {
      (IsIpv6(ip) ? v6 : v4).push_back(ip);
    }
    if (v4.empty() || guest_v4.empty()) v4 = std::move(guest_v4);
    if (v6.empty() || guest_v6.empty()) v6 = std::move(guest_v6);
    match->interface_name = nic.name;
    match->ip_addresses = std::move(v4);
    match->ip_addresses.insert(match->ip_addresses.end(), v6.begin(), v6.end());
    match->ip_address =
        match->ip_addresses.empty() ? "" : match->ip_addresses.front();
    match->info_source = kInfoSourceDomainAndGuestAgent;
  }
  return status;
}

}  // namespace qdirect::vm
