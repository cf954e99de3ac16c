#include "plan/resolver.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plan/qcow2.h"
#include "qdirect/plan.h"
#include "file_test_util.h"

namespace qdirect {
namespace {

using plan_test::TempDir;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using Kind = ResolvedVolume::Kind;

void MakeDirs(const std::string& path) {
  ASSERT_EQ(std::system(("mkdir -p '" + path + "'").c_str()), 0);
}

void WriteFile(const std::string& path, const std::string& data) {
  std::string dir = path.substr(0, path.rfind('/'));
  MakeDirs(dir);
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  fwrite(data.data(), 1, data.size(), f);
  fclose(f);
}

void MakeQcow2(const std::string& path, const std::string& extra = "") {
  std::string dir = path.substr(0, path.rfind('/'));
  MakeDirs(dir);
  ASSERT_EQ(std::system(("qemu-img create -q -f qcow2 " + extra + " '" + path +
                         "' 1M >/dev/null 2>&1")
                            .c_str()),
            0);
}

// A block device node, or "" when this sandbox may not make one.
std::string MakeBlockNode(const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0) return "";
  if (mknod(path.c_str(), S_IFBLK | 0600, makedev(7, 0)) != 0) return "";
  return path;
}

spec::Volume Vol(const std::string& name, spec::VolumeSource source) {
  spec::Volume v;
  v.name = name;
  v.source = std::move(source);
  return v;
}

spec::Vmi VmiWith(std::vector<spec::Volume> volumes) {
  spec::Vmi vmi;
  vmi.metadata.name = "vm1";
  vmi.metadata.namespace_ = "ns1";
  vmi.volumes = std::move(volumes);
  return vmi;
}

spec::ContainerDiskSource ContainerDisk(const std::string& image,
                                        const std::string& path = "") {
  spec::ContainerDiskSource cd;
  cd.image = image;
  cd.path = path;
  return cd;
}

spec::PersistentVolumeClaimSource Claim(const std::string& name) {
  spec::PersistentVolumeClaimSource pvc;
  pvc.claim_name = name;
  return pvc;
}

spec::HostDiskSource HostDisk(const std::string& path,
                              const std::string& type = "Disk") {
  spec::HostDiskSource h;
  h.path = path;
  h.type = type;
  return h;
}

spec::Quantity Bytes(int64_t n) {
  spec::Quantity q;
  q.text = std::to_string(n);
  q.value = n;
  q.milli = n * 1000;
  return q;
}

// A store layout: <root>/images, <root>/pvc, <root>/host, <root>/vm.
struct Store {
  TempDir dir;
  LocalResolverOptions options;
  Store() {
    options.image_dir = dir / "images";
    options.pvc_dir = dir / "pvc";
    options.allowed_roots = {dir / "host"};
    options.vm_dir = dir / "vm";
    options.config_dir = dir / "config";
    MakeDirs(options.image_dir);
    MakeDirs(options.pvc_dir);
    MakeDirs(dir / "host");
  }
  absl::StatusOr<ResolvedVolume> Resolve(const spec::Volume& volume) const {
    spec::Vmi vmi = VmiWith({volume});
    return MakeLocalVolumeResolver(options)->Resolve(vmi, vmi.volumes[0]);
  }
};

// ---------------------------------------------------------------------------
// ImageDirName

TEST(ImageDirName, DropsTheTag) {
  EXPECT_EQ(ImageDirName("quay.io/kubevirt/cirros:v1"),
            "quay.io_kubevirt_cirros");
}

TEST(ImageDirName, KeepsTheRegistryPortAndDropsTheTag) {
  EXPECT_EQ(ImageDirName("localhost:5000/x:tag"), "localhost_5000_x");
  EXPECT_EQ(ImageDirName("localhost:5000/x"), "localhost_5000_x");
}

TEST(ImageDirName, DropsTheDigest) {
  EXPECT_EQ(ImageDirName("quay.io/x@sha256:0123abcd"), "quay.io_x");
  EXPECT_EQ(ImageDirName("quay.io/x:v1@sha256:0123abcd"), "quay.io_x");
}

TEST(ImageDirName, BareNameStaysAsIs) {
  EXPECT_EQ(ImageDirName("cirros"), "cirros");
}

// ---------------------------------------------------------------------------
// containerDisk

TEST(LocalResolver, ContainerDiskIsAnOverlayOverDisksSingleFile) {
  Store s;
  std::string base =
      s.options.image_dir + "/quay.io_kubevirt_cirros/disk/c.qcow2";
  MakeQcow2(base);
  auto r = s.Resolve(Vol("os", ContainerDisk("quay.io/kubevirt/cirros:v1")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kOverlay);
  EXPECT_EQ(r->path, s.options.vm_dir + "/os.qcow2");
  EXPECT_EQ(r->format, "qcow2");
  EXPECT_EQ(r->backing_path, base);
  EXPECT_EQ(r->backing_format, "qcow2");
}

TEST(LocalResolver, ContainerDiskRawBaseIsDetectedAsRaw) {
  Store s;
  WriteFile(s.options.image_dir + "/img/disk/disk.img", std::string(4096, 0));
  auto r = s.Resolve(Vol("os", ContainerDisk("img:latest")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->backing_format, "raw");
}

TEST(LocalResolver, ContainerDiskPathIsRelativeToTheImageRoot) {
  Store s;
  std::string file = s.options.image_dir + "/img/custom/my.img";
  WriteFile(file, "raw");
  auto r = s.Resolve(Vol("os", ContainerDisk("img", "/custom/my.img")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->backing_path, file);
}

TEST(LocalResolver, MissingImageIsNotFoundNamingTheVolume) {
  Store s;
  auto r = s.Resolve(Vol("os-disk", ContainerDisk("quay.io/x")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "spec.volumes[0] \"os-disk\": containerDisk image \"quay.io/x\" "
            "not found in image store " +
                s.options.image_dir + ": no directory quay.io_x");
}

TEST(LocalResolver, ContainerDiskDotDotPathIsRefused) {
  Store s;
  WriteFile(s.options.image_dir + "/img/disk/d.img", "raw");
  WriteFile(s.options.image_dir + "/other/disk/d.img", "raw");
  auto r = s.Resolve(Vol("os", ContainerDisk("img", "../other/disk/d.img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("\"..\""));
}

TEST(LocalResolver, ContainerDiskSymlinkOutOfTheImageIsRefused) {
  Store s;
  WriteFile(s.dir / "secret", "host file");
  MakeDirs(s.options.image_dir + "/img/disk");
  ASSERT_EQ(symlink((s.dir / "secret").c_str(),
                    (s.options.image_dir + "/img/disk/d.img").c_str()),
            0);
  auto r = s.Resolve(Vol("os", ContainerDisk("img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("outside the image directory"));
}

TEST(LocalResolver, ContainerDiskWithTwoDiskFilesIsRefused) {
  Store s;
  WriteFile(s.options.image_dir + "/img/disk/a.img", "a");
  WriteFile(s.options.image_dir + "/img/disk/b.img", "b");
  auto r = s.Resolve(Vol("os", ContainerDisk("img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("a.img, b.img"));
}

TEST(LocalResolver, ContainerDiskQcow2WithItsOwnBackingFileIsRefused) {
  Store s;
  WriteFile(s.dir / "host-file", std::string(4096, 0));
  MakeQcow2(s.options.image_dir + "/img/disk/d.qcow2",
            "-F raw -b " + (s.dir / "host-file"));
  auto r = s.Resolve(Vol("os", ContainerDisk("img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("backing file"));
}

TEST(LocalResolver, OverlayWithoutVmDirIsFailedPrecondition) {
  Store s;
  s.options.vm_dir.clear();
  WriteFile(s.options.image_dir + "/img/disk/d.img", "raw");
  auto r = s.Resolve(Vol("os", ContainerDisk("img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------
// PVC and DataVolume

TEST(LocalResolver, PvcBareFileIsAFileWithItsFormatFromTheMagic) {
  Store s;
  MakeQcow2(s.options.pvc_dir + "/data");
  auto r = s.Resolve(Vol("d", Claim("data")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kFile);
  EXPECT_EQ(r->path, s.options.pvc_dir + "/data");
  EXPECT_EQ(r->format, "qcow2");
}

TEST(LocalResolver, PvcRawFileIsRaw) {
  Store s;
  WriteFile(s.options.pvc_dir + "/data", std::string(4096, 0));
  auto r = s.Resolve(Vol("d", Claim("data")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->format, "raw");
}

TEST(LocalResolver, PvcQcow2SuffixIsFound) {
  Store s;
  MakeQcow2(s.options.pvc_dir + "/data.qcow2");
  auto r = s.Resolve(Vol("d", Claim("data")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path, s.options.pvc_dir + "/data.qcow2");
  EXPECT_EQ(r->format, "qcow2");
}

TEST(LocalResolver, PvcImgSuffixStaysRawWhateverTheGuestWroteInIt) {
  Store s;
  MakeQcow2(s.options.pvc_dir + "/data.img");  // a qcow2 header in a raw disk
  auto r = s.Resolve(Vol("d", Claim("data")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->format, "raw");
}

TEST(LocalResolver, PvcReadOnlyIsCarried) {
  Store s;
  WriteFile(s.options.pvc_dir + "/data.raw", "x");
  spec::PersistentVolumeClaimSource pvc = Claim("data");
  pvc.read_only = true;
  auto r = s.Resolve(Vol("d", pvc));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->read_only);
}

TEST(LocalResolver, MissingClaimIsNotFoundNamingTheVolume) {
  Store s;
  auto r = s.Resolve(Vol("d", Claim("nope")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(),
              HasSubstr("spec.volumes[0] \"d\": persistentVolumeClaim \"nope\" "
                        "not found in " +
                        s.options.pvc_dir));
}

TEST(LocalResolver, PvcSymlinkOutOfThePvcDirIsRefused) {
  Store s;
  WriteFile(s.dir / "elsewhere.img", "x");
  ASSERT_EQ(symlink((s.dir / "elsewhere.img").c_str(),
                    (s.options.pvc_dir + "/data").c_str()),
            0);
  auto r = s.Resolve(Vol("d", Claim("data")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(LocalResolver, ClaimNameWithSlashIsRefused) {
  Store s;
  auto r = s.Resolve(Vol("d", Claim("../pvc/x")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LocalResolver, PvcBlockDeviceIsABlockDevice) {
  Store s;
  if (MakeBlockNode(s.options.pvc_dir + "/blk").empty()) {
    GTEST_SKIP() << "cannot create a block device node here";
  }
  auto r = s.Resolve(Vol("d", Claim("blk")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kBlockDevice);
  EXPECT_EQ(r->format, "raw");
}

TEST(LocalResolver, DataVolumeResolvesLikeAClaim) {
  Store s;
  WriteFile(s.options.pvc_dir + "/dv1.img", "x");
  spec::DataVolumeSource dv;
  dv.name = "dv1";
  auto r = s.Resolve(Vol("d", dv));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kFile);
  EXPECT_EQ(r->path, s.options.pvc_dir + "/dv1.img");
}

TEST(LocalResolver, EphemeralIsAnOverlayOverTheClaim) {
  Store s;
  WriteFile(s.options.pvc_dir + "/data.raw", std::string(4096, 0));
  spec::EphemeralSource eph;
  eph.persistent_volume_claim = Claim("data");
  auto r = s.Resolve(Vol("e", eph));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kOverlay);
  EXPECT_EQ(r->path, s.options.vm_dir + "/e.qcow2");
  EXPECT_EQ(r->backing_path, s.options.pvc_dir + "/data.raw");
  EXPECT_EQ(r->backing_format, "raw");
}

// ---------------------------------------------------------------------------
// hostDisk

TEST(LocalResolver, HostDiskUnderAnAllowedRootIsARawFile) {
  Store s;
  WriteFile(s.dir / "host/disk.img", "x");
  spec::HostDiskSource h = HostDisk(s.dir / "host/disk.img");
  h.shared = true;
  auto r = s.Resolve(Vol("h", h));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kFile);
  EXPECT_EQ(r->format, "raw");
  EXPECT_TRUE(r->shared);
}

TEST(LocalResolver, HostDiskOutsideTheRootsIsDeniedNamingPathAndRoots) {
  Store s;
  WriteFile(s.dir / "other/disk.img", "x");
  auto r = s.Resolve(Vol("h", HostDisk(s.dir / "other/disk.img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr(s.dir / "other/disk.img"));
  EXPECT_THAT(r.status().message(), HasSubstr(s.dir / "host"));
}

TEST(LocalResolver, HostDiskSymlinkEscapeIsDenied) {
  Store s;
  WriteFile(s.dir / "other/disk.img", "x");
  ASSERT_EQ(symlink((s.dir / "other").c_str(), (s.dir / "host/link").c_str()),
            0);
  auto r = s.Resolve(Vol("h", HostDisk(s.dir / "host/link/disk.img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("resolves to"));
}

TEST(LocalResolver, HostDiskDotDotIsRefused) {
  Store s;
  WriteFile(s.dir / "other/disk.img", "x");
  auto r = s.Resolve(Vol("h", HostDisk(s.dir / "host/../other/disk.img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(LocalResolver, HostDiskWithNoAllowedRootsIsDenied) {
  Store s;
  s.options.allowed_roots.clear();
  WriteFile(s.dir / "host/disk.img", "x");
  auto r = s.Resolve(Vol("h", HostDisk(s.dir / "host/disk.img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("none configured"));
}

TEST(LocalResolver, MissingHostDiskOrCreateIsCreatedWithItsCapacity) {
  Store s;
  spec::HostDiskSource h =
      HostDisk(s.dir / "host/new/disk.img", "DiskOrCreate");
  h.capacity = Bytes(1 << 20);
  auto r = s.Resolve(Vol("h", h));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kCreate);
  EXPECT_EQ(r->path, s.dir / "host/new/disk.img");
  EXPECT_EQ(r->size_bytes, 1 << 20);
}

TEST(LocalResolver, MissingHostDiskIsNotFound) {
  Store s;
  auto r = s.Resolve(Vol("h", HostDisk(s.dir / "host/none.img")));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Files the VM gets of its own

TEST(LocalResolver, EmptyDiskIsARawImageToCreateInTheVmDir) {
  Store s;
  spec::EmptyDiskSource e;
  e.capacity = Bytes(int64_t{2} << 30);
  auto r = s.Resolve(Vol("scratch", e));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kCreate);
  EXPECT_EQ(r->path, s.options.vm_dir + "/scratch.img");
  EXPECT_EQ(r->format, "raw");
  EXPECT_EQ(r->size_bytes, int64_t{2} << 30);
}

TEST(LocalResolver, CloudInitIsAReadOnlyIsoInTheVmDir) {
  Store s;
  spec::CloudInitSource ci;
  ci.user_data = "#cloud-config\n";
  auto r = s.Resolve(Vol("cloudinitdisk", ci));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kIso);
  EXPECT_EQ(r->path, s.options.vm_dir + "/cloudinitdisk.iso");
  EXPECT_TRUE(r->read_only);
}

TEST(LocalResolver, SecretIsAnIsoOfTheSecretsKeys) {
  Store s;
  WriteFile(s.options.config_dir + "/secrets/db-creds/password", "hunter2");
  spec::ConfigSource secret;
  secret.kind = spec::ConfigSource::Kind::kSecret;
  secret.name = "db-creds";
  auto r = s.Resolve(Vol("creds", secret));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kIso);
  EXPECT_EQ(r->path, s.options.vm_dir + "/creds.iso");
  EXPECT_THAT(r->config_files, ElementsAre(Pair("password", "hunter2")));
}

TEST(LocalResolver, ConfigMapAndServiceAccountComeFromTheirConfigDirs) {
  Store s;
  WriteFile(s.options.config_dir + "/configmaps/app/app.properties", "x=1\n");
  WriteFile(s.options.config_dir + "/serviceaccounts/builder/token", "t0k");
  spec::ConfigSource cm, sa;
  cm.kind = spec::ConfigSource::Kind::kConfigMap;
  cm.name = "app";
  sa.kind = spec::ConfigSource::Kind::kServiceAccount;
  sa.name = "builder";
  auto r = s.Resolve(Vol("cfg", cm));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->config_files, ElementsAre(Pair("app.properties", "x=1\n")));
  r = s.Resolve(Vol("sa", sa));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->config_files, ElementsAre(Pair("token", "t0k")));
}

TEST(LocalResolver, MissingConfigMapIsNotFoundNamingTheVolumeAndTheDir) {
  Store s;
  spec::ConfigSource cm;
  cm.kind = spec::ConfigSource::Kind::kConfigMap;
  cm.name = "app";
  auto r = s.Resolve(Vol("cfg", cm));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("spec.volumes[0] \"cfg\": configMap \"app\": no directory " +
                        s.options.config_dir + "/configmaps/app"));
}

TEST(LocalResolver, OptionalMissingSecretIsAnEmptyVolume) {
  Store s;
  spec::ConfigSource secret;
  secret.kind = spec::ConfigSource::Kind::kSecret;
  secret.name = "maybe";
  secret.optional = true;
  auto r = s.Resolve(Vol("creds", secret));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->config_files.empty());
}

TEST(LocalResolver, ConfigMapNameWithSlashIsRefused) {
  Store s;
  spec::ConfigSource cm;
  cm.kind = spec::ConfigSource::Kind::kConfigMap;
  cm.name = "../secrets/db";
  auto r = s.Resolve(Vol("cfg", cm));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LocalResolver, CloudInitSecretRefsReadUserdataAndNetworkData) {
  Store s;
  WriteFile(s.options.config_dir + "/secrets/ud/userdata", "#cloud-config\n");
  WriteFile(s.options.config_dir + "/secrets/nd/networkData", "version: 2\n");
  spec::CloudInitSource ci;
  ci.user_data_secret_ref = "ud";
  ci.network_data_secret_ref = "nd";
  auto r = s.Resolve(Vol("cloudinitdisk", ci));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->secret_user_data, "#cloud-config\n");
  EXPECT_EQ(r->secret_network_data, "version: 2\n");
}

TEST(LocalResolver, CloudInitSecretWithoutTheKeyIsNotFoundNamingIt) {
  Store s;
  WriteFile(s.options.config_dir + "/secrets/ud/other", "x");
  spec::CloudInitSource ci;
  ci.user_data_secret_ref = "ud";
  auto r = s.Resolve(Vol("cloudinitdisk", ci));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("secretRef \"ud\": " + s.options.config_dir +
                        "/secrets/ud has no key \"userdata\" or \"userData\""));
}

// ---------------------------------------------------------------------------
// ResolveVolumes

spec::Vmi KernelBootVmi(const std::string& kernel, const std::string& initrd) {
  spec::Vmi vmi = VmiWith({});
  spec::KernelBoot kb;
  spec::KernelBootContainer c;
  c.image = "quay.io/k/boot:v2";
  c.kernel_path = kernel;
  c.initrd_path = initrd;
  kb.container = c;
  vmi.domain.firmware.kernel_boot = kb;
  return vmi;
}

TEST(ResolveVolumes, ResolvesEveryVolumeByName) {
  Store s;
  WriteFile(s.options.image_dir + "/img/disk/d.img", "raw");
  spec::CloudInitSource ci;
  spec::Vmi vmi = VmiWith({Vol("os", ContainerDisk("img")), Vol("ci", ci)});
  auto r = ResolveVolumes(vmi, *MakeLocalVolumeResolver(s.options));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->volumes.size(), 2u);
  EXPECT_EQ(r->volumes.at("os").kind, Kind::kOverlay);
  EXPECT_EQ(r->volumes.at("ci").kind, Kind::kIso);
}

TEST(ResolveVolumes, ErrorNamesTheFailingVolumesIndex) {
  Store s;
  spec::CloudInitSource ci;
  spec::Vmi vmi = VmiWith({Vol("ci", ci), Vol("os", ContainerDisk("gone"))});
  auto r = ResolveVolumes(vmi, *MakeLocalVolumeResolver(s.options));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("spec.volumes[1] \"os\""));
}

TEST(ResolveVolumes, KernelBootPathsAreAbsoluteInTheImage) {
  Store s;
  std::string root = s.options.image_dir + "/quay.io_k_boot";
  WriteFile(root + "/boot/vmlinuz", "k");
  WriteFile(root + "/boot/initrd.img", "i");
  auto r = ResolveVolumes(KernelBootVmi("/boot/vmlinuz", "/boot/initrd.img"),
                          *MakeLocalVolumeResolver(s.options));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kernel_path, root + "/boot/vmlinuz");
  EXPECT_EQ(r->initrd_path, root + "/boot/initrd.img");
}

TEST(ResolveVolumes, KernelBootDotDotEscapeIsRefused) {
  Store s;
  WriteFile(s.options.image_dir + "/quay.io_k_boot/boot/vmlinuz", "k");
  auto r = ResolveVolumes(KernelBootVmi("/boot/../../../etc/passwd", ""),
                          *MakeLocalVolumeResolver(s.options));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(
      r.status().message(),
      HasSubstr("spec.domain.firmware.kernelBoot.container.kernelPath"));
}

class OnlyVolumes final : public VolumeResolver {
 public:
  absl::StatusOr<ResolvedVolume> Resolve(const spec::Vmi&,
                                         const spec::Volume&) const override {
    return ResolvedVolume{};
  }
};

TEST(ResolveVolumes, KernelBootNeedsAResolverThatKnowsImages) {
  auto r = ResolveVolumes(KernelBootVmi("/vmlinuz", ""), OnlyVolumes());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
}

// ---------------------------------------------------------------------------
// KubeVirt's in-pod paths

struct Pod {
  TempDir dir;
  absl::StatusOr<ResolvedVolume> Resolve(const spec::Vmi& vmi,
                                         size_t index) const {
    KubeVirtPodResolverOptions options;
    options.inspect_root = dir.path();
    return MakeKubeVirtPodVolumeResolver(options)->Resolve(vmi,
                                                           vmi.volumes[index]);
  }
};

TEST(PodResolver, ContainerDiskUsesItsVolumeIndexAndAnEphemeralOverlay) {
  Pod pod;
  MakeQcow2(pod.dir / "var/run/kubevirt/container-disks/disk_1.img");
  spec::CloudInitSource ci;
  spec::Vmi vmi = VmiWith({Vol("ci", ci), Vol("os", ContainerDisk("img"))});
  auto r = pod.Resolve(vmi, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kOverlay);
  EXPECT_EQ(r->backing_path, "/var/run/kubevirt/container-disks/disk_1.img");
  EXPECT_EQ(r->backing_format, "qcow2");
  EXPECT_EQ(r->path,
            "/var/run/kubevirt-ephemeral-disks/disk-data/os/disk.qcow2");
}

TEST(PodResolver, MissingContainerDiskIsNotFound) {
  Pod pod;
  spec::Vmi vmi = VmiWith({Vol("os", ContainerDisk("img"))});
  EXPECT_EQ(pod.Resolve(vmi, 0).status().code(), absl::StatusCode::kNotFound);
}

TEST(PodResolver, FilesystemPvcIsDiskImgInVmiDisks) {
  Pod pod;
  spec::Vmi vmi = VmiWith({Vol("data", Claim("claim1"))});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kFile);
  EXPECT_EQ(r->path, "/var/run/kubevirt-private/vmi-disks/data/disk.img");
}

TEST(PodResolver, BlockPvcIsDevVolume) {
  Pod pod;
  if (MakeBlockNode(pod.dir / "dev/data").empty()) {
    GTEST_SKIP() << "cannot create a block device node here";
  }
  spec::Vmi vmi = VmiWith({Vol("data", Claim("claim1"))});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kBlockDevice);
  EXPECT_EQ(r->path, "/dev/data");
}

TEST(PodResolver, CloudInitNoCloudIsUnderNamespaceAndName) {
  Pod pod;
  spec::CloudInitSource ci;
  spec::Vmi vmi = VmiWith({Vol("ci", ci)});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path,
            "/var/run/kubevirt-ephemeral-disks/cloud-init-data/ns1/vm1/"
            "noCloud.iso");
}

TEST(PodResolver, ConfigDriveIsConfigdriveIso) {
  Pod pod;
  spec::CloudInitSource ci;
  ci.flavor = spec::CloudInitSource::Flavor::kConfigDrive;
  spec::Vmi vmi = VmiWith({Vol("ci", ci)});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->path,
            "/var/run/kubevirt-ephemeral-disks/cloud-init-data/ns1/vm1/"
            "configdrive.iso");
}

TEST(PodResolver, ConfigVolumesUseKubeVirtsDiskDirectories) {
  Pod pod;
  MakeDirs(pod.dir / "var/run/kubevirt-private/config-map/cm");
  MakeDirs(pod.dir / "var/run/kubevirt-private/secret/sec");
  MakeDirs(pod.dir / "var/run/secrets/kubernetes.io/serviceaccount");
  spec::ConfigSource cm, secret, sa;
  cm.kind = spec::ConfigSource::Kind::kConfigMap;
  secret.kind = spec::ConfigSource::Kind::kSecret;
  sa.kind = spec::ConfigSource::Kind::kServiceAccount;
  spec::Vmi vmi = VmiWith({Vol("cm", cm), Vol("sec", secret), Vol("sa", sa)});
  EXPECT_EQ(pod.Resolve(vmi, 0)->path,
            "/var/run/kubevirt-private/config-map-disks/cm.iso");
  EXPECT_EQ(pod.Resolve(vmi, 1)->path,
            "/var/run/kubevirt-private/secret-disks/sec.iso");
  EXPECT_EQ(pod.Resolve(vmi, 2)->path,
            "/var/run/kubevirt-private/service-account-disk/"
            "service-account.iso");
}

TEST(PodResolver, ConfigVolumeFilesAreWhatThePodMounted) {
  Pod pod;
  WriteFile(pod.dir / "var/run/kubevirt-private/config-map/cm/key", "value");
  WriteFile(pod.dir / "var/run/secrets/kubernetes.io/serviceaccount/token", "t");
  spec::ConfigSource cm, sa;
  cm.kind = spec::ConfigSource::Kind::kConfigMap;
  cm.name = "app-config";  // the pod mounts it under the volume's name
  sa.kind = spec::ConfigSource::Kind::kServiceAccount;
  spec::Vmi vmi = VmiWith({Vol("cm", cm), Vol("sa", sa)});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->config_files, ElementsAre(Pair("key", "value")));
  r = pod.Resolve(vmi, 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->config_files, ElementsAre(Pair("token", "t")));
}

TEST(PodResolver, UnmountedSecretIsNotFound) {
  Pod pod;
  spec::ConfigSource secret;
  secret.kind = spec::ConfigSource::Kind::kSecret;
  secret.name = "creds";
  spec::Vmi vmi = VmiWith({Vol("sec", secret)});
  EXPECT_EQ(pod.Resolve(vmi, 0).status().code(), absl::StatusCode::kNotFound);
}

TEST(PodResolver, CloudInitSecretRefIsReadFromTheVolumesSecretDir) {
  Pod pod;
  WriteFile(pod.dir / "var/run/kubevirt-private/secret/ci/userData", "#cloud-config\n");
  spec::CloudInitSource ci;
  ci.user_data_secret_ref = "my-user-data";
  spec::Vmi vmi = VmiWith({Vol("ci", ci)});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->secret_user_data, "#cloud-config\n");
}

TEST(PodResolver, HostDiskPathIsUsedAsIs) {
  Pod pod;
  WriteFile(pod.dir / "data/disk.img", "x");
  spec::Vmi vmi = VmiWith({Vol("h", HostDisk("/data/disk.img"))});
  auto r = pod.Resolve(vmi, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, Kind::kFile);
  EXPECT_EQ(r->path, "/data/disk.img");
}

TEST(PodResolver, KernelBootArtifactsAreInTheKernelBootDir) {
  Pod pod;
  KubeVirtPodResolverOptions options;
  options.inspect_root = pod.dir.path();
  auto r = ResolveVolumes(KernelBootVmi("/boot/vmlinuz", ""),
                          *MakeKubeVirtPodVolumeResolver(options));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kernel_path,
            "/var/run/kubevirt/container-disks/kernel-boot/boot/vmlinuz");
  EXPECT_EQ(r->initrd_path, "");
}

}  // namespace
}  // namespace qdirect
