#include "plan/qcow2.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "plan/files.h"
#include "qdirect/unique_fd.h"

namespace qdirect {
namespace {

constexpr char kQcow2Magic[4] = {'Q', 'F', 'I', '\xfb'};
constexpr int kClusterBits = 16;  // 64 KiB, qemu-img's default
constexpr int64_t kClusterSize = int64_t{1} << kClusterBits;
constexpr uint32_t kHeaderLength = 104;  // qcow2 v3 without optional fields
constexpr uint32_t kBackingFormatExtension = 0xe2792aca;
constexpr uint64_t kIncompatDataFile = uint64_t{1} << 2;
constexpr int kMaxBackingNameLength = 1023;  // QEMU refuses longer names
// QEMU caps the L1 table at 32 MiB (4 M entries of 512 MiB each); stay
// well inside it.
constexpr int64_t kMaxVirtualSize = int64_t{1} << 50;  // 1 PiB

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err, what);
}

uint32_t Be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t Be64(const unsigned char* p) {
  return (uint64_t{Be32(p)} << 32) | Be32(p + 4);
}
void PutBe32(unsigned char* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v);
}
void PutBe64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v);
}

absl::Status ReadAllAt(int fd, void* data, size_t size, int64_t offset,
                       absl::string_view what) {
  auto* p = static_cast<unsigned char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, p + done, size - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", what));
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat(what, ": truncated (", done, " of ", size, " bytes)"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> FileOrDeviceSize(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, "stat " + path);
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
      return ErrnoStatus(errno, "BLKGETSIZE64 " + path);
    }
    return static_cast<int64_t>(bytes);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file or block device"));
  }
  return static_cast<int64_t>(st.st_size);
}

absl::StatusOr<ImageInfo> ReadQcow2Info(int fd, const std::string& path) {
  unsigned char h[kHeaderLength] = {};
  RETURN_IF_ERROR(ReadAllAt(fd, h, 72, 0, path + " qcow2 header"));
  ImageInfo info;
  info.format = "qcow2";
  uint32_t version = Be32(h + 4);
  if (version != 2 && version != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unsupported qcow2 version ", version));
  }
  uint64_t size = Be64(h + 24);
  if (size > static_cast<uint64_t>(kMaxVirtualSize)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": qcow2 virtual size ", size, " is too large"));
  }
  info.virtual_size = static_cast<int64_t>(size);
  if (version == 3) {
    RETURN_IF_ERROR(ReadAllAt(fd, h + 72, 8, 72, path + " qcow2 header"));
    info.external_data_file = (Be64(h + 72) & kIncompatDataFile) != 0;
  }
  uint64_t backing_offset = Be64(h + 8);
  uint32_t backing_size = Be32(h + 16);
  if (backing_offset != 0 && backing_size != 0) {
    if (backing_size > kMaxBackingNameLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": qcow2 backing file name of ", backing_size, " bytes"));
    }
    info.backing_file.resize(backing_size);
    RETURN_IF_ERROR(ReadAllAt(fd, info.backing_file.data(), backing_size,
                              static_cast<int64_t>(backing_offset),
                              path + " qcow2 backing file name"));
  }
  return info;
}

// The extension area: backing format, then the end marker; each entry's
// data padded to 8 bytes.
std::vector<unsigned char> HeaderExtensions(const std::string& format) {
  size_t padded = (format.size() + 7) / 8 * 8;
  std::vector<unsigned char> ext(8 + padded + 8, 0);
  PutBe32(ext.data(), kBackingFormatExtension);
  PutBe32(ext.data() + 4, static_cast<uint32_t>(format.size()));
  std::memcpy(ext.data() + 8, format.data(), format.size());
  return ext;  // trailing 8 zero bytes: type 0, length 0 (end)
}

}  // namespace

absl::StatusOr<ImageInfo> ReadImageInfo(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, "open " + path);
  ASSIGN_OR_RETURN(int64_t file_size, FileOrDeviceSize(fd.get(), path));
  char magic[4] = {};
  if (file_size >= 4) {
    RETURN_IF_ERROR(ReadAllAt(fd.get(), magic, 4, 0, path));
  }
  if (file_size >= 4 && std::memcmp(magic, kQcow2Magic, 4) == 0) {
    return ReadQcow2Info(fd.get(), path);
  }
  ImageInfo info;
  info.virtual_size = file_size;
  return info;
}

absl::Status CreateQcow2Overlay(const std::string& path,
                                const std::string& backing_path,
                                const std::string& backing_format,
                                int64_t size_bytes) {
  if (backing_format != "raw" && backing_format != "qcow2") {
    return absl::InvalidArgumentError(absl::StrCat(
        "qcow2 overlay ", path, ": unsupported backing format \"",
        backing_format, "\": supported values: \"qcow2\", \"raw\""));
  }
  // QEMU resolves a relative backing name against the overlay's directory
  // and treats "proto:..." as a protocol: only absolute paths are safe.
  if (backing_path.empty() || backing_path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("qcow2 overlay ", path, ": backing file \"", backing_path,
                     "\" must be an absolute path"));
  }
  if (backing_path.size() > kMaxBackingNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("qcow2 overlay ", path, ": backing file name longer than ",
                     kMaxBackingNameLength, " bytes"));
  }
  if (size_bytes <= 0) {
    ASSIGN_OR_RETURN(ImageInfo base, ReadImageInfo(backing_path));
    if (base.format != backing_format) {
      return absl::InvalidArgumentError(
          absl::StrCat("qcow2 overlay ", path, ": backing file ", backing_path,
                       " is ", base.format, ", not ", backing_format));
    }
    size_bytes = base.virtual_size;
  }
  if (size_bytes <= 0 || size_bytes > kMaxVirtualSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "qcow2 overlay ", path, ": invalid virtual size ", size_bytes));
  }
  const uint64_t size = (static_cast<uint64_t>(size_bytes) + 511) / 512 * 512;

  // Layout, as qemu-img lays out a fresh image: cluster 0 header (+
  // extensions + backing name), 1 refcount table, 2 refcount block, 3.. L1.
  const uint64_t l2_entries = kClusterSize / 8;
  const uint64_t bytes_per_l1 = l2_entries * kClusterSize;  // 512 MiB
  const uint64_t l1_size = (size + bytes_per_l1 - 1) / bytes_per_l1;
  const uint64_t l1_clusters = (l1_size * 8 + kClusterSize - 1) / kClusterSize;
  const uint64_t refcount_table_offset = 1 * kClusterSize;
  const uint64_t refblock_offset = 2 * kClusterSize;
  const uint64_t l1_offset = 3 * kClusterSize;
  const uint64_t total_clusters = 3 + l1_clusters;

  std::vector<unsigned char> ext = HeaderExtensions(backing_format);
  const uint64_t backing_offset = kHeaderLength + ext.size();
  std::vector<unsigned char> cluster0(backing_offset + backing_path.size(), 0);
  unsigned char* h = cluster0.data();
  std::memcpy(h, kQcow2Magic, 4);
  PutBe32(h + 4, 3);               // version
  PutBe64(h + 8, backing_offset);  // backing_file_offset
  PutBe32(h + 16, static_cast<uint32_t>(backing_path.size()));
  PutBe32(h + 20, kClusterBits);
  PutBe64(h + 24, size);
  PutBe32(h + 32, 0);  // crypt_method
  PutBe32(h + 36, static_cast<uint32_t>(l1_size));
  PutBe64(h + 40, l1_offset);
  PutBe64(h + 48, refcount_table_offset);
  PutBe32(h + 56, 1);  // refcount_table_clusters
  // nb_snapshots, snapshots_offset, feature bits: 0.
  PutBe32(h + 96, 4);  // refcount_order: 16-bit
  PutBe32(h + 100, kHeaderLength);
  std::memcpy(h + kHeaderLength, ext.data(), ext.size());
  std::memcpy(h + backing_offset, backing_path.data(), backing_path.size());

  unsigned char reftable[8];
  PutBe64(reftable, refblock_offset);
  // Every metadata cluster is referenced once; 16-bit entries.
  std::vector<unsigned char> refblock(total_clusters * 2, 0);
  for (uint64_t i = 0; i < total_clusters; ++i) refblock[i * 2 + 1] = 1;

  ASSIGN_OR_RETURN(StagedFile staged, StagedFile::Create(path));
  const std::string what = "qcow2 overlay " + staged.temp_path();
  // ftruncate first: the L1 table and the rest stay zero (sparse).
  if (ftruncate(staged.fd(), total_clusters * kClusterSize) != 0) {
    return ErrnoStatus(errno, "ftruncate " + what);
  }
  RETURN_IF_ERROR(
      WriteAllAt(staged.fd(), cluster0.data(), cluster0.size(), 0, what));
  RETURN_IF_ERROR(WriteAllAt(staged.fd(), reftable, sizeof(reftable),
                             refcount_table_offset, what));
  RETURN_IF_ERROR(WriteAllAt(staged.fd(), refblock.data(), refblock.size(),
                             refblock_offset, what));
  return staged.Commit();
}

absl::Status CreateRawImage(const std::string& path, int64_t size_bytes) {
  if (size_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw image ", path, ": invalid size ", size_bytes));
  }
  ASSIGN_OR_RETURN(StagedFile staged, StagedFile::Create(path));
  if (ftruncate(staged.fd(), size_bytes) != 0) {
    return ErrnoStatus(errno, "ftruncate raw image " + staged.temp_path());
  }
  return staged.Commit();
}

}  // namespace qdirect
