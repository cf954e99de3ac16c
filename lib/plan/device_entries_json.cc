// The device table as JSON (DeviceEntriesToJson / DeviceEntriesFromJson in
// qdirect/plan.h): how a launcher hands its hot-plugged devices to the
// launcher that continues the VM (a migration target, a restart).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qdirect/plan.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect {
namespace {

constexpr std::pair<DeviceEntry::Kind, std::string_view> kKinds[] = {
    {DeviceEntry::Kind::kDevice, "device"},   {DeviceEntry::Kind::kBlockdev, "blockdev"},
    {DeviceEntry::Kind::kNetdev, "netdev"},   {DeviceEntry::Kind::kObject, "object"},
    {DeviceEntry::Kind::kChardev, "chardev"}};

std::string_view KindName(DeviceEntry::Kind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "device";
}

}  // namespace

std::string DeviceEntriesToJson(const std::vector<DeviceEntry>& entries) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&w](const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartArray();
  for (const DeviceEntry& e : entries) {
    w.StartObject();
    str("kind", KindName(e.kind));
    str("id", e.id);
    str("bus", e.bus);
    str("address", e.address);
    str("volume", e.volume);
    str("json", e.json);
    str("keyval", e.keyval);
    w.EndObject();
  }
  w.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<std::vector<DeviceEntry>> DeviceEntriesFromJson(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray()) {
    return absl::InvalidArgumentError("device table: not a JSON array");
  }
  std::vector<DeviceEntry> out;
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    const rapidjson::Value& v = doc[i];
    const std::string where = absl::StrCat("device table[", i, "]");
    if (!v.IsObject()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
    DeviceEntry e;
    const std::pair<const char*, std::string*> fields[] = {
        {"id", &e.id},         {"bus", &e.bus},   {"address", &e.address},
        {"volume", &e.volume}, {"json", &e.json}, {"keyval", &e.keyval}};
    for (const auto& [key, field] : fields) {
      auto it = v.FindMember(key);
      if (it == v.MemberEnd()) continue;
      if (!it->value.IsString()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": not a string"));
      }
      field->assign(it->value.GetString(), it->value.GetStringLength());
    }
    auto kind = v.FindMember("kind");
    if (kind == v.MemberEnd() || !kind->value.IsString()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".kind: Required value"));
    }
    const std::string_view name(kind->value.GetString(), kind->value.GetStringLength());
    bool known = false;
    for (const auto& [k, kind_name] : kKinds) {
      if (kind_name == name) {
        e.kind = k;
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".kind: Unsupported value: \"", std::string(name), "\""));
    }
    if (e.id.empty() || e.json.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": id and json are required"));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace qdirect
