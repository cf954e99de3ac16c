// Cloud-init volumes -> the ISO the launcher builds (NoCloud "cidata" or
// ConfigDrive "config-2"), with KubeVirt's metadata.

#include <string>

#include "absl/strings/str_cat.h"
#include "plan/identity.h"
#include "plan/json_object.h"
#include "plan/plan_context.h"

namespace qdirect::plan {

absl::StatusOr<FileToCreate> CloudInitIsoFile(const spec::Vmi& vmi,
                                              const spec::CloudInitSource& src,
                                              const std::string& path) {
  if (!src.user_data_secret_ref.empty() ||
      !src.network_data_secret_ref.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        "cloud-init volume at ", path,
        ": secretRef user/network data is not supported yet; inline "
        "userData/networkData instead"));
  }
  // KubeVirt's instance id and hostname.
  const std::string instance_id =
      absl::StrCat(vmi.metadata.name, ".", vmi.metadata.namespace_);
  const std::string hostname =
      vmi.hostname.empty() ? vmi.metadata.name : vmi.hostname;

  FileToCreate file;
  file.path = path;
  if (src.flavor == spec::CloudInitSource::Flavor::kNoCloud) {
    file.kind = FileToCreate::Kind::kNoCloudIso;
    file.label = "cidata";
    file.iso_files["user-data"] = src.user_data;
    file.iso_files["meta-data"] = absl::StrCat(
        "instance-id: ", instance_id, "\nlocal-hostname: ", hostname, "\n");
    if (!src.network_data.empty()) {
      file.iso_files["network-config"] = src.network_data;
    }
    return file;
  }
  file.kind = FileToCreate::Kind::kConfigDriveIso;
  file.label = "config-2";
  const std::string uuid =
      vmi.domain.firmware.uuid.empty()
          ? DeterministicUuid(vmi.metadata.namespace_, vmi.metadata.name)
          : vmi.domain.firmware.uuid;
  file.iso_files["openstack/latest/user_data"] = src.user_data;
  file.iso_files["openstack/latest/meta_data.json"] = absl::StrCat(
      "{\"instance_id\":", JsonString(instance_id),
      ",\"local_hostname\":", JsonString(hostname),
      ",\"hostname\":", JsonString(hostname), ",\"uuid\":", JsonString(uuid),
      "}");
  if (!src.network_data.empty()) {
    file.iso_files["openstack/latest/network_data.json"] = src.network_data;
  }
  return file;
}

}  // namespace qdirect::plan
