#include "tools/vmctl/vm_paths.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "launch/runtime_dir.h"

namespace qdirect::vmctl {

absl::StatusOr<std::string> VmRuntimeDir(const spec::Vmi& vmi) {
  RETURN_IF_ERROR(launch::ValidateNamespace(vmi.metadata.namespace_));
  RETURN_IF_ERROR(launch::ValidateVmName(vmi.metadata.name));
  return absl::StrCat(launch::RuntimeRootFromEnvironment(), "/",
                      vmi.metadata.namespace_, "_", vmi.metadata.name);
}

}  // namespace qdirect::vmctl
