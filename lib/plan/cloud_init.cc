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
                                              const ResolvedVolume& rv) {
  // A secretRef's data was read by the resolver.
  const std::string& user_data =
      src.user_data_secret_ref.empty() ? src.user_data : rv.secret_user_data;
  const std::string& network_data = src.network_data_secret_ref.empty()
                                         ? src.network_data
                                         : rv.secret_network_data;
  const std::string& path = rv.path;
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
    file.iso_files["user-data"] = user_data;
    file.iso_files["meta-data"] = absl::StrCat(
        "instance-id: ", instance_id, "\nlocal-hostname: ", hostname, "\n");
    if (!network_data.empty()) {
      file.iso_files["network-config"] = network_data;
    }
    return file;
  }
  file.kind = FileToCreate::Kind::kConfigDriveIso;
  file.label = "config-2";
  const std::string uuid =
      vmi.domain.firmware.uuid.empty()
          ? DeterministicUuid(vmi.metadata.namespace_, vmi.metadata.name)
          : vmi.domain.firmware.uuid;
  file.iso_files["openstack/latest/user_data"] = user_data;
  file.iso_files["openstack/latest/meta_data.json"] = absl::StrCat(
      "{\"instance_id\":", JsonString(instance_id),
      ",\"local_hostname\":", JsonString(hostname),
      ",\"hostname\":", JsonString(hostname), ",\"uuid\":", JsonString(uuid),
      "}");
  if (!network_data.empty()) {
    file.iso_files["openstack/latest/network_data.json"] = network_data;
  }
  return file;
}

}  // namespace qdirect::plan
