#include "launch/credentials.h"

#include <linux/capability.h>

#include "gtest/gtest.h"

namespace qdirect::launch {
namespace {

TEST(LookupUser, FindsRootAndRefusesUnknown) {
  absl::StatusOr<Credentials> root = LookupUser("root");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, (Credentials{.uid = 0, .gid = 0, .groups = {}}));
  absl::StatusOr<Credentials> missing = LookupUser("qdirect-no-such-user");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "user qdirect-no-such-user: no such user");
}

TEST(ResolveQemuCredentials, ConfiguredUserWinsAndMustExist) {
  EXPECT_EQ(ResolveQemuCredentials("root")->uid, 0u);
  EXPECT_EQ(ResolveQemuCredentials("qdirect-no-such-user").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ResolveQemuCredentials, DefaultIsAnUnprivilegedUser) {
  absl::StatusOr<Credentials> qemu = ResolveQemuCredentials("");
  ASSERT_TRUE(qemu.ok()) << qemu.status();
  EXPECT_NE(qemu->uid, 0u);
}

TEST(ParseCapability, AcceptsBothSpellings) {
  EXPECT_EQ(*ParseCapability("CAP_NET_BIND_SERVICE"), CAP_NET_BIND_SERVICE);
  EXPECT_EQ(*ParseCapability("net_admin"), CAP_NET_ADMIN);
  EXPECT_EQ(ParseCapability("cap_bogus").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qdirect::launch
