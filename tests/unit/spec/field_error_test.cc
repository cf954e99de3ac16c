#include <string>

#include "gtest/gtest.h"
#include "qdirect/spec.h"

namespace qdirect::spec {
namespace {

FieldError Make(FieldError::Type type, std::string path, std::string value, std::string detail) {
  FieldError e;
  e.type = type;
  e.path = std::move(path);
  e.value = std::move(value);
  e.detail = std::move(detail);
  return e;
}

using T = FieldError::Type;

TEST(FieldErrorTest, RendersEveryTypeAsKubernetesDoes) {
  EXPECT_EQ(Make(T::kRequired, "metadata.name", "", "").ToString(),
            "metadata.name: Required value");
  EXPECT_EQ(Make(T::kRequired, "spec.domain", "", "needed").ToString(),
            "spec.domain: Required value: needed");
  EXPECT_EQ(Make(T::kInvalid, "metadata.name", "My_VM", "bad").ToString(),
            "metadata.name: Invalid value: \"My_VM\": bad");
  EXPECT_EQ(Make(T::kUnsupported, "spec.domain.devices.disks[1].bus", "ide",
                 "supported values: \"sata\", \"scsi\", \"usb\", \"virtio\"")
                .ToString(),
            "spec.domain.devices.disks[1].bus: Unsupported value: \"ide\": supported "
            "values: \"sata\", \"scsi\", \"usb\", \"virtio\"");
  EXPECT_EQ(Make(T::kDuplicate, "spec.volumes[1].name", "data", "").ToString(),
            "spec.volumes[1].name: Duplicate value: \"data\"");
  EXPECT_EQ(Make(T::kNotFound, "spec.x", "data", "").ToString(), "spec.x: Not found: \"data\"");
  EXPECT_EQ(Make(T::kForbidden, "spec.tpm", "", "not supported by qdirect yet").ToString(),
            "spec.tpm: Forbidden: not supported by qdirect yet");
  EXPECT_EQ(Make(T::kTooMany, "spec.volumes", "300", "must have at most 256 items").ToString(),
            "spec.volumes: Too many: 300: must have at most 256 items");
  EXPECT_EQ(Make(T::kTooLong, "metadata.name", "", "must have at most 63 bytes").ToString(),
            "metadata.name: Too long: must have at most 63 bytes");
  EXPECT_EQ(Make(T::kUnknown, "spec.securityContext", "", "").ToString(),
            "spec.securityContext: unknown field");
  EXPECT_EQ(Make(T::kSyntax, "line 3, column 7", "", "mapping values are not allowed here")
                .ToString(),
            "line 3, column 7: mapping values are not allowed here");
}

TEST(FieldErrorTest, IntegersRenderUnquoted) {
  EXPECT_EQ(Make(T::kInvalid, "spec.x", "-5", "must be greater than 0").ToString(),
            "spec.x: Invalid value: -5: must be greater than 0");
}

TEST(FieldErrorTest, QuotesAndControlCharactersAreEscaped) {
  EXPECT_EQ(Make(T::kInvalid, "p", "a\"b\n", "").ToString(), "p: Invalid value: \"a\\\"b\\n\"");
}

}  // namespace
}  // namespace qdirect::spec
