#pragma once

// Disk image files: format detection by magic, virtual size, and the two
// images the launcher creates itself (a qcow2 overlay over a read-only base,
// a sparse raw image), written in process so starting a VM runs no qemu-img.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qdirect {

// What the first bytes of an image file say about it.
struct ImageInfo {
  std::string format = "raw";  // "raw" or "qcow2"
  int64_t virtual_size = 0;    // bytes the guest sees
  // qcow2 only: the backing file name stored in the header ("" if none) and
  // whether it keeps its data in an external file. Either makes QEMU open a
  // second host file named by the image itself.
  std::string backing_file;
  bool external_data_file = false;
};

// Reads the header of the file or block device at `path`: qcow2 when it
// starts with "QFI\xfb", else raw (size: file size, or the device size).
absl::StatusOr<ImageInfo> ReadImageInfo(const std::string& path);

// Creates a qcow2 v3 image at `path` (64 KiB clusters, no data clusters)
// whose backing file is `backing_path` in `backing_format` ("raw" or
// "qcow2"). size_bytes <= 0 means the backing file's virtual size. The size
// is rounded up to 512 bytes, as qemu-img does. Written to a temporary file
// in the same directory and renamed into place; an existing `path` is
// replaced (callers decide whether that is allowed).
absl::Status CreateQcow2Overlay(const std::string& path,
                                const std::string& backing_path,
                                const std::string& backing_format,
                                int64_t size_bytes = 0);

// Creates a sparse raw image of size_bytes (ftruncate), atomically as above.
absl::Status CreateRawImage(const std::string& path, int64_t size_bytes);

}  // namespace qdirect
