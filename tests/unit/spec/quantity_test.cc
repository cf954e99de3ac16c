#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/spec.h"

namespace qdirect::spec {
namespace {

struct Case {
  const char* text;
  int64_t value;
  int64_t milli;
};

class QuantityValueTest : public testing::TestWithParam<Case> {};

TEST_P(QuantityValueTest, ParsesValueAndMilliValue) {
  const Case& c = GetParam();
  absl::StatusOr<Quantity> q = ParseQuantity(c.text);
  ASSERT_TRUE(q.ok()) << c.text << ": " << q.status();
  EXPECT_EQ(q->text, c.text);
  EXPECT_EQ(q->value, c.value) << c.text;
  EXPECT_EQ(q->milli, c.milli) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Kubernetes, QuantityValueTest,
    testing::Values(
        Case{"0", 0, 0}, Case{"1", 1, 1000}, Case{"+5", 5, 5000}, Case{"-5", -5, -5000},
        Case{"500m", 1, 500}, Case{"1500m", 2, 1500}, Case{"1m", 1, 1},
        Case{"1n", 1, 1}, Case{"1u", 1, 1}, Case{"1500000u", 2, 1500},
        Case{"1k", 1000, 1000000}, Case{"1024M", 1024000000, 1024000000000},
        Case{"512M", 512000000, 512000000000}, Case{"2G", 2000000000, 2000000000000},
        Case{"1T", 1000000000000, 1000000000000000}, Case{"1P", 1000000000000000, 1000000000000000000},
        Case{"1Ki", 1024, 1024000}, Case{"1Mi", 1048576, 1048576000},
        Case{"2Gi", 2147483648, 2147483648000}, Case{"16Gi", 17179869184, 17179869184000},
        Case{"1Ti", 1099511627776, 1099511627776000},
        Case{"0.5Gi", 536870912, 536870912000}, Case{"1.5", 2, 1500},
        Case{".5", 1, 500}, Case{"5.", 5, 5000}, Case{"0.1", 1, 100},
        Case{"1e3", 1000, 1000000}, Case{"1E3", 1000, 1000000}, Case{"1.5E2", 150, 150000},
        Case{"1e-3", 1, 1}, Case{"1e+2", 100, 100000}, Case{"0.0001", 1, 1},
        Case{"-1.5", -1, -1500}, Case{"-0.0001", 0, 0}, Case{"1.0001m", 1, 2},
        Case{"000123", 123, 123000}, Case{"0Gi", 0, 0}, Case{"0e999999", 0, 0},
        // The largest value whose milli-value fits in int64.
        Case{"9223372036854775807m", 9223372036854776, 9223372036854775807},
        Case{"8Pi", 9007199254740992, 9007199254740992000},
        // A binary suffix with a fraction, and a fraction past 19 digits.
        Case{"0.001Ki", 2, 1024}, Case{"1234567890123e-20", 1, 1}));

class QuantityErrorTest : public testing::TestWithParam<const char*> {};

TEST_P(QuantityErrorTest, IsInvalidArgument) {
  absl::StatusOr<Quantity> q = ParseQuantity(GetParam());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Malformed, QuantityErrorTest,
                         testing::Values("", " 1", "1 ", "abc", "Gi", "1Z", "1K", "1KI",
                                         "1gi", "1.2.3", "+", "-", ".", "1e", "1e+", "1E+x",
                                         "--1", "1i", "1Mib", "0x10", "1,5", "1_000",
                                         "1e3Gi", "Mi1"));

INSTANTIATE_TEST_SUITE_P(Overflow, QuantityErrorTest,
                         testing::Values("8Ei", "9223372036854775807", "9223372036854775808m",
                                         "9223372036854776", "1e19", "1E100",
                                         "100000000000000000000000000000000000000000",
                                         "-9223372036854776"));

TEST(QuantityTest, OverflowMessageSaysOverflow) {
  absl::StatusOr<Quantity> q = ParseQuantity("8Ei");
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), testing::HasSubstr("overflow"));
}

TEST(QuantityTest, MalformedMessageNamesTheText) {
  absl::StatusOr<Quantity> q = ParseQuantity("12parsecs");
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), testing::HasSubstr("\"12parsecs\""));
}

TEST(QuantityTest, ExponentFarBelowOneRoundsUpToOne) {
  absl::StatusOr<Quantity> q = ParseQuantity("1e-99999");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->value, 1);
  EXPECT_EQ(q->milli, 1);
}

}  // namespace
}  // namespace qdirect::spec
