#include "vm/guest_interfaces.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::vm {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

agent::NetworkInterface GuestNic(std::string name, std::string mac,
                                 std::vector<agent::IpAddress> ips) {
  agent::NetworkInterface nic;
  nic.name = std::move(name);
  nic.hardware_address = std::move(mac);
  nic.ip_addresses = std::move(ips);
  return nic;
}

agent::IpAddress V4(std::string address) { return {"ipv4", std::move(address), 24}; }
agent::IpAddress V6(std::string address) { return {"ipv6", std::move(address), 64}; }

std::vector<VmiInterface> Domain(std::vector<DomainInterface> nics) {
  return InterfaceStatusFromDomain(nics);
}

TEST(InterfaceStatusFromDomain, NameMacAndDomainSource) {
  std::vector<VmiInterface> status =
      Domain({{"default", "02:00:00:aa:bb:cc", 1, "up"}, {"blue", "02:00:00:00:00:02", 4, "down"}});
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].name, "default");
  EXPECT_EQ(status[0].mac, "02:00:00:aa:bb:cc");
  EXPECT_EQ(status[0].info_source, "domain");
  EXPECT_EQ(status[0].queue_count, 1);
  EXPECT_EQ(status[0].link_state, "up");
  EXPECT_EQ(status[1].queue_count, 4);
  EXPECT_EQ(status[1].link_state, "down");
  EXPECT_THAT(status[0].ip_addresses, IsEmpty());
}

TEST(MergeGuestInterfaces, LoopbackIsLeftOut) {
  std::vector<VmiInterface> status = MergeGuestInterfaces(
      {}, {GuestNic("lo", "00:00:00:00:00:00", {V4("127.0.0.1"), V6("::1")})});
  EXPECT_THAT(status, IsEmpty());
}

TEST(MergeGuestInterfaces, MatchByMacKeepsSpecNameAndTakesGuestData) {
  std::vector<VmiInterface> status = MergeGuestInterfaces(
      Domain({{"default", "02:00:00:AA:BB:CC", 1, "up"}}),
      {GuestNic("enp1s0", "02:00:00:aa:bb:cc",
                {V6("fe80::1"), V4("10.0.2.2"), V4("10.0.2.3")})});
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].name, "default");
  EXPECT_EQ(status[0].mac, "02:00:00:AA:BB:CC");  // the domain's spelling
  EXPECT_EQ(status[0].interface_name, "enp1s0");
  // IPv4 first, then IPv6; ipAddress is the first of them.
  EXPECT_THAT(status[0].ip_addresses, ElementsAre("10.0.2.2", "10.0.2.3", "fe80::1"));
  EXPECT_EQ(status[0].ip_address, "10.0.2.2");
  EXPECT_EQ(status[0].info_source, "domain, guest-agent");
  EXPECT_EQ(status[0].queue_count, 1);
}

TEST(MergeGuestInterfaces, UnmatchedGuestNicIsAppendedWithoutName) {
  std::vector<VmiInterface> status = MergeGuestInterfaces(
      Domain({{"default", "02:00:00:00:00:01", 1, "up"}}),
      {GuestNic("docker0", "02:42:ac:11:00:01", {V6("fd00::1"), V4("172.17.0.1")})});
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].info_source, "domain");  // untouched
  EXPECT_EQ(status[0].interface_name, "");
  const VmiInterface& added = status[1];
  EXPECT_EQ(added.name, "");
  EXPECT_EQ(added.interface_name, "docker0");
  EXPECT_EQ(added.mac, "02:42:ac:11:00:01");
  // The guest's order; ipAddress prefers the first IPv4.
  EXPECT_THAT(added.ip_addresses, ElementsAre("fd00::1", "172.17.0.1"));
  EXPECT_EQ(added.ip_address, "172.17.0.1");
  EXPECT_EQ(added.info_source, "guest-agent");
}

TEST(MergeGuestInterfaces, KnownAddressesOfAFamilyWinOverTheGuests) {
  std::vector<VmiInterface> before = Domain({{"default", "02:00:00:00:00:01", 1, "up"}});
  before[0].ip_addresses = {"10.244.0.5"};  // e.g. the pod's address
  before[0].ip_address = "10.244.0.5";
  std::vector<VmiInterface> status = MergeGuestInterfaces(
      before, {GuestNic("eth0", "02:00:00:00:00:01", {V4("10.0.2.2"), V6("fd10::2")})});
  ASSERT_EQ(status.size(), 1u);
  EXPECT_THAT(status[0].ip_addresses, ElementsAre("10.244.0.5", "fd10::2"));
  EXPECT_EQ(status[0].ip_address, "10.244.0.5");
}

TEST(MergeGuestInterfaces, GuestWithoutAddressesClearsThem) {
  std::vector<VmiInterface> before = Domain({{"default", "02:00:00:00:00:01", 1, "up"}});
  before[0].ip_addresses = {"10.244.0.5"};
  before[0].ip_address = "10.244.0.5";
  std::vector<VmiInterface> status =
      MergeGuestInterfaces(before, {GuestNic("eth0", "02:00:00:00:00:01", {})});
  ASSERT_EQ(status.size(), 1u);
  EXPECT_THAT(status[0].ip_addresses, IsEmpty());
  EXPECT_EQ(status[0].ip_address, "");
  EXPECT_EQ(status[0].interface_name, "eth0");
}

TEST(MergeGuestInterfaces, EmptyGuestMacMatchesNothing) {
  std::vector<VmiInterface> before = Domain({{"sriov", "", 1, "up"}});
  std::vector<VmiInterface> status =
      MergeGuestInterfaces(before, {GuestNic("tun0", "", {V4("10.8.0.1")})});
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].info_source, "domain");
  EXPECT_EQ(status[1].interface_name, "tun0");
}

TEST(DomainInterfacesFromPlan, MacFromTheNicDeviceAndAbsentLeftOut) {
  spec::Vmi vmi;
  spec::Interface a;
  a.name = "default";
  spec::Interface b;
  b.name = "gone";
  b.state = "absent";
  spec::Interface c;
  c.name = "vf";
  c.binding = spec::Interface::Binding::kSriov;
  c.mac_address = "02:00:00:00:00:0f";
  c.state = "down";
  vmi.domain.devices.interfaces = {a, b, c};
  Plan plan;
  plan.devices.push_back({DeviceEntry::Kind::kNetdev, "netdev-default", "", "", "default",
                          R"({"type":"user","id":"netdev-default"})", ""});
  plan.devices.push_back({DeviceEntry::Kind::kDevice, "ua-default", "rp1", "0x0", "default",
                          R"({"driver":"virtio-net-pci","id":"ua-default","mac":"02:11:22:33:44:55",)"
                          R"("mq":true,"vectors":10})",
                          ""});
  std::vector<DomainInterface> nics = DomainInterfacesFromPlan(vmi, plan);
  ASSERT_EQ(nics.size(), 2u);
  EXPECT_EQ(nics[0], (DomainInterface{"default", "02:11:22:33:44:55", 4, "up"}));
  EXPECT_EQ(nics[1], (DomainInterface{"vf", "02:00:00:00:00:0f", 1, "down"}));
}

}  // namespace
}  // namespace qdirect::vm
