#include "plan/pci_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qdirect::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<PciRequest> Requests(int n) {
  std::vector<PciRequest> r(n);
  for (int i = 0; i < n; ++i) r[i].owner = "dev" + std::to_string(i);
  return r;
}

TEST(PciLayoutTest, EachDeviceGetsItsOwnRootPortAtAddressZero) {
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, Requests(3), 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->placements.size(), 3u);
  EXPECT_EQ(layout->placements[0].bus, "rp1");
  EXPECT_EQ(layout->placements[2].bus, "rp3");
  EXPECT_EQ(layout->placements[2].addr, "0x0");
  EXPECT_EQ(layout->root_ports[2].Addr(), "0x2.0x2");
}

TEST(PciLayoutTest, RootPortsArePackedEightPerSlotWithMultifunction) {
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, Requests(9), 0);
  ASSERT_TRUE(layout.ok());
  ASSERT_EQ(layout->root_ports.size(), 9u);
  EXPECT_TRUE(layout->root_ports[0].multifunction);
  EXPECT_FALSE(layout->root_ports[1].multifunction);
  EXPECT_EQ(layout->root_ports[7].Addr(), "0x2.0x7");
  EXPECT_EQ(layout->root_ports[8].Addr(), "0x3.0x0");
  // Alone in its slot: no multifunction.
  EXPECT_FALSE(layout->root_ports[8].multifunction);
  EXPECT_EQ(layout->root_ports[8].chassis, 9);
  EXPECT_EQ(layout->root_ports[8].port, 0x18);
}

TEST(PciLayoutTest, SparePortsFollowUsedOnes) {
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, Requests(2), 3);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->root_ports.size(), 5u);
  EXPECT_THAT(layout->free_root_ports, ElementsAre("rp3", "rp4", "rp5"));
}

TEST(PciLayoutTest, SameRequestsGiveSameLayout) {
  std::vector<PciRequest> r = Requests(12);
  r[3].root_bus = true;
  absl::StatusOr<PciLayout> a = LayoutPci(PciFamily::kQ35, r, 4);
  absl::StatusOr<PciLayout> b = LayoutPci(PciFamily::kQ35, r, 4);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(a->placements[i].bus, b->placements[i].bus);
    EXPECT_EQ(a->placements[i].addr, b->placements[i].addr);
  }
}

TEST(PciLayoutTest, IntegratedDevicesTakeFreeRootBusSlots) {
  std::vector<PciRequest> r = Requests(3);
  r[0].root_bus = true;
  r[0].preferred_slot = 1;
  r[2].root_bus = true;
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, r, 0);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->placements[0].bus, "pcie.0");
  EXPECT_EQ(layout->placements[0].addr, "0x1");
  EXPECT_EQ(layout->placements[1].bus, "rp1");
  // Slot 2 holds the root port; the next integrated device takes 3.
  EXPECT_EQ(layout->placements[2].addr, "0x3");
}

TEST(PciLayoutTest, FixedAddressIsHonouredAndAvoided) {
  std::vector<PciRequest> r = Requests(2);
  r[1].fixed_address = "0000:00:02.0";
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, r, 0);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->placements[1].bus, "pcie.0");
  EXPECT_EQ(layout->placements[1].addr, "0x2");
  EXPECT_EQ(layout->root_ports[0].slot, 3);
}

TEST(PciLayoutTest, DuplicateFixedAddressIsRefused) {
  std::vector<PciRequest> r = Requests(2);
  r[0].fixed_address = "0000:00:05.0";
  r[1].fixed_address = "0000:00:05.0";
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, r, 0);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layout.status().message()),
              HasSubstr("dev1.pciAddress: Invalid value: \"0000:00:05.0\": slot 0x5 "
                        "is already in use"));
}

TEST(PciLayoutTest, AnOwnerGivenAsRootAndFieldIsSpelledForTheError) {
  // The planner's controllers name their owner as views, spelled only for
  // an error.
  std::vector<PciRequest> r(2);
  r[0].owner_root = "spec.template.spec";
  r[0].owner_field = "domain.devices";
  r[0].root_bus = true;
  r[0].preferred_slot = 3;
  r[1].owner_root = "spec";
  r[1].owner_field = "domain.devices.watchdog";
  r[1].fixed_address = "0000:00:03.0";
  EXPECT_EQ(r[0].Owner(), "spec.template.spec.domain.devices");
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, r, 0);
  EXPECT_THAT(std::string(layout.status().message()),
              HasSubstr("spec.domain.devices.watchdog.pciAddress: Invalid value: "
                        "\"0000:00:03.0\": slot 0x3 is already in use"));
}

TEST(PciLayoutTest, MalformedAddressIsRefused) {
  std::vector<PciRequest> r = Requests(1);
  r[0].fixed_address = "00:05.0";
  EXPECT_EQ(LayoutPci(PciFamily::kQ35, r, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PciLayoutTest, I440fxUsesRootBusSlotsAndNoPorts) {
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kI440fx, Requests(2), 4);
  ASSERT_TRUE(layout.ok());
  EXPECT_TRUE(layout->root_ports.empty());
  EXPECT_TRUE(layout->free_root_ports.empty());
  EXPECT_EQ(layout->placements[0].bus, "pci.0");
  EXPECT_EQ(layout->placements[0].addr, "0x2");
  EXPECT_EQ(layout->placements[1].addr, "0x3");
}

TEST(PciLayoutTest, TooManyPortsIsResourceExhausted) {
  // Slots 0x2..0x1e hold 29 * 8 = 232 ports.
  absl::StatusOr<PciLayout> layout = LayoutPci(PciFamily::kQ35, Requests(200), 33);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace qdirect::plan
