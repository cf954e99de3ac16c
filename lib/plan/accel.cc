#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "qdirect/plan.h"
#include "qdirect/unique_fd.h"

namespace qdirect {

absl::StatusOr<std::string> ChooseAccelerator() {
  const char* forced = std::getenv("QDIRECT_ACCEL");
  if (forced != nullptr && *forced != '\0') {
    std::string value(forced);
    if (value == "kvm" || value == "tcg") return value;
    return absl::InvalidArgumentError(absl::StrCat(
        "QDIRECT_ACCEL: Unsupported value: \"", value,
        "\": supported values: \"kvm\", \"tcg\""));
  }
  // Opening /dev/kvm is not enough (permissions can allow open while the
  // module refuses VMs); creating a VM is the real test.
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) return std::string("tcg");
  if (::ioctl(kvm.get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
    return std::string("tcg");
  }
  UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm) return std::string("tcg");
  return std::string("kvm");
}

}  // namespace qdirect
