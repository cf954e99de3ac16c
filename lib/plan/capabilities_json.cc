#include "plan/capabilities_json.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::plan {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteSet(Writer& w, const char* key, const QemuCapabilities::Names& set) {
  w.Key(key);
  w.StartArray();
  for (const std::string& s : set) w.String(s.data(), s.size());
  w.EndArray();
}

absl::Status ReadSet(const rapidjson::Value& obj, const char* key,
                     QemuCapabilities::Names& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat("qemu capabilities: \"", key, "\" is not an array"));
  }
  for (const rapidjson::Value& v : it->value.GetArray()) {
    if (!v.IsString()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "qemu capabilities: \"", key, "\" holds a non-string"));
    }
    out.emplace(v.GetString(), v.GetStringLength());
  }
  return absl::OkStatus();
}

absl::Status ReadString(const rapidjson::Value& obj, const char* key,
                        std::string& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) {
    return absl::InvalidArgumentError(
        absl::StrCat("qemu capabilities: \"", key, "\" is not a string"));
  }
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

absl::Status ReadInt(const rapidjson::Value& obj, const char* key, int& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsInt()) {
    return absl::InvalidArgumentError(
        absl::StrCat("qemu capabilities: \"", key, "\" is not an integer"));
  }
  out = it->value.GetInt();
  return absl::OkStatus();
}

}  // namespace

std::string CapabilitiesToJson(const QemuCapabilities& caps,
                               std::string_view cache_key) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  if (!cache_key.empty()) {
    w.Key("cache_key");
    w.String(cache_key.data(), cache_key.size());
  }
  w.Key("binary");
  w.String(caps.binary.data(), caps.binary.size());
  w.Key("version");
  w.String(caps.version.data(), caps.version.size());
  w.Key("major");
  w.Int(caps.major);
  w.Key("minor");
  w.Int(caps.minor);
  w.Key("micro");
  w.Int(caps.micro);
  WriteSet(w, "machine_types", caps.machine_types);
  WriteSet(w, "accelerators", caps.accelerators);
  WriteSet(w, "device_types", caps.device_types);
  WriteSet(w, "object_types", caps.object_types);
  w.Key("device_properties");
  w.StartObject();
  for (const auto& [type, props] : caps.device_properties) {
    WriteSet(w, type.c_str(), props);
  }
  w.EndObject();
  WriteSet(w, "commands", caps.commands);
  WriteSet(w, "events", caps.events);
  WriteSet(w, "cpu_models", caps.cpu_models);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<QemuCapabilities> CapabilitiesFromJson(std::string_view json,
                                                      std::string* cache_key) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "qemu capabilities: JSON error at offset ", doc.GetErrorOffset(), ": ",
        rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError("qemu capabilities: not an object");
  }
  QemuCapabilities caps;
  if (cache_key != nullptr) {
    cache_key->clear();
    auto key = doc.FindMember("cache_key");
    if (key != doc.MemberEnd() && key->value.IsString()) {
      cache_key->assign(key->value.GetString(), key->value.GetStringLength());
    }
  }
  for (absl::Status step :
       {ReadString(doc, "binary", caps.binary),
        ReadString(doc, "version", caps.version),
        ReadInt(doc, "major", caps.major), ReadInt(doc, "minor", caps.minor),
        ReadInt(doc, "micro", caps.micro),
        ReadSet(doc, "machine_types", caps.machine_types),
        ReadSet(doc, "accelerators", caps.accelerators),
        ReadSet(doc, "device_types", caps.device_types),
        ReadSet(doc, "object_types", caps.object_types),
        ReadSet(doc, "commands", caps.commands),
        ReadSet(doc, "events", caps.events),
        ReadSet(doc, "cpu_models", caps.cpu_models)}) {
    if (!step.ok()) return step;
  }
  auto props = doc.FindMember("device_properties");
  if (props == doc.MemberEnd() || !props->value.IsObject()) {
    return absl::InvalidArgumentError(
        "qemu capabilities: \"device_properties\" is not an object");
  }
  for (const auto& member : props->value.GetObject()) {
    std::string type(member.name.GetString(), member.name.GetStringLength());
    QemuCapabilities::Names& set = caps.device_properties[type];
    absl::Status st = ReadSet(props->value, type.c_str(), set);
    if (!st.ok()) return st;
  }
  return caps;
}

}  // namespace qdirect::plan
