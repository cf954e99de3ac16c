// QMP error replies as absl::Status: code mapping and the class payload.
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "qdirect/qmp.h"

namespace qdirect::qmp {
namespace {

// Debian's abseil has its own string_view type.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusCode CodeForClass(std::string_view error_class) {
  if (error_class == "CommandNotFound") return absl::StatusCode::kUnimplemented;
  if (error_class == "DeviceNotFound") return absl::StatusCode::kNotFound;
  if (error_class == "DeviceNotActive") return absl::StatusCode::kFailedPrecondition;
  if (error_class == "KVMMissingCap") return absl::StatusCode::kUnimplemented;
  if (error_class == "GenericError") return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status ErrorReplyStatus(std::string_view command, std::string_view error_class,
                              std::string_view desc) {
  absl::Status status(CodeForClass(error_class),
                      absl::StrCat("qmp: ", AV(command), ": ", AV(error_class), ": ", AV(desc)));
  status.SetPayload(AV(kErrorClassPayloadUrl), absl::Cord(AV(error_class)));
  return status;
}

std::optional<std::string> QmpErrorClass(const absl::Status& status) {
  auto payload = status.GetPayload(AV(kErrorClassPayloadUrl));
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace qdirect::qmp
