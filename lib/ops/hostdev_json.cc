// HostDevices as JSON, for `vmctl hostdev list --json` and Python.

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qdirect/hostdev.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"

namespace qdirect::hostdev {
namespace {

std::string Hex4(uint32_t v) { return absl::StrFormat("%04x", v); }

void WriteDeviceJson(const HostDevices& host, const PciDevice& d,
                     rapidjson::PrettyWriter<rapidjson::StringBuffer>& w) {
  w.StartObject();
  w.Key("address");
  w.String(d.address.c_str());
  w.Key("vendorSelector");
  w.String(d.VendorSelector().c_str());
  w.Key("class");
  w.String(absl::StrFormat("0x%06x", d.class_code).c_str());
  w.Key("subsystem");
  w.String(absl::StrCat(Hex4(d.subsystem_vendor_id), ":", Hex4(d.subsystem_device_id)).c_str());
  w.Key("driver");
  w.String(d.driver.c_str());
  w.Key("numaNode");
  w.Int(d.numa_node);
  w.Key("gpu");
  w.Bool(d.IsGpu());
  if (d.IsGpu()) {
    w.Key("companions");
    w.StartArray();
    for (const std::string& c : CompanionFunctions(host, d.address)) {
      w.String(c.c_str());
    }
    w.EndArray();
  }
  if (!d.mdev_types.empty()) {
    w.Key("mdevTypes");
    w.StartArray();
    for (const MdevType& t : d.mdev_types) {
      w.StartObject();
      w.Key("id");
      w.String(t.id.c_str());
      w.Key("name");
      w.String(t.name.c_str());
      w.Key("deviceApi");
      w.String(t.device_api.c_str());
      w.Key("availableInstances");
      w.Int(t.available_instances);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string HostDevicesToJson(const HostDevices& host) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("iommuGroups");
  w.StartArray();
  for (int group : host.Groups()) {
    GroupViability v = CheckGroup(host, group);
    w.StartObject();
    w.Key("group");
    w.Int(group);
    w.Key("viable");
    w.Bool(v.viable);
    w.Key("offending");
    w.StartArray();
    for (const std::string& o : v.offending) w.String(o.c_str());
    w.EndArray();
    w.Key("devices");
    w.StartArray();
    for (const PciDevice* d : host.GroupMembers(group)) {
      WriteDeviceJson(host, *d, w);
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("withoutIommuGroup");
  w.StartArray();
  for (const PciDevice& d : host.pci) {
    if (d.iommu_group < 0) WriteDeviceJson(host, d, w);
  }
  w.EndArray();
  w.Key("mediatedDevices");
  w.StartArray();
  for (const MdevInstance& m : host.mdevs) {
    w.StartObject();
    w.Key("uuid");
    w.String(m.uuid.c_str());
    w.Key("type");
    w.String(m.type.c_str());
    w.Key("parent");
    w.String(m.parent.c_str());
    w.Key("iommuGroup");
    w.Int(m.iommu_group);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}


}  // namespace qdirect::hostdev
