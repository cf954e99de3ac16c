#include "launch/own_capabilities.h"

#include <cap-ng.h>

#include "absl/strings/str_cat.h"

namespace qdirect::launch {

absl::Status LimitOwnCapabilities(std::span<const int> keep) {
  capng_clear(CAPNG_SELECT_ALL);
  for (int cap : keep) {
    if (cap < 0 || capng_update(CAPNG_ADD,
                                static_cast<capng_type_t>(CAPNG_EFFECTIVE |
                                                          CAPNG_PERMITTED |
                                                          CAPNG_BOUNDING_SET),
                                static_cast<unsigned int>(cap)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit own capabilities: capability ", cap, " unknown"));
    }
  }
  // Bounding set first (needs CAP_SETPCAP, still held), then capset; libcap-ng
  // orders it so.
  if (int rc = capng_apply(CAPNG_SELECT_ALL); rc != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("limit own capabilities: capng_apply failed (", rc,
                     "): dropping from the bounding set needs CAP_SETPCAP"));
  }
  return absl::OkStatus();
}

}  // namespace qdirect::launch
