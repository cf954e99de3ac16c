// permittedHostDevices: KubeVirt's cluster config of which host devices
// VMIs may use, turned into the device-plugin environment for standalone
// use (no kubelet, no device plugin).

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "plan/plan_context.h"
#include "qdirect/hostdev.h"
#include "spec/stream.h"

namespace qdirect::hostdev {
namespace {

using spec::Node;

const Node* Member(const Node& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  return object.FindMember(name);
}

absl::Status StringField(const Node& item, const std::string& path,
                         const char* name, bool required, std::string* out) {
  const Node* v = Member(item, name);
  if (v == nullptr) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", name, ": Required value"));
  }
  if (!v->IsString()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", name, ": Invalid value: must be a string"));
  }
  *out = std::string(v->GetString());
  if (required && out->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", name, ": Required value"));
  }
  return absl::OkStatus();
}

absl::Status BoolField(const Node& item, const std::string& path,
                       const char* name, bool* out) {
  const Node* v = Member(item, name);
  if (v == nullptr) return absl::OkStatus();
  if (!v->IsBool()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", name, ": Invalid value: must be a boolean"));
  }
  *out = v->GetBool();
  return absl::OkStatus();
}

absl::StatusOr<const Node*> ArrayField(const Node& object,
                                        const std::string& path,
                                        const char* name) {
  const Node* v = Member(object, name);
  if (v == nullptr || v->IsNull()) return nullptr;
  if (!v->IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".", name, ": Invalid value: must be a list"));
  }
  return v;
}

// "10DE:1EB8" -> "10de:1eb8"; InvalidArgument unless vvvv:dddd.
absl::StatusOr<std::string> VendorSelector(const std::string& text,
                                           const std::string& path) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  bool ok = lower.size() == 9 && lower[4] == ':';
  for (size_t i = 0; ok && i < lower.size(); ++i) {
    if (i != 4 && !absl::ascii_isxdigit(lower[i])) ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": Invalid value: \"", text,
        "\": expected vendor:device in hex, e.g. \"10DE:1EB8\""));
  }
  return lower;
}

}  // namespace

std::string DevicePluginVariable(const std::string& prefix,
                                 const std::string& resource_name) {
  return plan::DevicePluginEnvName(prefix, resource_name);
}

absl::StatusOr<PermittedHostDevices> ParsePermittedHostDevices(
    const std::string& text) {
  spec::Stream stream = spec::ReadStream(text, spec::DecodeLimits{});
  if (!stream.errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "permittedHostDevices: ", stream.errors.front().ToString()));
  }
  if (stream.documents.size() != 1 || stream.documents[0].value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "permittedHostDevices: expected one document, found ",
        stream.documents.size()));
  }
  const Node& root = *stream.documents[0].value;
  // KubeVirt CR (spec.configuration.permittedHostDevices) or the bare part.
  const Node* config = Member(root, "permittedHostDevices");
  std::string path = "permittedHostDevices";
  if (config == nullptr) {
    const Node* spec = Member(root, "spec");
    const Node* configuration = spec ? Member(*spec, "configuration") : nullptr;
    config = configuration ? Member(*configuration, "permittedHostDevices")
                           : nullptr;
    path = "spec.configuration.permittedHostDevices";
  }
  if (config == nullptr || !config->IsObject()) {
    return absl::InvalidArgumentError(
        "permittedHostDevices: Required value: the config has neither "
        "permittedHostDevices nor spec.configuration.permittedHostDevices");
  }

  PermittedHostDevices permitted;
  ASSIGN_OR_RETURN(const Node* pci, ArrayField(*config, path, "pciHostDevices"));
  for (size_t i = 0; pci != nullptr && i < pci->Size(); ++i) {
    const Node& item = (*pci)[i];
    const std::string item_path = absl::StrCat(path, ".pciHostDevices[", i, "]");
    PciHostDeviceSelector s;
    std::string selector;
    RETURN_IF_ERROR(StringField(item, item_path, "pciVendorSelector", true, &selector));
    ASSIGN_OR_RETURN(s.pci_vendor_selector,
                     VendorSelector(selector, item_path + ".pciVendorSelector"));
    RETURN_IF_ERROR(StringField(item, item_path, "resourceName", true, &s.resource_name));
    RETURN_IF_ERROR(BoolField(item, item_path, "externalResourceProvider",
                              &s.external_resource_provider));
    RETURN_IF_ERROR(StringField(item, item_path, "romFile", false, &s.rom_file));
    permitted.pci_host_devices.push_back(std::move(s));
  }
  ASSIGN_OR_RETURN(const Node* mdev, ArrayField(*config, path, "mediatedDevices"));
  for (size_t i = 0; mdev != nullptr && i < mdev->Size(); ++i) {
    const Node& item = (*mdev)[i];
    const std::string item_path = absl::StrCat(path, ".mediatedDevices[", i, "]");
    MediatedDeviceSelector s;
    RETURN_IF_ERROR(StringField(item, item_path, "mdevNameSelector", true,
                                &s.mdev_name_selector));
    RETURN_IF_ERROR(StringField(item, item_path, "resourceName", true, &s.resource_name));
    RETURN_IF_ERROR(BoolField(item, item_path, "externalResourceProvider",
                              &s.external_resource_provider));
    permitted.mediated_devices.push_back(std::move(s));
  }
  return permitted;
}

absl::StatusOr<PermittedHostDevices> ReadPermittedHostDevicesFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<PermittedHostDevices> parsed = ParsePermittedHostDevices(text.str());
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

std::map<std::string, std::string> DevicePluginEnvironment(
    const PermittedHostDevices& permitted, const HostDevices& host) {
  std::map<std::string, std::string> env;
  std::set<std::string> taken;
  for (const PciHostDeviceSelector& s : permitted.pci_host_devices) {
    if (s.external_resource_provider) continue;
    std::vector<std::string> addresses;
    for (const PciDevice& d : host.pci) {  // sorted by address
      if (d.driver == kVfioPciDriver && d.VendorSelector() == s.pci_vendor_selector &&
          taken.insert(d.address).second) {
        addresses.push_back(d.address);
      }
    }
    if (addresses.empty()) continue;
    std::string& value = env[DevicePluginVariable("PCI_RESOURCE_", s.resource_name)];
    if (!value.empty()) value += ',';
    value += absl::StrJoin(addresses, ",");
  }
  for (const MediatedDeviceSelector& s : permitted.mediated_devices) {
    if (s.external_resource_provider) continue;
    std::vector<std::string> uuids;
    for (const MdevInstance& m : host.mdevs) {
      const PciDevice* parent = host.Find(m.parent);
      if (parent == nullptr) continue;
      for (const MdevType& t : parent->mdev_types) {
        if (t.id == m.type &&
            (t.name.empty() ? t.id : t.name) == s.mdev_name_selector &&
            taken.insert(m.uuid).second) {
          uuids.push_back(m.uuid);
        }
      }
    }
    if (uuids.empty()) continue;
    std::string& value =
        env[DevicePluginVariable("MDEV_PCI_RESOURCE_", s.resource_name)];
    if (!value.empty()) value += ',';
    value += absl::StrJoin(uuids, ",");
  }
  return env;
}

}  // namespace qdirect::hostdev
