#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qdirect/spec.h"
#include "load_vmi_reference.h"

namespace qdirect::spec {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

constexpr char kVmi[] = R"(apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: my-vmi
  labels:
    app: web
spec:
  domain:
    devices:
      disks:
      - name: containerdisk
        disk:
          bus: virtio
    resources:
      requests:
        memory: 512M
  volumes:
  - name: containerdisk
    containerDisk:
      image: kubevirt/cirros-registry-disk-demo:latest
)";

constexpr char kVm[] = R"(apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: my-vm
  namespace: prod
spec:
  running: true
  template:
    metadata:
      name: ignored
      labels:
        kubevirt.io/vm: my-vm
    spec:
      domain:
        devices:
          disks:
          - name: root
            disk: {}
        resources:
          requests:
            memory: 1Gi
            cpu: "2"
      volumes:
      - name: root
        containerDisk:
          image: fedora
)";

std::vector<std::string> Strings(const std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.ToString());
  return out;
}

// Decodes text that must hold exactly one VM/VMI.
DecodedVmi DecodeOne(const std::string& text, const DecodeOptions& options = {}) {
  DecodeResult r = Decode(text, options);
  EXPECT_THAT(Strings(r.errors), IsEmpty());
  EXPECT_EQ(r.vmis.size(), 1u);
  if (r.vmis.empty()) return {};
  return r.vmis.front();
}

TEST(DecodeTest, VmiDecodesWithKubeVirtDefaults) {
  DecodedVmi d = DecodeOne(kVmi);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings), IsEmpty());
  const Vmi& vmi = d.vmi;
  EXPECT_EQ(vmi.source_kind, "VirtualMachineInstance");
  EXPECT_EQ(vmi.spec_path, "spec");
  EXPECT_EQ(vmi.metadata.name, "my-vmi");
  EXPECT_EQ(vmi.metadata.namespace_, "default");
  EXPECT_EQ(vmi.metadata.labels.at("app"), "web");
  ASSERT_TRUE(vmi.domain.memory.guest.has_value());
  EXPECT_EQ(vmi.domain.memory.guest->value, 512000000);
  EXPECT_EQ(vmi.domain.cpu.sockets, 1u);
  EXPECT_EQ(vmi.domain.cpu.cores, 1u);
  EXPECT_EQ(vmi.domain.cpu.threads, 1u);
  EXPECT_EQ(vmi.domain.machine.type, "q35");
  ASSERT_EQ(vmi.domain.devices.disks.size(), 1u);
  EXPECT_EQ(vmi.domain.devices.disks[0].bus, DiskBus::kVirtio);
  ASSERT_EQ(vmi.volumes.size(), 1u);
  const auto* cd = std::get_if<ContainerDiskSource>(&vmi.volumes[0].source);
  ASSERT_NE(cd, nullptr);
  EXPECT_EQ(cd->image, "kubevirt/cirros-registry-disk-demo:latest");
}

TEST(DecodeTest, NoInterfacesAndNoNetworksGetThePodNetworkWithBridge) {
  const Vmi vmi = DecodeOne(kVmi).vmi;
  ASSERT_EQ(vmi.networks.size(), 1u);
  EXPECT_EQ(vmi.networks[0].name, "default");
  EXPECT_TRUE(std::holds_alternative<PodNetwork>(vmi.networks[0].source));
  ASSERT_EQ(vmi.domain.devices.interfaces.size(), 1u);
  EXPECT_EQ(vmi.domain.devices.interfaces[0].name, "default");
  EXPECT_EQ(vmi.domain.devices.interfaces[0].binding, Interface::Binding::kBridge);
  EXPECT_EQ(vmi.domain.devices.interfaces[0].model, "virtio");
}

TEST(DecodeTest, AutoattachPodInterfaceFalseAddsNoNetwork) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    devices:\n", "    devices:\n      autoattachPodInterface: false\n"}});
  const Vmi vmi = DecodeOne(text).vmi;
  EXPECT_TRUE(vmi.networks.empty());
  EXPECT_TRUE(vmi.domain.devices.interfaces.empty());
  EXPECT_FALSE(vmi.domain.devices.autoattach_pod_interface);
}

TEST(DecodeTest, InterfaceDefaultWithoutNetworksGetsThePodNetworkWithAWarning) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    resources:\n",
              "      interfaces:\n      - name: default\n        masquerade: {}\n"
              "    resources:\n"}});
  DecodedVmi d = DecodeOne(text);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings),
              ElementsAre("spec.networks: Required value: interface \"default\" has no network: "
                          "the pod network \"default\" was added"));
  ASSERT_EQ(d.vmi.networks.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<PodNetwork>(d.vmi.networks[0].source));
  DecodeOptions strict;
  strict.strict = true;
  EXPECT_FALSE(Decode(text, strict).ok());
}

TEST(DecodeTest, VirtualMachineDecodesItsTemplateUnderTheVmName) {
  DecodedVmi d = DecodeOne(kVm);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings), IsEmpty());
  EXPECT_EQ(d.vmi.source_kind, "VirtualMachine");
  EXPECT_EQ(d.vmi.spec_path, "spec.template.spec");
  EXPECT_EQ(d.vmi.metadata.name, "my-vm");
  EXPECT_EQ(d.vmi.metadata.namespace_, "prod");
  EXPECT_EQ(d.vmi.metadata.labels.at("kubevirt.io/vm"), "my-vm");
}

TEST(DecodeTest, CpuRequestBecomesSocketsWhenNoTopologyIsGiven) {
  const Vmi vmi = DecodeOne(kVm).vmi;
  EXPECT_EQ(vmi.domain.cpu.sockets, 2u);
  EXPECT_EQ(vmi.domain.cpu.cores, 1u);
  EXPECT_EQ(vmi.domain.cpu.threads, 1u);
}

TEST(DecodeTest, JsonInputDecodesLikeYaml) {
  constexpr char kJson[] = R"({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
    "metadata": {"name": "my-vmi", "labels": {"app": "web"}},
    "spec": {"domain": {"devices": {"disks": [{"name": "containerdisk", "disk": {"bus": "virtio"}}]},
                        "resources": {"requests": {"memory": "512M"}}},
             "volumes": [{"name": "containerdisk",
                          "containerDisk": {"image": "kubevirt/cirros-registry-disk-demo:latest"}}]}})";
  EXPECT_EQ(DecodeOne(kJson).vmi, DecodeOne(kVmi).vmi);
}

TEST(DecodeTest, JsonRepeatedKeyIsReadOnceAndTheRepeatIsUnknown) {
  constexpr char kJson[] = R"({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
    "metadata": {"name": "my-vmi"},
    "spec": {"domain": {"resources": {"requests": {"memory": "512M", "memory": "1Gi"}},
                        "chassis": {}, "chassis": {}},
             "affinity": {}, "affinity": {}}})";
  DecodeResult r = Decode(kJson);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_EQ(r.vmis[0].vmi.domain.resources.requests.at("memory").text, "512M");
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.domain.chassis: Forbidden: not supported by qdirect yet"));
  EXPECT_THAT(Strings(r.vmis[0].warnings),
              ElementsAre("spec.domain.resources.requests.memory: unknown field",
                          "spec.domain.chassis: unknown field", "spec.affinity: unknown field"));
}

TEST(DecodeTest, JsonArrayIsAListOfDocuments) {
  std::string json = R"([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
    {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": "a"},
     "spec": {"domain": {"resources": {"requests": {"memory": "64Mi"}}}}}])";
  DecodeResult r = Decode(json);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_EQ(r.vmis[0].vmi.metadata.name, "a");
  EXPECT_EQ(r.vmis[0].document_index, 1u);
  EXPECT_THAT(r.notices, ElementsAre("document 1: skipped kind ConfigMap \"c\""));
}

TEST(DecodeTest, KindListItemsAreDocuments) {
  std::string text = absl::StrCat("apiVersion: v1\nkind: List\nitems:\n- ",
                                  absl::StrReplaceAll(kVmi, {{"\n", "\n  "}}));
  DecodeResult r = Decode(text);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_EQ(r.vmis[0].vmi.metadata.name, "my-vmi");
}

TEST(DecodeTest, MultiDocumentStreamSkipsOtherKindsWithNotices) {
  std::string text = absl::StrCat(kVm, R"(---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: database-pvc
---
)",
                                  kVmi);
  DecodeResult r = Decode(text);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.vmis.size(), 2u);
  EXPECT_EQ(r.vmis[0].document_index, 0u);
  EXPECT_EQ(r.vmis[1].document_index, 2u);
  EXPECT_EQ(r.vmis[1].vmi.metadata.name, "my-vmi");
  EXPECT_THAT(r.notices,
              ElementsAre("document 2: skipped kind PersistentVolumeClaim \"database-pvc\""));
}

TEST(DecodeTest, UnknownFieldIsAWarningWithItsFullPath) {
  std::string text = absl::StrCat(kVm, "      securityContext:\n        runAsNonRoot: true\n");
  DecodedVmi d = DecodeOne(text);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings),
              ElementsAre("spec.template.spec.securityContext: unknown field"));
  EXPECT_EQ(d.warnings[0].line, 27u);
  EXPECT_EQ(d.warnings[0].column, 7u);
}

TEST(DecodeTest, StrictModeMakesUnknownFieldsErrors) {
  std::string text = absl::StrCat(kVm, "      securityContext:\n        runAsNonRoot: true\n");
  DecodeOptions options;
  options.strict = true;
  DecodeResult r = Decode(text, options);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.template.spec.securityContext: unknown field"));
  EXPECT_THAT(r.vmis[0].warnings, IsEmpty());
}

TEST(DecodeTest, ToleratedKubernetesFieldsAreSilent) {
  std::string text = absl::StrCat(kVmi,
                                  "  affinity: {}\n  tolerations: []\n  dnsPolicy: None\n"
                                  "  schedulerName: s\n  priorityClassName: p\n");
  DecodedVmi d = DecodeOne(text);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings), IsEmpty());
}

TEST(DecodeTest, MisplacedCacheAndIoAreAppliedWithAWarningNamingBothPaths) {
  std::string text = absl::StrReplaceAll(
      kVm, {{"            disk: {}\n",
             "            disk:\n              bus: virtio\n              cache: none\n"
             "              io: native\n"}});
  DecodedVmi d = DecodeOne(text);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(
      Strings(d.warnings),
      ElementsAre("spec.template.spec.domain.devices.disks[0].disk.cache: misplaced field: "
                  "KubeVirt expects spec.template.spec.domain.devices.disks[0].cache",
                  "spec.template.spec.domain.devices.disks[0].disk.io: misplaced field: "
                  "KubeVirt expects spec.template.spec.domain.devices.disks[0].io"));
  EXPECT_EQ(d.vmi.domain.devices.disks[0].cache, DiskCache::kNone);
  EXPECT_EQ(d.vmi.domain.devices.disks[0].io, DiskIo::kNative);
}

TEST(DecodeTest, CacheInTheRightPlaceIsSilent) {
  std::string text = absl::StrReplaceAll(
      kVm, {{"            disk: {}\n", "            disk: {}\n            cache: writeback\n"}});
  DecodedVmi d = DecodeOne(text);
  EXPECT_THAT(Strings(d.warnings), IsEmpty());
  EXPECT_EQ(d.vmi.domain.devices.disks[0].cache, DiskCache::kWriteBack);
}

TEST(DecodeTest, SyntaxErrorNamesLineAndColumn) {
  DecodeResult r = Decode("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: a: b\n");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].type, FieldError::Type::kSyntax);
  EXPECT_EQ(r.errors[0].ToString(), "line 3, column 12: mapping values are not allowed in this context");
  EXPECT_EQ(r.errors[0].line, 3u);
}

TEST(DecodeTest, JsonSyntaxErrorNamesLineAndColumn) {
  DecodeResult r = Decode("{\n  \"kind\": \"VirtualMachineInstance\",\n  \"spec\": }\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].type, FieldError::Type::kSyntax);
  EXPECT_EQ(r.errors[0].line, 3u);
  EXPECT_THAT(r.errors[0].ToString(), HasSubstr("line 3, column 11: "));
}

TEST(DecodeTest, AliasesAreRefused) {
  DecodeResult r = Decode("a: &x [1, 2]\nb: *x\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].ToString(), HasSubstr("line 2, column 4: aliases"));
}

TEST(DecodeTest, DuplicateKeysAreRefused) {
  DecodeResult r = Decode("kind: A\nkind: B\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "line 2, column 1: mapping key \"kind\" already defined");
}

// Wide mappings find duplicates through a set rather than a scan.
TEST(DecodeTest, DuplicateKeysAreRefusedInWideMappings) {
  std::string text;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&text, "k", i, ": ", i, "\n");
  absl::StrAppend(&text, "k3: again\nk40: 40\nk39: again\n");
  DecodeResult r = Decode(text);
  EXPECT_THAT(Strings(r.errors),
              ElementsAre("line 41, column 1: mapping key \"k3\" already defined",
                          "line 43, column 1: mapping key \"k39\" already defined",
                          "document 1: kind: Required value"));
}

TEST(DecodeTest, DocumentLimitIsEnforced) {
  DecodeOptions options;
  options.limits.max_documents = 2;
  DecodeResult r = Decode("kind: A\n---\nkind: B\n---\nkind: C\n", options);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].type, FieldError::Type::kTooMany);
  EXPECT_EQ(r.errors[0].ToString(), "documents: Too many: 3: must have at most 2 items");
}

TEST(DecodeTest, DepthLimitIsEnforcedForYamlAndJson) {
  DecodeOptions options;
  options.limits.max_depth = 8;
  std::string deep_yaml = "a: " + std::string(20, '[') + std::string(20, ']') + "\n";
  DecodeResult y = Decode(deep_yaml, options);
  ASSERT_EQ(y.errors.size(), 1u);
  EXPECT_EQ(y.errors[0].type, FieldError::Type::kTooMany);
  std::string deep_json = "{\"a\": " + std::string(20, '[') + std::string(20, ']') + "}";
  DecodeResult j = Decode(deep_json, options);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].type, FieldError::Type::kTooMany);
}

TEST(DecodeTest, DeepJsonDoesNotExhaustTheStack) {
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  DecodeResult r = Decode(deep);
  EXPECT_FALSE(r.ok());
}

TEST(DecodeTest, StringLimitIsEnforced) {
  DecodeOptions options;
  options.limits.max_string_bytes = 16;
  DecodeResult r = Decode("kind: K\na: \"" + std::string(17, 'x') + "\"\n", options);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "a: Too long: must have at most 16 bytes");
}

TEST(DecodeTest, DocumentSizeLimitIsEnforced) {
  DecodeOptions options;
  options.limits.max_document_bytes = 64;
  DecodeResult r = Decode("a: \"" + std::string(100, 'x') + "\"\n", options);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].type, FieldError::Type::kTooLong);
}

TEST(DecodeTest, UnsupportedFieldIsForbiddenNotDropped) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    devices:\n", "    devices:\n      tpm: {}\n      filesystems: []\n"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.domain.devices.filesystems: Forbidden: not supported by qdirect yet",
                          "spec.domain.devices.tpm: Forbidden: not supported by qdirect yet"));
}

TEST(DecodeTest, TypeMismatchIsInvalidWithThePath) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    devices:\n", "    cpu:\n      cores: four\n    devices:\n"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.domain.cpu.cores: Invalid value: \"four\": must be an integer "
                          "between 0 and 4294967295"));
}

TEST(DecodeTest, BadQuantityIsInvalidWithThePath) {
  std::string text = absl::StrReplaceAll(kVmi, {{"memory: 512M", "memory: 512Q"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  ASSERT_FALSE(r.vmis[0].errors.empty());
  EXPECT_THAT(r.vmis[0].errors[0].ToString(),
              HasSubstr("spec.domain.resources.requests.memory: Invalid value: \"512Q\": "
                        "quantities must match"));
}

// Past a few hundred nodes positions are looked up through a sorted index
// rather than a scan: lines and plain scalars' text must come out the same.
TEST(DecodeTest, LargeDocumentKeepsLinesAndPlainText) {
  std::string labels;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&labels, "    l", i, ": ", i, "\n");
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    app: web\n", absl::StrCat("    app: web\n", labels)},
             {"bus: virtio", "bus: ide"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  ASSERT_EQ(r.vmis[0].errors.size(), 1u);
  EXPECT_EQ(r.vmis[0].errors[0].path, "spec.domain.devices.disks[0].bus");
  EXPECT_EQ(r.vmis[0].errors[0].line, 313u);
  EXPECT_EQ(r.vmis[0].errors[0].column, 11u);
  EXPECT_EQ(r.vmis[0].vmi.metadata.labels["l7"], "7");
  EXPECT_EQ(r.vmis[0].vmi.metadata.labels["l299"], "299");
}

// Objects past 64 members track what was read beyond the first word.
TEST(DecodeTest, WideObjectReportsEachUnknownFieldAndReadsTheRest) {
  std::string unknown;
  for (int i = 0; i < 70; ++i) absl::StrAppend(&unknown, "    x", i, ": 1\n");
  std::string text = absl::StrReplaceAll(
      kVmi, {{"  domain:\n", absl::StrCat("  domain:\n", unknown)}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors), IsEmpty());
  ASSERT_EQ(r.vmis[0].warnings.size(), 70u);
  EXPECT_EQ(r.vmis[0].warnings[0].ToString(), "spec.domain.x0: unknown field");
  EXPECT_EQ(r.vmis[0].warnings[69].ToString(), "spec.domain.x69: unknown field");
  // devices and resources come after the 70 unknown members.
  ASSERT_EQ(r.vmis[0].vmi.domain.devices.disks.size(), 1u);
  EXPECT_EQ(r.vmis[0].vmi.domain.devices.disks[0].name, "containerdisk");
}

TEST(DecodeTest, ObjectPastTwoWordsOfMembersReadsAndReportsEach) {
  std::string unknown;
  for (int i = 0; i < 200; ++i) absl::StrAppend(&unknown, "    x", i, ": 1\n");
  std::string text = absl::StrReplaceAll(
      kVmi, {{"  domain:\n", absl::StrCat("  domain:\n", unknown)}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors), IsEmpty());
  ASSERT_EQ(r.vmis[0].warnings.size(), 200u);
  EXPECT_EQ(r.vmis[0].warnings[199].ToString(), "spec.domain.x199: unknown field");
  // devices and resources are members 200 and 201.
  ASSERT_EQ(r.vmis[0].vmi.domain.devices.disks.size(), 1u);
  EXPECT_EQ(r.vmis[0].vmi.domain.resources.requests.at("memory").text, "512M");
}

TEST(DecodeTest, UnknownBusIsUnsupported) {
  std::string text = absl::StrReplaceAll(kVmi, {{"bus: virtio", "bus: ide"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.domain.devices.disks[0].bus: Unsupported value: \"ide\": "
                          "supported values: \"sata\", \"scsi\", \"usb\", \"virtio\""));
  EXPECT_EQ(r.vmis[0].errors[0].line, 13u);
}

TEST(DecodeTest, DiskTargetsGetKubeVirtBusDefaults) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"        disk:\n          bus: virtio\n",
              "      - name: cd\n        cdrom: {}\n      - name: l\n        lun: {}\n"
              "      - name: plain\n"}});
  text = absl::StrCat(text,
                      "  - {name: cd, containerDisk: {image: a}}\n"
                      "  - {name: l, persistentVolumeClaim: {claimName: c}}\n"
                      "  - {name: plain, containerDisk: {image: b}}\n");
  const Vmi vmi = DecodeOne(text).vmi;
  const auto& disks = vmi.domain.devices.disks;
  ASSERT_EQ(disks.size(), 4u);
  EXPECT_EQ(disks[0].type, Disk::Type::kDisk);
  EXPECT_EQ(disks[0].bus, DiskBus::kVirtio);
  EXPECT_EQ(disks[1].type, Disk::Type::kCdrom);
  EXPECT_EQ(disks[1].bus, DiskBus::kSata);
  EXPECT_TRUE(disks[1].readonly);
  EXPECT_EQ(disks[2].type, Disk::Type::kLun);
  EXPECT_EQ(disks[2].bus, DiskBus::kScsi);
  EXPECT_EQ(disks[3].type, Disk::Type::kDisk);
  EXPECT_EQ(disks[3].bus, DiskBus::kVirtio);
}

TEST(DecodeTest, VolumeWithoutDiskGetsADefaultDisk) {
  std::string text = absl::StrCat(kVmi, "  - name: extra\n    emptyDisk:\n      capacity: 1Gi\n");
  const Vmi vmi = DecodeOne(text).vmi;
  ASSERT_EQ(vmi.domain.devices.disks.size(), 2u);
  EXPECT_EQ(vmi.domain.devices.disks[1].name, "extra");
  EXPECT_EQ(vmi.domain.devices.disks[1].type, Disk::Type::kDisk);
}

TEST(DecodeTest, CloudInitBase64IsDecoded) {
  std::string text = absl::StrCat(
      kVmi, "  - name: ci\n    cloudInitNoCloud:\n      userDataBase64: SGVsbG8gV29ybGQhCg==\n");
  const Vmi vmi = DecodeOne(text).vmi;
  ASSERT_EQ(vmi.volumes.size(), 2u);
  const auto* ci = std::get_if<CloudInitSource>(&vmi.volumes[1].source);
  ASSERT_NE(ci, nullptr);
  EXPECT_EQ(ci->user_data, "Hello World!\n");
  EXPECT_EQ(ci->flavor, CloudInitSource::Flavor::kNoCloud);
}

TEST(DecodeTest, BadBase64IsAnErrorOnItsPath) {
  std::string text = absl::StrCat(
      kVmi, "  - name: ci\n    cloudInitConfigDrive:\n      userDataBase64: \"!!!\"\n");
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.volumes[1].cloudInitConfigDrive.userDataBase64: Invalid value: "
                          "\"!!!\": must be valid base64"));
}

TEST(DecodeTest, BindingPluginPasstIsPasst) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    resources:\n",
              "      interfaces:\n      - name: default\n        binding: {name: passt}\n"
              "    resources:\n"}});
  text = absl::StrCat(text, "  networks:\n  - name: default\n    pod: {}\n");
  const Vmi vmi = DecodeOne(text).vmi;
  ASSERT_EQ(vmi.domain.devices.interfaces.size(), 1u);
  EXPECT_EQ(vmi.domain.devices.interfaces[0].binding, Interface::Binding::kPasst);
}

TEST(DecodeTest, OldApiVersionIsAcceptedWithAWarning) {
  std::string text = absl::StrReplaceAll(kVmi, {{"kubevirt.io/v1", "kubevirt.io/v1alpha3"}});
  DecodedVmi d = DecodeOne(text);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings),
              ElementsAre("apiVersion: kubevirt.io/v1alpha3 is deprecated: read as kubevirt.io/v1"));
}

TEST(DecodeTest, OtherApiVersionIsUnsupported) {
  std::string text = absl::StrReplaceAll(kVmi, {{"kubevirt.io/v1", "example.com/v2"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("apiVersion: Unsupported value: \"example.com/v2\": supported values: "
                          "\"kubevirt.io/v1\", \"kubevirt.io/v1alpha3\""));
}

TEST(DecodeTest, Yaml11ScalarsResolveAsKubernetesDoes) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    devices:\n", "    devices:\n      autoattachMemBalloon: no\n"},
             {"    app: web\n", "    app: web\n    version: 2\n"}});
  const Vmi vmi = DecodeOne(text).vmi;
  EXPECT_FALSE(vmi.domain.devices.autoattach_mem_balloon);
  EXPECT_EQ(vmi.metadata.labels.at("version"), "2");
}

TEST(DecodeTest, QuotedNumberStaysAString) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"    devices:\n", "    cpu:\n      cores: \"2\"\n    devices:\n"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  ASSERT_EQ(r.vmis[0].errors.size(), 1u);
  EXPECT_EQ(r.vmis[0].errors[0].path, "spec.domain.cpu.cores");
}

TEST(DecodeTest, NumericQuantityIsAccepted) {
  std::string text = absl::StrReplaceAll(kVm, {{"cpu: \"2\"", "cpu: 3"}});
  EXPECT_EQ(DecodeOne(text).vmi.domain.cpu.sockets, 3u);
}

TEST(DecodeTest, DocumentWithoutKindIsAStreamError) {
  DecodeResult r = Decode("metadata:\n  name: x\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(), "document 1: kind: Required value");
}

TEST(DecodeTest, ScalarDocumentIsAStreamError) {
  DecodeResult r = Decode("just text\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].type, FieldError::Type::kInvalid);
}

TEST(DecodeTest, EmptyStreamHasNothing) {
  DecodeResult r = Decode("# only a comment\n---\n");
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.vmis.empty());
}

TEST(DecodeTest, EveryDomainSectionIsDecoded) {
  constexpr char kFull[] = R"(apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: full, namespace: ns, annotations: {a: b}, uid: u-1}
spec:
  terminationGracePeriodSeconds: 0
  evictionStrategy: LiveMigrate
  hostname: host
  subdomain: sub
  nodeSelector: {zone: a}
  startStrategy: Paused
  domain:
    ioThreadsPolicy: auto
    cpu: {cores: 2, sockets: 1, threads: 2, maxSockets: 4, model: host-passthrough,
          features: [{name: vmx, policy: disable}]}
    memory: {guest: 1Gi, maxGuest: 4Gi}
    firmware:
      uuid: 5d307ca9-b3ef-428c-8861-06e72d69f223
      serial: abc-1
      bootloader: {efi: {persistent: true}}
      kernelBoot:
        kernelArgs: console=ttyS0
        container: {image: k, kernelPath: /boot/vmlinuz, initrdPath: /boot/initrd}
    features:
      acpi: {enabled: false}
      smm: {}
      kvm: {hidden: true}
      hyperv:
        spinlocks: {spinlocks: 8191}
        vendorid: {vendorid: qdirect}
        synictimer: {direct: {}}
    clock:
      timezone: Europe/Paris
      timer: {rtc: {tickPolicy: catchup, track: guest}, hpet: {present: false}}
    devices:
      blockMultiQueue: true
      networkInterfaceMultiqueue: true
      autoattachGraphicsDevice: false
      rng: {}
      watchdog: {name: w, i6300esb: {action: poweroff}}
      inputs: [{name: t, type: tablet, bus: virtio}]
      disks:
      - {name: root, bootOrder: 1, serial: s1, cache: none, io: native, dedicatedIOThread: true,
         disk: {bus: virtio, pciAddress: "0000:00:0a.0"}}
      interfaces:
      - {name: default, masquerade: {}, model: e1000e, macAddress: "02:00:00:00:00:01",
         ports: [{name: http, port: 80}], bootOrder: 2, state: up}
  networks:
  - {name: default, pod: {vmNetworkCIDR: 10.1.0.0/24}}
  volumes:
  - {name: root, hostDisk: {path: /var/disk.img, type: DiskOrCreate, capacity: 1Gi}}
)";
  DecodedVmi d = DecodeOne(kFull);
  EXPECT_THAT(Strings(d.errors), IsEmpty());
  EXPECT_THAT(Strings(d.warnings), IsEmpty());
  const Vmi& v = d.vmi;
  EXPECT_EQ(v.metadata.uid, "u-1");
  EXPECT_EQ(v.termination_grace_period_seconds, 0);
  EXPECT_EQ(v.eviction_strategy, EvictionStrategy::kLiveMigrate);
  EXPECT_EQ(v.start_strategy, "Paused");
  EXPECT_EQ(v.node_selector.at("zone"), "a");
  EXPECT_EQ(v.domain.cpu.threads, 2u);
  EXPECT_EQ(v.domain.cpu.max_sockets, 4u);
  EXPECT_EQ(v.domain.cpu.features, (std::vector<CpuFeature>{{"vmx", "disable"}}));
  EXPECT_EQ(v.domain.memory.max_guest->value, int64_t{4} << 30);
  const Efi* efi = std::get_if<Efi>(&v.domain.firmware.bootloader);
  ASSERT_NE(efi, nullptr);
  EXPECT_TRUE(efi->secure_boot);  // KubeVirt's default
  EXPECT_TRUE(efi->persistent);
  EXPECT_EQ(v.domain.firmware.kernel_boot->container->initrd_path, "/boot/initrd");
  EXPECT_FALSE(v.domain.features.acpi.enabled);
  EXPECT_TRUE(v.domain.features.smm->enabled);
  EXPECT_TRUE(v.domain.features.kvm_hidden->enabled);
  EXPECT_EQ(v.domain.features.hyperv->spinlocks->spinlocks, 8191u);
  EXPECT_EQ(v.domain.features.hyperv->vendorid->vendor_id, "qdirect");
  EXPECT_TRUE(v.domain.features.hyperv->synictimer->direct.has_value());
  EXPECT_EQ(v.domain.clock.timezone, "Europe/Paris");
  EXPECT_EQ(v.domain.clock.rtc->tick_policy, "catchup");
  EXPECT_FALSE(v.domain.clock.hpet->present);
  EXPECT_TRUE(v.domain.devices.rng);
  EXPECT_FALSE(v.domain.devices.autoattach_graphics_device);
  EXPECT_EQ(v.domain.devices.watchdog->action, "poweroff");
  const Disk& disk = v.domain.devices.disks[0];
  EXPECT_EQ(disk.pci_address, "0000:00:0a.0");
  EXPECT_EQ(disk.boot_order, 1u);
  EXPECT_TRUE(disk.dedicated_io_thread);
  const Interface& iface = v.domain.devices.interfaces[0];
  EXPECT_EQ(iface.binding, Interface::Binding::kMasquerade);
  EXPECT_EQ(iface.model, "e1000e");
  EXPECT_EQ(iface.ports, (std::vector<Port>{{"http", "TCP", 80}}));
  EXPECT_EQ(std::get<PodNetwork>(v.networks[0].source).vm_network_cidr, "10.1.0.0/24");
  const auto& host_disk = std::get<HostDiskSource>(v.volumes[0].source);
  EXPECT_EQ(host_disk.type, "DiskOrCreate");
  EXPECT_EQ(host_disk.capacity->value, int64_t{1} << 30);
}

TEST(DecodeTest, UnsupportedVolumeSourceIsForbidden) {
  std::string text = absl::StrCat(kVmi, "  - name: s\n    sysprep: {}\n");
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.volumes[1].sysprep: Forbidden: not supported by qdirect yet"));
}

TEST(DecodeTest, OpenCdromTrayIsForbidden) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"        disk:\n          bus: virtio\n", "        cdrom:\n          tray: open\n"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.domain.devices.disks[0].cdrom.tray: Forbidden: only \"closed\" is "
                          "supported by qdirect yet"));
}

TEST(DecodeTest, OtherArchitectureIsUnsupported) {
  std::string text = absl::StrCat(kVmi, "  architecture: arm64\n");
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.architecture: Unsupported value: \"arm64\": supported values: "
                          "\"amd64\""));
}

TEST(DecodeTest, RunningAndRunStrategyAreExclusive) {
  std::string text = absl::StrReplaceAll(kVm, {{"  running: true\n", "  running: true\n  runStrategy: Always\n"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  EXPECT_THAT(Strings(r.vmis[0].errors),
              ElementsAre("spec.running: Forbidden: running and runStrategy are mutually exclusive"));
}

TEST(DecodeTest, ValidationErrorsCarryTheSourceLine) {
  std::string text = absl::StrReplaceAll(kVmi, {{"  - name: containerdisk\n    containerDisk",
                                                 "  - name: other\n    containerDisk"}});
  DecodeResult r = Decode(text);
  ASSERT_EQ(r.vmis.size(), 1u);
  ASSERT_FALSE(r.vmis[0].errors.empty());
  EXPECT_EQ(r.vmis[0].errors[0].ToString(),
            "spec.domain.devices.disks[0].name: Not found: \"containerdisk\": no volume of that "
            "name in spec.volumes");
  EXPECT_EQ(r.vmis[0].errors[0].line, 11u);
}

TEST(LoadVmiTest, ReturnsTheOneVmi) {
  absl::StatusOr<Vmi> vmi = LoadVmi(kVm);
  ASSERT_TRUE(vmi.ok()) << vmi.status();
  EXPECT_EQ(vmi->metadata.name, "my-vm");
}

TEST(LoadVmiTest, TwoVmisAreRefused) {
  absl::StatusOr<Vmi> vmi = LoadVmi(absl::StrCat(kVm, "---\n", kVmi));
  EXPECT_EQ(vmi.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(vmi.status().message()), HasSubstr("found 2"));
}

TEST(LoadVmiTest, ListsEveryErrorOnItsOwnLine) {
  std::string text = absl::StrReplaceAll(
      kVmi, {{"bus: virtio", "bus: ide"}, {"name: my-vmi", "name: My_VMI"}});
  absl::StatusOr<Vmi> vmi = LoadVmi(text);
  ASSERT_EQ(vmi.status().code(), absl::StatusCode::kInvalidArgument);
  std::string message(vmi.status().message());
  EXPECT_THAT(message, HasSubstr("spec.domain.devices.disks[0].bus: Unsupported value: \"ide\""));
  EXPECT_THAT(message, HasSubstr("\nmetadata.name: Invalid value: \"My_VMI\""));
}

TEST(LoadVmiTest, StrictModeFailsOnAnUnknownField) {
  std::string text = absl::StrCat(kVm, "      securityContext:\n        runAsNonRoot: true\n");
  DecodeOptions options;
  options.strict = true;
  absl::StatusOr<Vmi> vmi = LoadVmi(text, options);
  ASSERT_EQ(vmi.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vmi.status().message(), "spec.template.spec.securityContext: unknown field");
}

TEST(LoadVmiTest, MisplacedUnknownCacheIsAnErrorOnItsPath) {
  std::string text = absl::StrReplaceAll(
      kVm, {{"            disk: {}\n", "            disk:\n              cache: bogus\n"}});
  absl::StatusOr<Vmi> vmi = LoadVmi(text);
  ASSERT_EQ(vmi.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(vmi.status().message(),
            "spec.template.spec.domain.devices.disks[0].disk.cache: Unsupported value: "
            "\"bogus\": supported values: \"none\", \"writeback\", \"writethrough\"");
}

TEST(LoadVmiTest, AgreesWithDecode) {
  const std::string misplaced = absl::StrReplaceAll(
      kVm, {{"            disk: {}\n",
             "            disk:\n              cache: none\n              io: bogus\n"}});
  const std::string bad_vmi = absl::StrReplaceAll(kVmi, {{"bus: virtio", "bus: ide"}});
  const std::string unknown = absl::StrCat(kVm, "      securityContext: {}\n");
  const std::string texts[] = {
      kVm,
      kVmi,
      misplaced,
      unknown,
      absl::StrCat(kVm, "---\n", bad_vmi),
      absl::StrCat("kind: PersistentVolumeClaim\nmetadata:\n  name: c\n---\n", bad_vmi),
      absl::StrCat("just text\n---\n", kVmi),
      "apiVersion: kubevirt.io/v2\nkind: VirtualMachineInstance\n",
      "",
  };
  for (bool strict : {false, true}) {
    DecodeOptions options;
    options.strict = strict;
    for (const std::string& text : texts) {
      absl::StatusOr<Vmi> want = LoadVmiFromDecodeResult(Decode(text, options));
      absl::StatusOr<Vmi> got = LoadVmi(text, options);
      EXPECT_EQ(got.status(), want.status()) << text;
      if (got.ok() && want.ok()) {
        EXPECT_EQ(*got, *want) << text;
      }
    }
  }
}

}  // namespace
}  // namespace qdirect::spec
