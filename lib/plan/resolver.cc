#include "plan/resolver.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "plan/config_dir.h"
#include "plan/host_paths.h"
#include "plan/qcow2.h"

namespace qdirect {
namespace {

using Kind = ResolvedVolume::Kind;
using plan::IsPathUnder;
using plan::JoinPath;
using plan::RealPath;

// `spec.volumes[0] "os-disk"`: where error messages point.
std::string VolumeWhere(const spec::Vmi& vmi, const spec::Volume& volume) {
  size_t index = 0;
  for (; index < vmi.volumes.size(); ++index) {
    if (&vmi.volumes[index] == &volume ||
        vmi.volumes[index].name == volume.name) {
      break;
    }
  }
  return absl::StrCat(vmi.spec_path, ".volumes[", index, "] \"", volume.name,
                      "\"");
}

int VolumeIndex(const spec::Vmi& vmi, const spec::Volume& volume) {
  for (size_t i = 0; i < vmi.volumes.size(); ++i) {
    if (&vmi.volumes[i] == &volume || vmi.volumes[i].name == volume.name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// A single path component we build paths from (volume, claim, image dir).
absl::Status CheckComponent(absl::string_view value, absl::string_view what,
                            absl::string_view where) {
  if (value.empty() || value == "." || value == ".." ||
      absl::StrContains(value, '/') ||
      absl::StrContains(value, absl::string_view("\0", 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", what, " \"", value,
        "\" cannot name a file: it must be non-empty and contain no \"/\" and "
        "not be \".\" or \"..\""));
  }
  return absl::OkStatus();
}

// A relative path inside an image; a leading "/" means the image root (as
// containerDisk.path is written). ".." components are refused outright.
absl::StatusOr<std::string> CleanInImagePath(absl::string_view path,
                                             absl::string_view what,
                                             absl::string_view where) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::PermissionDeniedError(absl::StrCat(
          where, ": ", what, " \"", path,
          "\" has a \"..\" component: paths must stay inside the image"));
    }
    parts.push_back(part);
  }
  if (parts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", what, " \"", path, "\" names no file"));
  }
  return absl::StrJoin(parts, "/");
}

// Refuses qcow2 images that name another host file themselves: a backing
// file or an external data file would make QEMU open a path nobody checked.
absl::Status CheckSelfContained(const ImageInfo& info, const std::string& path,
                                absl::string_view where) {
  if (info.format != "qcow2") return absl::OkStatus();
  if (!info.backing_file.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": qcow2 image ", path, " has a backing file \"",
        info.backing_file, "\": only self-contained images are accepted"));
  }
  if (info.external_data_file) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": qcow2 image ", path,
                     " keeps its data in an external file: not accepted"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Capacity(const std::optional<spec::Quantity>& q,
                                 absl::string_view where,
                                 absl::string_view field) {
  if (!q.has_value() || q->value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", field, " must be a positive size to create the image"));
  }
  return q->value;
}

absl::string_view ConfigKindName(spec::ConfigSource::Kind kind) {
  switch (kind) {
    case spec::ConfigSource::Kind::kConfigMap:
      return "configMap";
    case spec::ConfigSource::Kind::kSecret:
      return "secret";
    case spec::ConfigSource::Kind::kServiceAccount:
      return "serviceAccount";
    case spec::ConfigSource::Kind::kDownwardApi:
      return "downwardAPI";
  }
  return "config";
}

// A config volume's files from `dir` (where its source is mounted). An
// optional source that does not exist is an empty volume, as the kubelet
// mounts it.
absl::Status ReadConfigVolume(const spec::ConfigSource& config,
                              const std::string& dir, absl::string_view where,
                              ResolvedVolume& out) {
  const std::string what =
      config.name.empty()
          ? absl::StrCat(where, ": ", ConfigKindName(config.kind))
          : absl::StrCat(where, ": ", ConfigKindName(config.kind), " \"",
                         config.name, "\"");
  absl::StatusOr<std::map<std::string, std::string>> files =
      plan::ReadConfigDir(dir, what);
  if (absl::IsNotFound(files.status()) && config.optional) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(files.status());
  out.config_files = *std::move(files);
  return absl::OkStatus();
}

// One key of a cloud-init secret as KubeVirt reads it: `lower` ("userdata")
// or else `camel` ("userData").
absl::StatusOr<std::string> ReadCloudInitSecretKey(const std::string& dir,
                                                   absl::string_view lower,
                                                   absl::string_view camel,
                                                   absl::string_view what) {
  ASSIGN_OR_RETURN(auto files, plan::ReadConfigDir(dir, what));
  for (absl::string_view key : {lower, camel}) {
    if (auto it = files.find(std::string(key)); it != files.end()) {
      return std::move(it->second);
    }
  }
  return absl::NotFoundError(absl::StrCat(what, ": ", dir, " has no key \"",
                                          lower, "\" or \"", camel, "\""));
}

// Where a resolver finds what ISO volumes carry.
struct IsoSourceDirs {
  // A config volume's source directory; nullopt: it has none (an empty
  // volume).
  std::function<absl::StatusOr<std::optional<std::string>>(
      const spec::ConfigSource&)>
      config;
  // The directory holding the keys of the cloud-init secret `secret`.
  std::function<absl::StatusOr<std::string>(const std::string& secret)>
      cloud_init_secret;
};

// Reads what the ISO of `source` carries: a config volume's files, a
// cloud-init volume's secretRef data.
absl::Status ReadIsoSources(const spec::VolumeSource& source,
                            absl::string_view where, const IsoSourceDirs& dirs,
                            ResolvedVolume& out) {
  if (const auto* config = std::get_if<spec::ConfigSource>(&source)) {
    ASSIGN_OR_RETURN(std::optional<std::string> dir, dirs.config(*config));
    if (!dir.has_value()) return absl::OkStatus();
    return ReadConfigVolume(*config, *dir, where, out);
  }
  const auto* ci = std::get_if<spec::CloudInitSource>(&source);
  if (ci == nullptr) return absl::OkStatus();
  if (!ci->user_data_secret_ref.empty()) {
    ASSIGN_OR_RETURN(std::string dir,
                     dirs.cloud_init_secret(ci->user_data_secret_ref));
    ASSIGN_OR_RETURN(
        out.secret_user_data,
        ReadCloudInitSecretKey(dir, "userdata", "userData",
                               absl::StrCat(where, ": secretRef \"",
                                            ci->user_data_secret_ref, "\"")));
  }
  if (!ci->network_data_secret_ref.empty()) {
    ASSIGN_OR_RETURN(std::string dir,
                     dirs.cloud_init_secret(ci->network_data_secret_ref));
    ASSIGN_OR_RETURN(out.secret_network_data,
                     ReadCloudInitSecretKey(
                         dir, "networkdata", "networkData",
                         absl::StrCat(where, ": networkDataSecretRef \"",
                                      ci->network_data_secret_ref, "\"")));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The local image store resolver

class LocalVolumeResolver final : public VolumeResolver,
                                  public KernelBootResolver {
 public:
  explicit LocalVolumeResolver(LocalResolverOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<ResolvedVolume> Resolve(
      const spec::Vmi& vmi, const spec::Volume& volume) const override {
    const std::string where = VolumeWhere(vmi, volume);
    RETURN_IF_ERROR(CheckComponent(volume.name, "volume name", where));
    const spec::VolumeSource& source = volume.source;
    if (const auto* cd = std::get_if<spec::ContainerDiskSource>(&source)) {
      return ResolveContainerDisk(*cd, volume.name, where);
    }
    if (const auto* pvc =
            std::get_if<spec::PersistentVolumeClaimSource>(&source)) {
      ASSIGN_OR_RETURN(
          ResolvedVolume out,
          ResolveClaim(pvc->claim_name, "persistentVolumeClaim", where));
      out.read_only = pvc->read_only;
      return out;
    }
    if (const auto* dv = std::get_if<spec::DataVolumeSource>(&source)) {
      return ResolveClaim(dv->name, "dataVolume", where);
    }
    if (const auto* eph = std::get_if<spec::EphemeralSource>(&source)) {
      ASSIGN_OR_RETURN(ResolvedVolume base,
                       ResolveClaim(eph->persistent_volume_claim.claim_name,
                                    "ephemeral persistentVolumeClaim", where));
      ASSIGN_OR_RETURN(std::string path, VmFile(volume.name, ".qcow2", where));
      ResolvedVolume out;
      out.kind = Kind::kOverlay;
      out.path = std::move(path);
      out.format = "qcow2";
      out.backing_path = base.path;
      out.backing_format = base.format;
      return out;
    }
    if (const auto* host = std::get_if<spec::HostDiskSource>(&source)) {
      return ResolveHostDisk(*host, where);
    }
    if (const auto* empty = std::get_if<spec::EmptyDiskSource>(&source)) {
      ASSIGN_OR_RETURN(int64_t size,
                       Capacity(empty->capacity, where, "emptyDisk.capacity"));
      ASSIGN_OR_RETURN(std::string path, VmFile(volume.name, ".img", where));
      ResolvedVolume out;
      out.kind = Kind::kCreate;
      out.path = std::move(path);
      out.size_bytes = size;
      return out;
    }
    if (!std::holds_alternative<spec::CloudInitSource>(source) &&
        !std::holds_alternative<spec::ConfigSource>(source)) {
      return absl::UnimplementedError(
          absl::StrCat(where, ": volume source not supported"));
    }
    // cloudInitNoCloud / cloudInitConfigDrive / configMap / secret / ...
    ASSIGN_OR_RETURN(std::string path, VmFile(volume.name, ".iso", where));
    ResolvedVolume out;
    out.kind = Kind::kIso;
    out.path = std::move(path);
    out.read_only = true;
    RETURN_IF_ERROR(ReadIsoSources(source, where, IsoDirs(where), out));
    return out;
  }

  absl::StatusOr<std::string> ResolveKernelBootFile(
      const spec::Vmi&, const std::string& image,
      const std::string& path_in_image,
      absl::string_view field) const override {
    return ResolveImageFile(image, path_in_image, field, "kernelBoot");
  }

 private:
  // <config_dir>/{configmaps,secrets,serviceaccounts}/<name>.
  IsoSourceDirs IsoDirs(const std::string& where) const {
    auto named = [this, where](absl::string_view kind, const std::string& name,
                               absl::string_view what)
        -> absl::StatusOr<std::string> {
      RETURN_IF_ERROR(CheckComponent(name, what, where));
      return JoinPath(JoinPath(options_.config_dir, kind), name);
    };
    IsoSourceDirs dirs;
    dirs.config = [named](const spec::ConfigSource& config)
        -> absl::StatusOr<std::optional<std::string>> {
      switch (config.kind) {
        case spec::ConfigSource::Kind::kConfigMap:
          return named("configmaps", config.name, "configMap name");
        case spec::ConfigSource::Kind::kSecret:
          return named("secrets", config.name, "secretName");
        case spec::ConfigSource::Kind::kServiceAccount:
          return named("serviceaccounts", config.name, "serviceAccountName");
        case spec::ConfigSource::Kind::kDownwardApi:
          // Its fields (refused by the decoder) would be the only content.
          return std::nullopt;
      }
      return std::nullopt;
    };
    dirs.cloud_init_secret = [named](const std::string& secret) {
      return named("secrets", secret, "secret name");
    };
    return dirs;
  }

  // <vm_dir>/<volume><suffix>: where the VM's own files go.
  absl::StatusOr<std::string> VmFile(const std::string& volume,
                                     absl::string_view suffix,
                                     absl::string_view where) const {
    if (options_.vm_dir.empty() || options_.vm_dir[0] != '/') {
      return absl::FailedPreconditionError(absl::StrCat(
          where, ": the per-VM directory (vm_dir \"", options_.vm_dir,
          "\") must be an absolute path to hold this volume's file"));
    }
    return JoinPath(options_.vm_dir, absl::StrCat(volume, suffix));
  }

  // The file `path_in_image` (or disk/'s single file when empty) of the
  // image `image` in the store, resolved and confined to the image dir.
  absl::StatusOr<std::string> ResolveImageFile(const std::string& image,
                                               const std::string& path_in_image,
                                               absl::string_view where,
                                               absl::string_view what) const {
    if (image.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", what, " image is empty"));
    }
    const std::string dir_name = ImageDirName(image);
    RETURN_IF_ERROR(
        CheckComponent(dir_name, absl::StrCat(what, " image"), where));
    const std::string image_root = JoinPath(options_.image_dir, dir_name);
    struct stat st;
    if (stat(image_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat(
          where, ": ", what, " image \"", image, "\" not found in image store ",
          options_.image_dir, ": no directory ", dir_name));
    }
    ASSIGN_OR_RETURN(std::string store_real, RealPath(options_.image_dir));
    ASSIGN_OR_RETURN(std::string root_real, RealPath(image_root));
    if (!IsPathUnder(root_real, store_real)) {
      return absl::PermissionDeniedError(absl::StrCat(
          where, ": ", what, " image directory ", image_root, " resolves to ",
          root_real, ", outside the image store ", store_real));
    }
    std::string candidate;
    if (!path_in_image.empty()) {
      ASSIGN_OR_RETURN(
          std::string rel,
          CleanInImagePath(path_in_image, absl::StrCat(what, " path"), where));
      candidate = JoinPath(root_real, rel);
    } else {
      ASSIGN_OR_RETURN(candidate, SingleDiskFile(root_real, image, where));
    }
    absl::StatusOr<std::string> real = RealPath(candidate);
    if (!real.ok()) {
      return absl::NotFoundError(absl::StrCat(
          where, ": ", what, " image \"", image, "\" has no file ", candidate));
    }
    if (!IsPathUnder(*real, root_real)) {
      return absl::PermissionDeniedError(
          absl::StrCat(where, ": ", what, " file ", candidate, " resolves to ",
                       *real, ", outside the image directory ", root_real));
    }
    if (stat(real->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", what, " file ", *real, " is not a regular file"));
    }
    return *real;
  }

  // KubeVirt's rule: with no containerDisk.path, disk/ holds one file.
  absl::StatusOr<std::string> SingleDiskFile(const std::string& root,
                                             const std::string& image,
                                             absl::string_view where) const {
    const std::string disk_dir = JoinPath(root, "disk");
    DIR* dir = opendir(disk_dir.c_str());
    if (dir == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(where, ": containerDisk image \"", image,
                       "\" has no disk/ directory (", disk_dir,
                       ") and no containerDisk.path"));
    }
    std::vector<std::string> names;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;  // ., .. and hidden files
      names.push_back(entry->d_name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    if (names.empty()) {
      return absl::NotFoundError(absl::StrCat(where, ": containerDisk image \"",
                                              image, "\": no disk file in ",
                                              disk_dir));
    }
    if (names.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": containerDisk image \"", image, "\": ", names.size(),
          " files in ", disk_dir, " (", absl::StrJoin(names, ", "),
          "): only one disk is allowed; set containerDisk.path"));
    }
    return JoinPath(disk_dir, names[0]);
  }

  absl::StatusOr<ResolvedVolume> ResolveContainerDisk(
      const spec::ContainerDiskSource& cd, const std::string& volume,
      absl::string_view where) const {
    ASSIGN_OR_RETURN(
        std::string base,
        ResolveImageFile(cd.image, cd.path, where, "containerDisk"));
    ASSIGN_OR_RETURN(ImageInfo info, ReadImageInfo(base));
    RETURN_IF_ERROR(CheckSelfContained(info, base, where));
    ASSIGN_OR_RETURN(std::string overlay, VmFile(volume, ".qcow2", where));
    ResolvedVolume out;
    out.kind = Kind::kOverlay;  // the image store is never written
    out.path = std::move(overlay);
    out.format = "qcow2";
    out.backing_path = std::move(base);
    out.backing_format = info.format;
    return out;
  }

  // PVCs and DataVolumes: <pvc_dir>/<claim>[.qcow2|.img|.raw].
  absl::StatusOr<ResolvedVolume> ResolveClaim(const std::string& claim,
                                              absl::string_view what,
                                              absl::string_view where) const {
    RETURN_IF_ERROR(CheckComponent(claim, absl::StrCat(what, " name"), where));
    static constexpr absl::string_view kSuffixes[] = {"", ".qcow2", ".img",
                                                      ".raw"};
    std::string found;
    absl::string_view suffix;
    for (absl::string_view s : kSuffixes) {
      std::string candidate = JoinPath(options_.pvc_dir, absl::StrCat(claim, s));
      struct stat st;
      if (lstat(candidate.c_str(), &st) == 0) {
        found = std::move(candidate);
        suffix = s;
        break;
      }
    }
    if (found.empty()) {
      return absl::NotFoundError(
          absl::StrCat(where, ": ", what, " \"", claim, "\" not found in ",
                       options_.pvc_dir, ": no file ", claim, ", ", claim,
                       ".qcow2, ", claim, ".img or ", claim, ".raw"));
    }
    ASSIGN_OR_RETURN(std::string pvc_real, RealPath(options_.pvc_dir));
    absl::StatusOr<std::string> real = RealPath(found);
    if (!real.ok()) {
      return absl::NotFoundError(absl::StrCat(where, ": ", what, " \"", claim,
                                              "\": ", found,
                                              " is a dangling link"));
    }
    if (!IsPathUnder(*real, pvc_real) || *real == pvc_real) {
      return absl::PermissionDeniedError(
          absl::StrCat(where, ": ", what, " \"", claim, "\": ", found,
                       " resolves to ", *real, ", outside ", pvc_real));
    }
    struct stat st;
    if (stat(real->c_str(), &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat(where, ": stat ", *real));
    }
    ResolvedVolume out;
    out.path = *real;
    if (S_ISBLK(st.st_mode)) {
      out.kind = Kind::kBlockDevice;
      return out;
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", what, " \"", claim, "\": ", *real,
                       " is neither a regular file nor a block device"));
    }
    out.kind = Kind::kFile;
    ASSIGN_OR_RETURN(ImageInfo info, ReadImageInfo(*real));
    // The guest writes these files: trust the name where it says the
    // format, so a raw disk whose guest wrote a qcow2 header stays raw.
    if (suffix == ".img" || suffix == ".raw") {
      out.format = "raw";
      return out;
    }
    if (suffix == ".qcow2" && info.format != "qcow2") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", what, " \"", claim, "\": ", *real,
                       " is named .qcow2 but is not a qcow2 image"));
    }
    RETURN_IF_ERROR(CheckSelfContained(info, *real, where));
    out.format = info.format;
    return out;
  }

  absl::StatusOr<std::vector<std::string>> AllowedRoots() const {
    std::vector<std::string> roots;
    for (const std::string& root : options_.allowed_roots) {
      absl::StatusOr<std::string> real = RealPath(root);
      if (real.ok()) roots.push_back(*std::move(real));
    }
    return roots;
  }

  absl::StatusOr<ResolvedVolume> ResolveHostDisk(
      const spec::HostDiskSource& host, absl::string_view where) const {
    const std::string& path = host.path;
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": hostDisk path \"", path, "\" must be absolute"));
    }
    RETURN_IF_ERROR(CleanInImagePath(path, "hostDisk path", where).status());
    ASSIGN_OR_RETURN(std::vector<std::string> roots, AllowedRoots());
    auto denied = [&](absl::string_view resolved) {
      return absl::PermissionDeniedError(absl::StrCat(
          where, ": hostDisk path \"", path, "\"",
          resolved == path ? ""
                           : absl::StrCat(" resolves to \"", resolved, "\""),
          " which is not under an allowed root (",
          options_.allowed_roots.empty()
              ? std::string("none configured")
              : absl::StrJoin(options_.allowed_roots, ", "),
          ")"));
    };
    auto allowed = [&](const std::string& p) {
      return std::any_of(roots.begin(), roots.end(), [&](const std::string& r) {
        return IsPathUnder(p, r) && p != r;
      });
    };

    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      absl::StatusOr<std::string> real = RealPath(path);
      if (!real.ok()) {
        return absl::NotFoundError(absl::StrCat(where, ": hostDisk path \"",
                                                path, "\" is a dangling link"));
      }
      if (!allowed(*real)) return denied(*real);
      if (stat(real->c_str(), &st) != 0) {
        return absl::ErrnoToStatus(errno,
                                   absl::StrCat(where, ": stat ", *real));
      }
      ResolvedVolume out;
      out.path = *real;
      out.shared = host.shared;
      // hostDisk images are raw, as in KubeVirt: never probe guest data.
      if (S_ISBLK(st.st_mode)) {
        out.kind = Kind::kBlockDevice;
      } else if (S_ISREG(st.st_mode)) {
        out.kind = Kind::kFile;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": hostDisk path \"", path,
                         "\" is neither a regular file nor a block device"));
      }
      return out;
    }
    if (errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat(where, ": lstat ", path));
    }
    if (host.type != "DiskOrCreate") {
      // Check confinement first: do not tell what exists outside the roots.
      if (!allowed(path)) return denied(path);
      return absl::NotFoundError(absl::StrCat(
          where, ": hostDisk path \"", path, "\" does not exist (type ",
          host.type, "; DiskOrCreate creates it)"));
    }
    // The file will be created: confine its nearest existing ancestor, then
    // the path below it has no links (it does not exist yet).
    std::string ancestor = path;
    std::string rest;
    std::string real_ancestor;
    while (true) {
      size_t slash = ancestor.rfind('/');
      rest = rest.empty() ? ancestor.substr(slash + 1)
                          : absl::StrCat(ancestor.substr(slash + 1), "/", rest);
      ancestor = slash == 0 ? "/" : ancestor.substr(0, slash);
      absl::StatusOr<std::string> real = RealPath(ancestor);
      if (real.ok()) {
        real_ancestor = *std::move(real);
        break;
      }
      if (ancestor == "/") return denied(path);
    }
    const std::string target = JoinPath(real_ancestor, rest);
    if (!allowed(target)) return denied(target);
    ASSIGN_OR_RETURN(int64_t size,
                     Capacity(host.capacity, where, "hostDisk.capacity"));
    ResolvedVolume out;
    out.kind = Kind::kCreate;
    out.path = target;
    out.size_bytes = size;
    out.shared = host.shared;
    return out;
  }

  LocalResolverOptions options_;
};

// ---------------------------------------------------------------------------
// KubeVirt's in-pod layout

constexpr absl::string_view kContainerDisks =
    "/var/run/kubevirt/container-disks";
constexpr absl::string_view kEphemeralDisks =
    "/var/run/kubevirt-ephemeral-disks";
constexpr absl::string_view kPrivate = "/var/run/kubevirt-private";
constexpr absl::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

class KubeVirtPodVolumeResolver final : public VolumeResolver,
                                        public KernelBootResolver {
 public:
  explicit KubeVirtPodVolumeResolver(KubeVirtPodResolverOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<ResolvedVolume> Resolve(
      const spec::Vmi& vmi, const spec::Volume& volume) const override {
    const std::string where = VolumeWhere(vmi, volume);
    RETURN_IF_ERROR(CheckComponent(volume.name, "volume name", where));
    const std::string& name = volume.name;
    const spec::VolumeSource& source = volume.source;
    ResolvedVolume out;
    if (const auto* cd = std::get_if<spec::ContainerDiskSource>(&source)) {
      int index = VolumeIndex(vmi, volume);
      if (index < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": volume is not in the VMI's spec.volumes"));
      }
      std::string base = absl::StrCat(kContainerDisks, "/disk_", index, ".img");
      absl::StatusOr<ImageInfo> info = ReadImageInfo(Inspect(base));
      if (!info.ok()) {
        return absl::NotFoundError(absl::StrCat(
            where, ": containerDisk image \"", cd->image, "\": no disk at ",
            base, " (", info.status().message(), ")"));
      }
      RETURN_IF_ERROR(CheckSelfContained(*info, base, where));
      out.kind = Kind::kOverlay;
      out.path =
          absl::StrCat(kEphemeralDisks, "/disk-data/", name, "/disk.qcow2");
      out.format = "qcow2";
      out.backing_path = base;
      out.backing_format = info->format;
      return out;
    }
    if (const auto* pvc =
            std::get_if<spec::PersistentVolumeClaimSource>(&source)) {
      out = ClaimFor(name);
      out.read_only = pvc->read_only;
      return out;
    }
    if (std::holds_alternative<spec::DataVolumeSource>(source)) {
      return ClaimFor(name);
    }
    if (std::holds_alternative<spec::EphemeralSource>(source)) {
      ResolvedVolume base = ClaimFor(name);
      out.kind = Kind::kOverlay;
      out.path =
          absl::StrCat(kEphemeralDisks, "/disk-data/", name, "/disk.qcow2");
      out.format = "qcow2";
      out.backing_path = base.path;
      out.backing_format = "raw";
      return out;
    }
    if (const auto* host = std::get_if<spec::HostDiskSource>(&source)) {
      if (host->path.empty() || host->path[0] != '/') {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": hostDisk path \"", host->path, "\" must be absolute"));
      }
      RETURN_IF_ERROR(
          CleanInImagePath(host->path, "hostDisk path", where).status());
      out.path = host->path;
      out.shared = host->shared;
      struct stat st;
      if (stat(Inspect(host->path).c_str(), &st) == 0) {
        out.kind = S_ISBLK(st.st_mode) ? Kind::kBlockDevice : Kind::kFile;
        return out;
      }
      if (host->type != "DiskOrCreate") {
        return absl::NotFoundError(absl::StrCat(
            where, ": hostDisk path \"", host->path, "\" does not exist"));
      }
      ASSIGN_OR_RETURN(out.size_bytes,
                       Capacity(host->capacity, where, "hostDisk.capacity"));
      out.kind = Kind::kCreate;
      return out;
    }
    if (const auto* empty = std::get_if<spec::EmptyDiskSource>(&source)) {
      ASSIGN_OR_RETURN(out.size_bytes,
                       Capacity(empty->capacity, where, "emptyDisk.capacity"));
      out.kind = Kind::kCreate;
      out.path = absl::StrCat(kEphemeralDisks, "/empty-disks/", name, ".img");
      return out;
    }
    out.kind = Kind::kIso;
    out.read_only = true;
    if (const auto* ci = std::get_if<spec::CloudInitSource>(&source)) {
      RETURN_IF_ERROR(
          CheckComponent(vmi.metadata.namespace_, "metadata.namespace", where));
      RETURN_IF_ERROR(
          CheckComponent(vmi.metadata.name, "metadata.name", where));
      out.path =
          absl::StrCat(kEphemeralDisks, "/cloud-init-data/",
                       vmi.metadata.namespace_, "/", vmi.metadata.name, "/",
                       ci->flavor == spec::CloudInitSource::Flavor::kNoCloud
                           ? "noCloud.iso"
                           : "configdrive.iso");
      RETURN_IF_ERROR(ReadIsoSources(source, where, IsoDirs(name), out));
      return out;
    }
    const auto& config = std::get<spec::ConfigSource>(source);
    switch (config.kind) {
      case spec::ConfigSource::Kind::kConfigMap:
        out.path = absl::StrCat(kPrivate, "/config-map-disks/", name, ".iso");
        break;
      case spec::ConfigSource::Kind::kSecret:
        out.path = absl::StrCat(kPrivate, "/secret-disks/", name, ".iso");
        break;
      case spec::ConfigSource::Kind::kServiceAccount:
        out.path =
            absl::StrCat(kPrivate, "/service-account-disk/service-account.iso");
        break;
      case spec::ConfigSource::Kind::kDownwardApi:
        out.path = absl::StrCat(kPrivate, "/downwardapi-disks/", name, ".iso");
        break;
    }
    RETURN_IF_ERROR(ReadIsoSources(source, where, IsoDirs(name), out));
    return out;
  }

  absl::StatusOr<std::string> ResolveKernelBootFile(
      const spec::Vmi&, const std::string&, const std::string& path_in_image,
      absl::string_view field) const override {
    ASSIGN_OR_RETURN(std::string rel,
                     CleanInImagePath(path_in_image, "kernelBoot path", field));
    return absl::StrCat(kContainerDisks, "/kernel-boot/", rel);
  }

 private:
  std::string Inspect(absl::string_view path) const {
    return absl::StrCat(options_.inspect_root, path);
  }

  // Where the pod mounts what a volume's ISO carries (KubeVirt's
  // pkg/config): /var/run/kubevirt-private/{config-map,secret,downwardapi}/
  // <volume>, the service account's token dir, and the cloud-init secret
  // under secret/<volume>.
  IsoSourceDirs IsoDirs(const std::string& volume) const {
    IsoSourceDirs dirs;
    dirs.config = [this, volume](const spec::ConfigSource& config)
        -> absl::StatusOr<std::optional<std::string>> {
      switch (config.kind) {
        case spec::ConfigSource::Kind::kConfigMap:
          return Inspect(absl::StrCat(kPrivate, "/config-map/", volume));
        case spec::ConfigSource::Kind::kSecret:
          return Inspect(absl::StrCat(kPrivate, "/secret/", volume));
        case spec::ConfigSource::Kind::kServiceAccount:
          return Inspect(kServiceAccountDir);
        case spec::ConfigSource::Kind::kDownwardApi:
          return Inspect(absl::StrCat(kPrivate, "/downwardapi/", volume));
      }
      return std::nullopt;
    };
    dirs.cloud_init_secret = [this, volume](const std::string&)
        -> absl::StatusOr<std::string> {
      return Inspect(absl::StrCat(kPrivate, "/secret/", volume));
    };
    return dirs;
  }

  // A PVC in the pod is a block device at /dev/<volume> (volumeMode: Block)
  // or a raw disk.img on the mounted file system.
  ResolvedVolume ClaimFor(const std::string& volume) const {
    ResolvedVolume out;
    std::string dev = absl::StrCat("/dev/", volume);
    struct stat st;
    if (stat(Inspect(dev).c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
      out.kind = Kind::kBlockDevice;
      out.path = dev;
    } else {
      out.kind = Kind::kFile;
      out.path = absl::StrCat(kPrivate, "/vmi-disks/", volume, "/disk.img");
    }
    return out;
  }

  KubeVirtPodResolverOptions options_;
};

}  // namespace

std::string ImageDirName(std::string_view image_reference) {
  std::string_view ref = image_reference;
  // A digest ("@sha256:...") and a tag (":v1" after the last "/") name a
  // version of the image; the store keeps one directory per repository.
  if (size_t at = ref.find('@'); at != std::string_view::npos) {
    ref = ref.substr(0, at);
  }
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string_view::npos &&
      (slash == std::string_view::npos || colon > slash)) {
    ref = ref.substr(0, colon);
  }
  // "/" separates path components; ":" (a registry port) would be read as
  // a protocol prefix by QEMU's legacy filename syntax.
  std::string out(ref);
  std::replace(out.begin(), out.end(), '/', '_');
  std::replace(out.begin(), out.end(), ':', '_');
  return out;
}

std::unique_ptr<VolumeResolver> MakeLocalVolumeResolver(
    LocalResolverOptions options) {
  return std::make_unique<LocalVolumeResolver>(std::move(options));
}

std::unique_ptr<VolumeResolver> MakeKubeVirtPodVolumeResolver(
    KubeVirtPodResolverOptions options) {
  return std::make_unique<KubeVirtPodVolumeResolver>(std::move(options));
}

absl::StatusOr<ResolvedVolumes> ResolveVolumes(const spec::Vmi& vmi,
                                               const VolumeResolver& resolver) {
  ResolvedVolumes out;
  for (const spec::Volume& volume : vmi.volumes) {
    ASSIGN_OR_RETURN(ResolvedVolume resolved, resolver.Resolve(vmi, volume));
    if (!out.volumes.emplace(volume.name, std::move(resolved)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(VolumeWhere(vmi, volume), ": duplicate volume name"));
    }
  }
  const auto& kernel_boot = vmi.domain.firmware.kernel_boot;
  if (!kernel_boot.has_value() || !kernel_boot->container.has_value()) {
    return out;
  }
  const spec::KernelBootContainer& container = *kernel_boot->container;
  const std::string field =
      absl::StrCat(vmi.spec_path, ".domain.firmware.kernelBoot.container");
  const auto* kernel_resolver =
      dynamic_cast<const KernelBootResolver*>(&resolver);
  if (kernel_resolver == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat(field,
                     ": this volume resolver cannot resolve kernelBoot "
                     "container images"));
  }
  if (container.kernel_path.empty() && container.initrd_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": kernelPath or initrdPath is required"));
  }
  if (!container.kernel_path.empty()) {
    ASSIGN_OR_RETURN(out.kernel_path,
                     kernel_resolver->ResolveKernelBootFile(
                         vmi, container.image, container.kernel_path,
                         absl::StrCat(field, ".kernelPath")));
  }
  if (!container.initrd_path.empty()) {
    ASSIGN_OR_RETURN(out.initrd_path,
                     kernel_resolver->ResolveKernelBootFile(
                         vmi, container.image, container.initrd_path,
                         absl::StrCat(field, ".initrdPath")));
  }
  return out;
}

}  // namespace qdirect
