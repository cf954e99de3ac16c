#include "plan/iso.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "plan/files.h"

// We hand libisofs' burn_source to no libburn: use its own copy of the type.
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

namespace qdirect {
namespace {

constexpr size_t kMaxVolumeIdLength = 32;  // ISO 9660 volume identifier

absl::Status IsoError(int code, absl::string_view what,
                      const std::string& path) {
  return absl::InternalError(
      absl::StrCat("iso ", path, ": ", what, ": ", iso_error_to_msg(code)));
}

absl::Status InitLibisofs() {
  static int init_result = [] {
    int r = iso_init();
    if (r >= 0) {
      // Errors reach the caller as a Status; keep libisofs off stderr.
      char never[] = "NEVER";
      char id[] = "qdirect";
      iso_set_msgs_severities(never, never, id);
    }
    return r;
  }();
  if (init_result < 0) return IsoError(init_result, "iso_init", "");
  return absl::OkStatus();
}

struct ImageUnref {
  void operator()(IsoImage* image) const { iso_image_unref(image); }
};
struct OptsFree {
  void operator()(IsoWriteOpts* opts) const { iso_write_opts_free(opts); }
};
struct SourceFree {
  void operator()(burn_source* src) const {
    src->free_data(src);
    std::free(src);
  }
};

// Splits "a/b/c" into its components, refusing what could escape or clash.
absl::StatusOr<std::vector<std::string>> SplitIsoPath(const std::string& name,
                                                      const std::string& path) {
  if (name.empty() || name.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "iso ", path, ": file name \"", name, "\" must be a relative path"));
  }
  std::vector<std::string> parts = absl::StrSplit(name, '/');
  for (const std::string& part : parts) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("iso ", path, ": file name \"", name,
                       "\" has an empty, \".\" or \"..\" component"));
    }
    if (part.size() > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          "iso ", path, ": file name component longer than 255 bytes in \"",
          name, "\""));
    }
  }
  return parts;
}

// Finds or creates directory `name` under `parent`.
absl::StatusOr<IsoDir*> ChildDir(IsoImage* image, IsoDir* parent,
                                 const std::string& name,
                                 const std::string& full,
                                 const std::string& path) {
  IsoNode* node = nullptr;
  if (iso_dir_get_node(parent, name.c_str(), &node) == 1) {
    if (iso_node_get_type(node) != LIBISO_DIR) {
      return absl::InvalidArgumentError(absl::StrCat(
          "iso ", path, ": \"", full, "\" is both a file and a directory"));
    }
    return reinterpret_cast<IsoDir*>(node);
  }
  IsoDir* dir = nullptr;
  int r = iso_image_add_new_dir(image, parent, name.c_str(), &dir);
  if (r < 0) return IsoError(r, "add directory " + full, path);
  return dir;
}

absl::Status AddFile(IsoImage* image, IsoDir* root, const std::string& name,
                     const std::string& contents, const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitIsoPath(name, path));
  IsoDir* dir = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    ASSIGN_OR_RETURN(dir, ChildDir(image, dir, parts[i], name, path));
  }
  IsoNode* existing = nullptr;
  if (iso_dir_get_node(dir, parts.back().c_str(), &existing) == 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "iso ", path, ": \"", name, "\" is both a file and a directory"));
  }
  // The memory stream takes the buffer and free()s it.
  auto* buf = static_cast<unsigned char*>(std::malloc(contents.size() + 1));
  if (buf == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("iso ", path, ": ", name));
  }
  std::memcpy(buf, contents.data(), contents.size());
  IsoStream* stream = nullptr;
  int r = iso_memory_stream_new(buf, contents.size(), &stream);
  if (r < 0) {
    std::free(buf);
    return IsoError(r, "stream for " + name, path);
  }
  // On success the new file node takes our reference to the stream.
  r = iso_image_add_new_file(image, dir, parts.back().c_str(), stream, nullptr);
  if (r < 0) {
    iso_stream_unref(stream);
    return IsoError(r, "add file " + name, path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BuildIso(const std::string& path, const std::string& volume_label,
                      const std::map<std::string, std::string>& files) {
  if (volume_label.empty() || volume_label.size() > kMaxVolumeIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("iso ", path, ": volume label \"", volume_label,
                     "\" must be 1 to ", kMaxVolumeIdLength, " characters"));
  }
  RETURN_IF_ERROR(InitLibisofs());

  IsoImage* raw_image = nullptr;
  int r = iso_image_new(volume_label.c_str(), &raw_image);
  if (r < 0) return IsoError(r, "iso_image_new", path);
  std::unique_ptr<IsoImage, ImageUnref> image(raw_image);
  iso_image_set_volume_id(image.get(), volume_label.c_str());
  IsoDir* root = iso_image_get_root(image.get());
  for (const auto& [name, contents] : files) {
    RETURN_IF_ERROR(AddFile(image.get(), root, name, contents, path));
  }

  IsoWriteOpts* raw_opts = nullptr;
  r = iso_write_opts_new(&raw_opts, 0);
  if (r < 0) return IsoError(r, "iso_write_opts_new", path);
  std::unique_ptr<IsoWriteOpts, OptsFree> opts(raw_opts);
  iso_write_opts_set_iso_level(opts.get(), 2);
  iso_write_opts_set_rockridge(opts.get(), 1);
  iso_write_opts_set_joliet(opts.get(), 1);
  // Keep the label's case: cloud-init and udev match "cidata" / "config-2"
  // as genisoimage writes them, not upper-cased d-characters.
  iso_write_opts_set_relaxed_vol_atts(opts.get(), 1);
  // Everything readable, nothing executable, owned by root: the guest reads
  // the disk as any user may (genisoimage -r does the same).
  iso_write_opts_set_replace_mode(opts.get(), 1, 1, 1, 1);
  iso_write_opts_set_default_file_mode(opts.get(), 0444);
  iso_write_opts_set_default_dir_mode(opts.get(), 0555);
  iso_write_opts_set_default_uid(opts.get(), 0);
  iso_write_opts_set_default_gid(opts.get(), 0);

  burn_source* raw_src = nullptr;
  r = iso_image_create_burn_source(image.get(), opts.get(), &raw_src);
  if (r < 0) return IsoError(r, "iso_image_create_burn_source", path);
  std::unique_ptr<burn_source, SourceFree> src(raw_src);

  ASSIGN_OR_RETURN(StagedFile staged, StagedFile::Create(path));
  // One 2048-byte block per read: burn sources are read block by block.
  std::vector<unsigned char> buf(2048);
  int64_t offset = 0;
  for (;;) {
    int n = src->read_xt(src.get(), buf.data(), static_cast<int>(buf.size()));
    if (n < 0) {
      src->cancel(src.get());
      return absl::InternalError(
          absl::StrCat("iso ", path, ": libisofs failed writing the image"));
    }
    if (n == 0) break;
    absl::Status written =
        WriteAllAt(staged.fd(), buf.data(), static_cast<size_t>(n), offset,
                   "iso " + staged.temp_path());
    if (!written.ok()) {
      src->cancel(src.get());
      return written;
    }
    offset += n;
  }
  return staged.Commit();
}

}  // namespace qdirect
