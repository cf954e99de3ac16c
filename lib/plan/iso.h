#pragma once

// ISO 9660 images built in process with libisofs: the cloud-init NoCloud
// ("cidata") and ConfigDrive ("config-2") disks and the configMap / secret /
// serviceAccount disks. KubeVirt shells out to genisoimage for these.

#include <map>
#include <string>

#include "absl/status/status.h"

namespace qdirect {

// Writes an ISO 9660 image with Rock Ridge and Joliet (so lowercase names
// such as "user-data" and "openstack/latest/meta_data.json" survive as
// written) to `path`. `files` maps a relative path inside the image ("/"
// separated; directories are created as needed) to its contents. The image
// is written to a temporary file beside `path` and renamed into place.
// Fails with InvalidArgument for an empty or over-long label, an empty,
// absolute, "." or ".." component, or a path that is both a file and a
// directory.
absl::Status BuildIso(const std::string& path, const std::string& volume_label,
                      const std::map<std::string, std::string>& files);

}  // namespace qdirect
