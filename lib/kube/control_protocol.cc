#include "kube/control_protocol.h"

#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "qdirect/hostdev.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect::kube {
namespace {

using rapidjson::Document;
using rapidjson::StringBuffer;
using rapidjson::Value;
using Writer = rapidjson::Writer<StringBuffer>;

// Debian's abseil has its own string_view; StrCat takes only that one.
absl::string_view AV(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

template <typename T>
inline constexpr bool kAlwaysFalse = false;

constexpr std::pair<std::string_view, ControlRequest (*)()> kSimpleRequests[] = {
    {"status", [] { return ControlRequest(StatusRequest{}); }},
    {"pause", [] { return ControlRequest(PauseRequest{}); }},
    {"unpause", [] { return ControlRequest(UnpauseRequest{}); }},
    {"reset", [] { return ControlRequest(ResetRequest{}); }},
    {"soft_reboot", [] { return ControlRequest(SoftRebootRequest{}); }},
    {"kill", [] { return ControlRequest(KillRequest{}); }},
    {"console_log", [] { return ControlRequest(ConsoleLogRequest{}); }},
    {"stats", [] { return ControlRequest(StatsRequest{}); }},
    {"guest_os_info", [] { return ControlRequest(GuestOsInfoRequest{}); }},
    {"fs_list", [] { return ControlRequest(FsListRequest{}); }},
    {"user_list", [] { return ControlRequest(UserListRequest{}); }},
    {"console_attach", [] { return ControlRequest(ConsoleAttachRequest{}); }},
    {"migrate_cancel", [] { return ControlRequest(MigrateCancelRequest{}); }},
    {"migration_progress", [] { return ControlRequest(MigrationProgressRequest{}); }},
};

void WriteString(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string ValueToJson(const Value& value) {
  StringBuffer buffer;
  Writer w(buffer);
  value.Accept(w);
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<Document> ParseObject(std::string_view text,
                                     std::string_view what) {
  // RapidJSON would take a NUL as the end of the text and ignore the rest.
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(what), ": invalid JSON: contains a NUL byte"));
  }
  Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AV(what), ": invalid JSON at offset ", doc.GetErrorOffset(), ": ",
        rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AV(what), ": not a JSON object"));
  }
  return doc;
}

std::string_view StripNewline(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  return line;
}

absl::Status WrongType(std::string_view path, std::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(AV(path), ": expected ", AV(want)));
}

absl::Status GetString(const Value& obj, const char* key, std::string_view path,
                       std::string* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsString()) {
    return WrongType(absl::StrCat(AV(path), ".", key), "a string");
  }
  out->assign(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

absl::Status GetUint64(const Value& obj, const char* key, std::string_view path,
                       std::optional<uint64_t>* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsUint64()) {
    return WrongType(absl::StrCat(AV(path), ".", key), "an unsigned integer");
  }
  *out = it->value.GetUint64();
  return absl::OkStatus();
}

absl::StatusOr<const Value*> GetArray(const Value& obj, const char* key,
                                      std::string_view path) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return nullptr;
  if (!it->value.IsArray()) {
    return WrongType(absl::StrCat(AV(path), ".", key), "an array");
  }
  return &it->value;
}

// --- guest agent payloads, KubeVirt's names --------------------------------

template <typename W>
void WriteOptionalString(W& w, const char* key, const std::string& value) {
  if (value.empty()) return;
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

template <typename W>
void WriteFilesystems(W& w, const std::vector<agent::Filesystem>& list) {
  w.StartObject();
  w.Key("items");
  w.StartArray();
  for (const agent::Filesystem& fs : list) {
    w.StartObject();
    WriteOptionalString(w, "diskName", fs.name);
    WriteOptionalString(w, "mountPoint", fs.mountpoint);
    WriteOptionalString(w, "fileSystemType", fs.type);
    if (fs.used_bytes) {
      w.Key("usedBytes");
      w.Uint64(*fs.used_bytes);
    }
    if (fs.total_bytes) {
      w.Key("totalBytes");
      w.Uint64(*fs.total_bytes);
    }
    if (!fs.disks.empty()) {
      w.Key("disk");
      w.StartArray();
      for (const agent::FsDisk& disk : fs.disks) {
        w.StartObject();
        WriteOptionalString(w, "serial", disk.serial);
        WriteOptionalString(w, "busType", disk.bus_type);
        WriteOptionalString(w, "dev", disk.dev);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

template <typename W>
void WriteUsers(W& w, const std::vector<agent::GuestUser>& users) {
  w.StartObject();
  w.Key("items");
  w.StartArray();
  for (const agent::GuestUser& user : users) {
    w.StartObject();
    WriteOptionalString(w, "userName", user.user);
    WriteOptionalString(w, "domain", user.domain);
    if (user.login_time != 0) {
      w.Key("loginTime");
      w.Double(user.login_time);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

template <typename Fn>
std::string Render(bool pretty, Fn&& write) {
  StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<StringBuffer> w(buffer);
    w.SetIndent(' ', 2);
    write(w);
  } else {
    Writer w(buffer);
    write(w);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<std::vector<agent::Filesystem>> ReadFilesystems(
    const Value& v, std::string_view path) {
  if (!v.IsObject()) return WrongType(path, "an object");
  ASSIGN_OR_RETURN(const Value* items, GetArray(v, "items", path));
  std::vector<agent::Filesystem> out;
  if (items == nullptr) return out;
  for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
    const std::string at = absl::StrCat(AV(path), ".items[", i, "]");
    const Value& item = (*items)[i];
    if (!item.IsObject()) return WrongType(at, "an object");
    agent::Filesystem fs;
    RETURN_IF_ERROR(GetString(item, "diskName", at, &fs.name));
    RETURN_IF_ERROR(GetString(item, "mountPoint", at, &fs.mountpoint));
    RETURN_IF_ERROR(GetString(item, "fileSystemType", at, &fs.type));
    RETURN_IF_ERROR(GetUint64(item, "usedBytes", at, &fs.used_bytes));
    RETURN_IF_ERROR(GetUint64(item, "totalBytes", at, &fs.total_bytes));
    ASSIGN_OR_RETURN(const Value* disks, GetArray(item, "disk", at));
    for (rapidjson::SizeType d = 0; disks != nullptr && d < disks->Size(); ++d) {
      const std::string disk_at = absl::StrCat(at, ".disk[", d, "]");
      if (!(*disks)[d].IsObject()) return WrongType(disk_at, "an object");
      agent::FsDisk disk;
      RETURN_IF_ERROR(GetString((*disks)[d], "serial", disk_at, &disk.serial));
      RETURN_IF_ERROR(GetString((*disks)[d], "busType", disk_at, &disk.bus_type));
      RETURN_IF_ERROR(GetString((*disks)[d], "dev", disk_at, &disk.dev));
      fs.disks.push_back(std::move(disk));
    }
    out.push_back(std::move(fs));
  }
  return out;
}

absl::StatusOr<std::vector<agent::GuestUser>> ReadUsers(const Value& v,
                                                        std::string_view path) {
  if (!v.IsObject()) return WrongType(path, "an object");
  ASSIGN_OR_RETURN(const Value* items, GetArray(v, "items", path));
  std::vector<agent::GuestUser> out;
  if (items == nullptr) return out;
  for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
    const std::string at = absl::StrCat(AV(path), ".items[", i, "]");
    const Value& item = (*items)[i];
    if (!item.IsObject()) return WrongType(at, "an object");
    agent::GuestUser user;
    RETURN_IF_ERROR(GetString(item, "userName", at, &user.user));
    RETURN_IF_ERROR(GetString(item, "domain", at, &user.domain));
    auto t = item.FindMember("loginTime");
    if (t != item.MemberEnd()) {
      if (!t->value.IsNumber()) return WrongType(absl::StrCat(at, ".loginTime"), "a number");
      user.login_time = t->value.GetDouble();
    }
    out.push_back(std::move(user));
  }
  return out;
}

absl::StatusOr<absl::StatusCode> ParseStatusCode(std::string_view name) {
  for (int code = 0; code <= 16; ++code) {
    const auto c = static_cast<absl::StatusCode>(code);
    if (absl::StatusCodeToString(c) == AV(name)) return c;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("response.error.code: unknown code \"", AV(name), "\""));
}

// ---- Live migration: MigrationOptions under KubeVirt's
// MigrationConfiguration names, and query-migrate's sample.

template <typename W>
void WriteMigrationOptions(W& w, const MigrationOptions& o) {
  w.StartObject();
  w.Key("bandwidthPerMigration");
  w.Uint64(o.bandwidth_per_migration);
  w.Key("completionTimeoutPerGiB");
  w.Int64(o.completion_timeout_per_gib);
  w.Key("progressTimeout");
  w.Int64(absl::ToInt64Seconds(o.progress_timeout));
  if (o.max_downtime_ms) {
    w.Key("maxDowntimeMs");
    w.Int64(*o.max_downtime_ms);
  }
  w.Key("allowAutoConverge");
  w.Bool(o.allow_auto_converge);
  w.Key("allowPostCopy");
  w.Bool(o.allow_post_copy);
  w.Key("parallelMigrationThreads");
  w.Int(o.parallel_migration_threads);
  w.Key("disableTLS");
  w.Bool(o.disable_tls);
  WriteOptionalString(w, "tlsX509Dir", o.tls_x509_dir);
  WriteOptionalString(w, "tlsHostname", o.tls_hostname);
  w.EndObject();
}

absl::Status GetInt64(const Value& obj, const char* key, std::string_view path,
                      int64_t min, int64_t* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsInt64() || it->value.GetInt64() < min) {
    return WrongType(absl::StrCat(AV(path), ".", key),
                     absl::StrCat("an integer >= ", min));
  }
  *out = it->value.GetInt64();
  return absl::OkStatus();
}

absl::Status GetBool(const Value& obj, const char* key, std::string_view path,
                     bool* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsBool()) {
    return WrongType(absl::StrCat(AV(path), ".", key), "a boolean");
  }
  *out = it->value.GetBool();
  return absl::OkStatus();
}

absl::Status RequireName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("request.name: Required value");
  return absl::OkStatus();
}

// The fields of the hotplug requests (the other requests write nothing).
absl::Status WriteHotplugRequest(Writer& w, const ControlRequest& request) {
  auto str = [&w](const char* key, const std::string& value) {
    w.Key(key);
    WriteString(w, value);
  };
  if (const auto* r = std::get_if<AddVolumeRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
    if (!r->disk_path.empty()) str("disk_path", r->disk_path);
    if (!r->claim_name.empty()) str("claim_name", r->claim_name);
    str("bus", r->bus);
    if (!r->serial.empty()) str("serial", r->serial);
    if (r->read_only) {
      w.Key("readonly");
      w.Bool(true);
    }
    if (!r->cache.empty()) str("cache", r->cache);
  } else if (const auto* r = std::get_if<RemoveVolumeRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
  } else if (const auto* r = std::get_if<AddInterfaceRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
    if (!r->mac.empty()) str("mac", r->mac);
    str("model", r->model);
    str("binding", r->binding);
  } else if (const auto* r = std::get_if<RemoveInterfaceRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
  } else if (const auto* r = std::get_if<AddHostDeviceRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    if (r->pci_address.empty()) {
      return absl::InvalidArgumentError("request.pci_address: Required value");
    }
    str("name", r->name);
    str("pci_address", r->pci_address);
    w.Key("with_companions");
    w.Bool(r->with_companions);
  } else if (const auto* r = std::get_if<RemoveHostDeviceRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
  } else if (const auto* r = std::get_if<SetLinkRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
    w.Key("up");
    w.Bool(r->up);
  } else if (const auto* r = std::get_if<ChangeMediaRequest>(&request)) {
    RETURN_IF_ERROR(RequireName(r->name));
    str("name", r->name);
    if (!r->disk_path.empty()) str("disk_path", r->disk_path);
    if (!r->claim_name.empty()) str("claim_name", r->claim_name);
    if (r->eject) {
      w.Key("eject");
      w.Bool(true);
    }
  } else if (const auto* r = std::get_if<ScaleRequest>(&request)) {
    if (!r->sockets && !r->memory_bytes) {
      return absl::InvalidArgumentError("scale request: sockets or memory is required");
    }
    if (r->sockets) {
      w.Key("sockets");
      w.Uint(*r->sockets);
    }
    if (r->memory_bytes) {
      w.Key("memory_bytes");
      w.Int64(*r->memory_bytes);
    }
  }
  return absl::OkStatus();
}

// nullopt: `name` is no hotplug request.
std::optional<absl::StatusOr<ControlRequest>> ReadHotplugRequest(std::string_view name,
                                                                 const Document& doc) {
  if (name == "add_volume") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      AddVolumeRequest r;
      RETURN_IF_ERROR(GetString(doc, "name", "request", &r.name));
      RETURN_IF_ERROR(RequireName(r.name));
      RETURN_IF_ERROR(GetString(doc, "disk_path", "request", &r.disk_path));
      RETURN_IF_ERROR(GetString(doc, "claim_name", "request", &r.claim_name));
      RETURN_IF_ERROR(GetString(doc, "bus", "request", &r.bus));
      RETURN_IF_ERROR(GetString(doc, "serial", "request", &r.serial));
      RETURN_IF_ERROR(GetBool(doc, "readonly", "request", &r.read_only));
      RETURN_IF_ERROR(GetString(doc, "cache", "request", &r.cache));
      return r;
    }();
  }
  if (name == "remove_volume" || name == "remove_interface" ||
      name == "remove_host_device") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      std::string n;
      RETURN_IF_ERROR(GetString(doc, "name", "request", &n));
      RETURN_IF_ERROR(RequireName(n));
      if (name == "remove_volume") return RemoveVolumeRequest{n};
      if (name == "remove_host_device") return RemoveHostDeviceRequest{n};
      return RemoveInterfaceRequest{n};
    }();
  }
  if (name == "add_host_device") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      AddHostDeviceRequest r;
      RETURN_IF_ERROR(GetString(doc, "name", "request", &r.name));
      RETURN_IF_ERROR(RequireName(r.name));
      RETURN_IF_ERROR(GetString(doc, "pci_address", "request", &r.pci_address));
      if (r.pci_address.empty()) {
        return absl::InvalidArgumentError("request.pci_address: Required value");
      }
      RETURN_IF_ERROR(GetBool(doc, "with_companions", "request", &r.with_companions));
      return r;
    }();
  }
  if (name == "add_interface") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      AddInterfaceRequest r;
      RETURN_IF_ERROR(GetString(doc, "name", "request", &r.name));
      RETURN_IF_ERROR(RequireName(r.name));
      RETURN_IF_ERROR(GetString(doc, "mac", "request", &r.mac));
      RETURN_IF_ERROR(GetString(doc, "model", "request", &r.model));
      RETURN_IF_ERROR(GetString(doc, "binding", "request", &r.binding));
      return r;
    }();
  }
  if (name == "change_media") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      ChangeMediaRequest r;
      RETURN_IF_ERROR(GetString(doc, "name", "request", &r.name));
      RETURN_IF_ERROR(RequireName(r.name));
      RETURN_IF_ERROR(GetString(doc, "disk_path", "request", &r.disk_path));
      RETURN_IF_ERROR(GetString(doc, "claim_name", "request", &r.claim_name));
      RETURN_IF_ERROR(GetBool(doc, "eject", "request", &r.eject));
      return r;
    }();
  }
  if (name == "set_link") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      SetLinkRequest r;
      RETURN_IF_ERROR(GetString(doc, "name", "request", &r.name));
      RETURN_IF_ERROR(RequireName(r.name));
      RETURN_IF_ERROR(GetBool(doc, "up", "request", &r.up));
      return r;
    }();
  }
  if (name == "scale") {
    return [&]() -> absl::StatusOr<ControlRequest> {
      ScaleRequest r;
      if (auto it = doc.FindMember("sockets"); it != doc.MemberEnd()) {
        if (!it->value.IsUint() || it->value.GetUint() == 0) {
          return WrongType("request.sockets", "an integer >= 1");
        }
        r.sockets = it->value.GetUint();
      }
      if (auto it = doc.FindMember("memory_bytes"); it != doc.MemberEnd()) {
        if (!it->value.IsInt64() || it->value.GetInt64() <= 0) {
          return WrongType("request.memory_bytes", "an integer > 0");
        }
        r.memory_bytes = it->value.GetInt64();
      }
      if (!r.sockets && !r.memory_bytes) {
        return absl::InvalidArgumentError("request: sockets or memory_bytes is required");
      }
      return r;
    }();
  }
  return std::nullopt;
}

absl::StatusOr<MigrationOptions> ReadMigrationOptions(const Value& v,
                                                      std::string_view path) {
  if (!v.IsObject()) return WrongType(path, "an object");
  MigrationOptions o;
  int64_t n = 0;
  if (v.HasMember("bandwidthPerMigration")) {
    RETURN_IF_ERROR(GetInt64(v, "bandwidthPerMigration", path, 0, &n));
    o.bandwidth_per_migration = static_cast<uint64_t>(n);
  }
  RETURN_IF_ERROR(GetInt64(v, "completionTimeoutPerGiB", path, 0,
                           &o.completion_timeout_per_gib));
  if (v.HasMember("progressTimeout")) {
    RETURN_IF_ERROR(GetInt64(v, "progressTimeout", path, 0, &n));
    o.progress_timeout = absl::Seconds(n);
  }
  if (v.HasMember("maxDowntimeMs")) {
    RETURN_IF_ERROR(GetInt64(v, "maxDowntimeMs", path, 1, &n));
    o.max_downtime_ms = n;
  }
  RETURN_IF_ERROR(GetBool(v, "allowAutoConverge", path, &o.allow_auto_converge));
  RETURN_IF_ERROR(GetBool(v, "allowPostCopy", path, &o.allow_post_copy));
  if (v.HasMember("parallelMigrationThreads")) {
    RETURN_IF_ERROR(GetInt64(v, "parallelMigrationThreads", path, 0, &n));
    if (n > 255) {
      return WrongType(absl::StrCat(AV(path), ".parallelMigrationThreads"),
                       "an integer <= 255");
    }
    o.parallel_migration_threads = static_cast<int>(n);
  }
  RETURN_IF_ERROR(GetBool(v, "disableTLS", path, &o.disable_tls));
  RETURN_IF_ERROR(GetString(v, "tlsX509Dir", path, &o.tls_x509_dir));
  RETURN_IF_ERROR(GetString(v, "tlsHostname", path, &o.tls_hostname));
  return o;
}

template <typename W>
void WriteMigrationProgress(W& w, const MigrationProgress& p) {
  w.StartObject();
  w.Key("status");
  w.String(p.status.data(), static_cast<rapidjson::SizeType>(p.status.size()));
  w.Key("totalTimeMs");
  w.Int64(p.total_time_ms);
  w.Key("downtimeMs");
  w.Int64(p.downtime_ms);
  w.Key("expectedDowntimeMs");
  w.Int64(p.expected_downtime_ms);
  w.Key("ramTotal");
  w.Uint64(p.ram_total);
  w.Key("ramTransferred");
  w.Uint64(p.ram_transferred);
  w.Key("ramRemaining");
  w.Uint64(p.ram_remaining);
  w.Key("mbps");
  w.Double(p.mbps);
  WriteOptionalString(w, "errorDesc", p.error_desc);
  w.EndObject();
}

absl::StatusOr<MigrationProgress> ReadMigrationProgress(const Value& v,
                                                        std::string_view path) {
  if (!v.IsObject()) return WrongType(path, "an object");
  MigrationProgress p;
  int64_t n = 0;
  RETURN_IF_ERROR(GetString(v, "status", path, &p.status));
  RETURN_IF_ERROR(GetInt64(v, "totalTimeMs", path, 0, &p.total_time_ms));
  RETURN_IF_ERROR(GetInt64(v, "downtimeMs", path, 0, &p.downtime_ms));
  RETURN_IF_ERROR(
      GetInt64(v, "expectedDowntimeMs", path, 0, &p.expected_downtime_ms));
  for (auto [key, field] : {std::pair{"ramTotal", &p.ram_total},
                            std::pair{"ramTransferred", &p.ram_transferred},
                            std::pair{"ramRemaining", &p.ram_remaining}}) {
    n = 0;
    RETURN_IF_ERROR(GetInt64(v, key, path, 0, &n));
    *field = static_cast<uint64_t>(n);
  }
  if (auto it = v.FindMember("mbps"); it != v.MemberEnd()) {
    if (!it->value.IsNumber()) {
      return WrongType(absl::StrCat(AV(path), ".mbps"), "a number");
    }
    p.mbps = it->value.GetDouble();
  }
  RETURN_IF_ERROR(GetString(v, "errorDesc", path, &p.error_desc));
  return p;
}

}  // namespace

absl::StatusOr<VolumeHotplug> ToVolumeHotplug(const AddVolumeRequest& request) {
  VolumeHotplug out;
  out.disk.name = request.name;
  out.volume.name = request.name;
  if (request.bus == "virtio") {
    out.disk.bus = spec::DiskBus::kVirtio;
  } else if (request.bus == "scsi") {
    out.disk.bus = spec::DiskBus::kScsi;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "add_volume.bus: Unsupported value: \"", request.bus,
        "\": supported values: \"scsi\", \"virtio\""));
  }
  out.disk.serial = request.serial;
  out.disk.readonly = request.read_only;
  if (request.cache.empty()) {
    out.disk.cache = spec::DiskCache::kDefault;
  } else if (request.cache == "none") {
    out.disk.cache = spec::DiskCache::kNone;
  } else if (request.cache == "writethrough") {
    out.disk.cache = spec::DiskCache::kWriteThrough;
  } else if (request.cache == "writeback") {
    out.disk.cache = spec::DiskCache::kWriteBack;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "add_volume.cache: Unsupported value: \"", request.cache,
        "\": supported values: \"none\", \"writeback\", \"writethrough\""));
  }
  if (request.disk_path.empty() == request.claim_name.empty()) {
    return absl::InvalidArgumentError(
        "add_volume: exactly one of disk_path and claim_name is required");
  }
  if (!request.disk_path.empty()) {
    spec::HostDiskSource disk;
    disk.path = request.disk_path;
    disk.type = "Disk";
    out.volume.source = disk;
  } else {
    spec::PersistentVolumeClaimSource pvc;
    pvc.claim_name = request.claim_name;
    pvc.read_only = request.read_only;
    pvc.hotpluggable = true;
    out.volume.source = pvc;
  }
  return out;
}

absl::StatusOr<HostDeviceHotplug> ToHostDeviceHotplug(const AddHostDeviceRequest& request) {
  absl::StatusOr<std::string> address = hostdev::CanonicalPciAddress(request.pci_address);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("add_host_device.pci_address: ", address.status().message()));
  }
  return HostDeviceHotplug{request.name, *address, request.with_companions};
}

absl::StatusOr<InterfaceHotplug> ToInterfaceHotplug(const AddInterfaceRequest& request) {
  InterfaceHotplug out;
  out.iface.name = request.name;
  out.iface.mac_address = request.mac;
  out.iface.model = request.model;
  out.network.name = request.name;
  if (request.binding == "masquerade") {
    out.iface.binding = spec::Interface::Binding::kMasquerade;
  } else if (request.binding == "bridge") {
    out.iface.binding = spec::Interface::Binding::kBridge;
  } else if (request.binding == "slirp") {
    out.iface.binding = spec::Interface::Binding::kSlirp;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "add_interface.binding: Unsupported value: \"", request.binding,
        "\": supported values: \"bridge\", \"masquerade\", \"slirp\""));
  }
  return out;
}

absl::StatusOr<std::optional<spec::Volume>> ToMediaVolume(const ChangeMediaRequest& request) {
  const int given = !request.disk_path.empty() + !request.claim_name.empty() + request.eject;
  if (given != 1) {
    return absl::InvalidArgumentError(
        "change_media: exactly one of disk_path, claim_name and eject is required");
  }
  if (request.eject) return std::optional<spec::Volume>();
  spec::Volume volume;
  volume.name = request.name;
  if (!request.disk_path.empty()) {
    spec::HostDiskSource disk;
    disk.path = request.disk_path;
    disk.type = "Disk";
    volume.source = disk;
  } else {
    spec::PersistentVolumeClaimSource pvc;
    pvc.claim_name = request.claim_name;
    pvc.read_only = true;
    volume.source = pvc;
  }
  return std::optional<spec::Volume>(std::move(volume));
}

std::string_view RequestName(const ControlRequest& request) {
  return std::visit(
      [](const auto& r) -> std::string_view {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, StatusRequest>) return "status";
        else if constexpr (std::is_same_v<T, PauseRequest>) return "pause";
        else if constexpr (std::is_same_v<T, UnpauseRequest>) return "unpause";
        else if constexpr (std::is_same_v<T, ResetRequest>) return "reset";
        else if constexpr (std::is_same_v<T, SoftRebootRequest>) return "soft_reboot";
        else if constexpr (std::is_same_v<T, StopRequest>) return "stop";
        else if constexpr (std::is_same_v<T, KillRequest>) return "kill";
        else if constexpr (std::is_same_v<T, QmpRequest>) return "qmp";
        else if constexpr (std::is_same_v<T, ConsoleLogRequest>) return "console_log";
        else if constexpr (std::is_same_v<T, StatsRequest>) return "stats";
        else if constexpr (std::is_same_v<T, GuestOsInfoRequest>) return "guest_os_info";
        else if constexpr (std::is_same_v<T, FsListRequest>) return "fs_list";
        else if constexpr (std::is_same_v<T, UserListRequest>) return "user_list";
        else if constexpr (std::is_same_v<T, ConsoleAttachRequest>) return "console_attach";
        else if constexpr (std::is_same_v<T, AddVolumeRequest>) return "add_volume";
        else if constexpr (std::is_same_v<T, RemoveVolumeRequest>) return "remove_volume";
        else if constexpr (std::is_same_v<T, AddInterfaceRequest>) return "add_interface";
        else if constexpr (std::is_same_v<T, RemoveInterfaceRequest>) return "remove_interface";
        else if constexpr (std::is_same_v<T, SetLinkRequest>) return "set_link";
        else if constexpr (std::is_same_v<T, ScaleRequest>) return "scale";
        else if constexpr (std::is_same_v<T, ChangeMediaRequest>) return "change_media";
        else if constexpr (std::is_same_v<T, AddHostDeviceRequest>) return "add_host_device";
        else if constexpr (std::is_same_v<T, RemoveHostDeviceRequest>) return "remove_host_device";
        else if constexpr (std::is_same_v<T, MigrateRequest>) return "migrate";
        else if constexpr (std::is_same_v<T, MigrateCancelRequest>) return "migrate_cancel";
        else if constexpr (std::is_same_v<T, MigrationProgressRequest>) return "migration_progress";
        else static_assert(kAlwaysFalse<T>, "request without a name");
      },
      request);
}

absl::StatusOr<std::string> EncodeRequest(const ControlRequest& request) {
  StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("request");
  WriteString(w, RequestName(request));
  if (const auto* stop = std::get_if<StopRequest>(&request)) {
    if (stop->grace_seconds) {
      w.Key("grace_seconds");
      w.Int64(*stop->grace_seconds);
    }
  } else if (const auto* qmp = std::get_if<QmpRequest>(&request)) {
    if (qmp->command.empty()) {
      return absl::InvalidArgumentError("qmp request: empty command");
    }
    w.Key("command");
    WriteString(w, qmp->command);
    if (!qmp->arguments.empty()) {
      ASSIGN_OR_RETURN(Document args,
                       ParseObject(qmp->arguments, "qmp request: arguments"));
      w.Key("arguments");
      args.Accept(w);
    }
  } else if (const auto* migrate = std::get_if<MigrateRequest>(&request)) {
    if (migrate->uri.empty()) {
      return absl::InvalidArgumentError("migrate request: empty uri");
    }
    w.Key("uri");
    WriteString(w, migrate->uri);
    w.Key("options");
    WriteMigrationOptions(w, migrate->options);
  }
  RETURN_IF_ERROR(WriteHotplugRequest(w, request));
  w.EndObject();
  return absl::StrCat(absl::string_view(buffer.GetString(), buffer.GetSize()),
                      "\n");
}

absl::StatusOr<ControlRequest> DecodeRequest(std::string_view line) {
  line = StripNewline(line);
  if (line.size() > kMaxRequestBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request: ", line.size(), " bytes, more than the limit of ",
        kMaxRequestBytes));
  }
  ASSIGN_OR_RETURN(Document doc, ParseObject(line, "request"));
  auto name_it = doc.FindMember("request");
  if (name_it == doc.MemberEnd()) {
    return absl::InvalidArgumentError("request.request: Required value");
  }
  if (!name_it->value.IsString()) return WrongType("request.request", "a string");
  const std::string_view name(name_it->value.GetString(),
                              name_it->value.GetStringLength());
  for (const auto& [simple_name, make] : kSimpleRequests) {
    if (name == simple_name) return make();
  }
  if (name == "stop") {
    StopRequest stop;
    auto it = doc.FindMember("grace_seconds");
    if (it != doc.MemberEnd()) {
      if (!it->value.IsInt64() || it->value.GetInt64() < 0) {
        return WrongType("request.grace_seconds", "an integer >= 0");
      }
      stop.grace_seconds = it->value.GetInt64();
    }
    return stop;
  }
  if (name == "qmp") {
    QmpRequest qmp;
    RETURN_IF_ERROR(GetString(doc, "command", "request", &qmp.command));
    if (qmp.command.empty()) {
      return absl::InvalidArgumentError("request.command: Required value");
    }
    auto it = doc.FindMember("arguments");
    if (it != doc.MemberEnd()) {
      if (!it->value.IsObject()) return WrongType("request.arguments", "an object");
      qmp.arguments = ValueToJson(it->value);
    }
    return qmp;
  }
  if (std::optional<absl::StatusOr<ControlRequest>> hotplug =
          ReadHotplugRequest(name, doc)) {
    return *std::move(hotplug);
  }
  if (name == "migrate") {
    MigrateRequest migrate;
    RETURN_IF_ERROR(GetString(doc, "uri", "request", &migrate.uri));
    if (migrate.uri.empty()) {
      return absl::InvalidArgumentError("request.uri: Required value");
    }
    if (auto it = doc.FindMember("options"); it != doc.MemberEnd()) {
      ASSIGN_OR_RETURN(migrate.options,
                       ReadMigrationOptions(it->value, "request.options"));
    }
    return migrate;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "request.request: Unsupported value: \"", AV(name), "\""));
}

absl::StatusOr<QmpRequest> QmpRequestFromCommandJson(std::string_view json) {
  ASSIGN_OR_RETURN(Document doc, ParseObject(json, "qmp command"));
  QmpRequest qmp;
  RETURN_IF_ERROR(GetString(doc, "execute", "qmp command", &qmp.command));
  if (qmp.command.empty()) {
    return absl::InvalidArgumentError("qmp command.execute: Required value");
  }
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    const std::string_view key(it->name.GetString(), it->name.GetStringLength());
    if (key == "execute") continue;
    if (key == "arguments") {
      if (!it->value.IsObject()) {
        return WrongType("qmp command.arguments", "an object");
      }
      qmp.arguments = ValueToJson(it->value);
      continue;
    }
    // "id" belongs to our client, which numbers commands itself.
    return absl::InvalidArgumentError(
        absl::StrCat("qmp command.", AV(key), ": Unsupported field"));
  }
  return qmp;
}

std::string EncodeResponse(const ControlResponse& response) {
  StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  if (!response.error.ok()) {
    w.Key("error");
    w.StartObject();
    w.Key("code");
    const std::string code = absl::StatusCodeToString(response.error.code());
    WriteString(w, code);
    w.Key("message");
    WriteString(w, std::string_view(response.error.message().data(),
                                    response.error.message().size()));
    w.EndObject();
  }
  if (response.status) {
    const std::string json =
        ToJson(*response.status, {.include_qdirect = true, .pretty = false});
    w.Key("status");
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  }
  if (response.qmp_return) {
    w.Key("return");
    Document value;
    value.Parse(response.qmp_return->data(), response.qmp_return->size());
    // Our own QMP client produced it; a broken text is our bug, sent as null.
    if (value.HasParseError()) value.SetNull();
    value.Accept(w);
  }
  if (response.stats) {
    w.Key("stats");
    Document value;
    value.Parse(response.stats->data(), response.stats->size());
    if (value.HasParseError()) value.SetNull();  // our bug; sent as null
    value.Accept(w);
  }
  if (response.console_log) {
    w.Key("console_log");
    WriteString(w, *response.console_log);
  }
  if (response.guest_os_info) {
    const std::string json = GuestOsInfoToJson(*response.guest_os_info);
    w.Key("guestOSInfo");
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  }
  if (response.filesystems) {
    w.Key("fsList");
    WriteFilesystems(w, *response.filesystems);
  }
  if (response.users) {
    w.Key("userList");
    WriteUsers(w, *response.users);
  }
  if (response.hotplug) {
    w.Key("hotplug");
    w.StartObject();
    w.Key("outcome");
    WriteString(w, response.hotplug->outcome == HotplugOutcome::kPending ? "Pending" : "Done");
    w.Key("device");
    WriteString(w, response.hotplug->device_id);
    w.Key("message");
    WriteString(w, response.hotplug->message);
    w.EndObject();
  }
  if (response.migration_progress) {
    w.Key("migrationProgress");
    WriteMigrationProgress(w, *response.migration_progress);
  }
  w.EndObject();
  return absl::StrCat(absl::string_view(buffer.GetString(), buffer.GetSize()),
                      "\n");
}

absl::StatusOr<ControlResponse> DecodeResponse(std::string_view line) {
  line = StripNewline(line);
  if (line.size() > kMaxResponseBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "response: ", line.size(), " bytes, more than the limit of ",
        kMaxResponseBytes));
  }
  ASSIGN_OR_RETURN(Document doc, ParseObject(line, "response"));
  ControlResponse response;
  if (auto it = doc.FindMember("error"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) return WrongType("response.error", "an object");
    std::string code_name;
    std::string message;
    RETURN_IF_ERROR(GetString(it->value, "code", "response.error", &code_name));
    RETURN_IF_ERROR(GetString(it->value, "message", "response.error", &message));
    ASSIGN_OR_RETURN(absl::StatusCode code, ParseStatusCode(code_name));
    if (code == absl::StatusCode::kOk) {
      return absl::InvalidArgumentError("response.error.code: OK is no error");
    }
    response.error = absl::Status(code, message);
  }
  if (auto it = doc.FindMember("status"); it != doc.MemberEnd()) {
    absl::StatusOr<VmiStatus> status = VmiStatusFromJson(ValueToJson(it->value));
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("response.", status.status().message()));
    }
    response.status = std::move(*status);
  }
  if (auto it = doc.FindMember("return"); it != doc.MemberEnd()) {
    response.qmp_return = ValueToJson(it->value);
  }
  if (auto it = doc.FindMember("stats"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) return WrongType("response.stats", "an object");
    response.stats = ValueToJson(it->value);
  }
  if (auto it = doc.FindMember("console_log"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) return WrongType("response.console_log", "a string");
    response.console_log.emplace(it->value.GetString(), it->value.GetStringLength());
  }
  if (auto it = doc.FindMember("guestOSInfo"); it != doc.MemberEnd()) {
    ASSIGN_OR_RETURN(response.guest_os_info,
                     GuestOsInfoFromJson(ValueToJson(it->value), "response.guestOSInfo"));
  }
  if (auto it = doc.FindMember("fsList"); it != doc.MemberEnd()) {
    ASSIGN_OR_RETURN(response.filesystems,
                     ReadFilesystems(it->value, "response.fsList"));
  }
  if (auto it = doc.FindMember("userList"); it != doc.MemberEnd()) {
    ASSIGN_OR_RETURN(response.users, ReadUsers(it->value, "response.userList"));
  }
  if (auto it = doc.FindMember("hotplug"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) return WrongType("response.hotplug", "an object");
    HotplugResult result;
    std::string outcome;
    RETURN_IF_ERROR(GetString(it->value, "outcome", "response.hotplug", &outcome));
    if (outcome == "Pending") {
      result.outcome = HotplugOutcome::kPending;
    } else if (outcome != "Done") {
      return absl::InvalidArgumentError(absl::StrCat(
          "response.hotplug.outcome: Unsupported value: \"", outcome, "\""));
    }
    RETURN_IF_ERROR(GetString(it->value, "device", "response.hotplug", &result.device_id));
    RETURN_IF_ERROR(GetString(it->value, "message", "response.hotplug", &result.message));
    response.hotplug = std::move(result);
  }
  if (auto it = doc.FindMember("migrationProgress"); it != doc.MemberEnd()) {
    ASSIGN_OR_RETURN(response.migration_progress,
                     ReadMigrationProgress(it->value, "response.migrationProgress"));
  }
  return response;
}

std::string MigrationOptionsToJson(const MigrationOptions& options) {
  return Render(false, [&](auto& w) { WriteMigrationOptions(w, options); });
}

absl::StatusOr<MigrationOptions> MigrationOptionsFromJson(std::string_view json) {
  ASSIGN_OR_RETURN(Document doc, ParseObject(json, "migration options"));
  return ReadMigrationOptions(doc, "migration options");
}

std::string FilesystemsToJson(const std::vector<agent::Filesystem>& filesystems,
                              bool pretty) {
  return Render(pretty, [&](auto& w) { WriteFilesystems(w, filesystems); });
}

std::string UsersToJson(const std::vector<agent::GuestUser>& users, bool pretty) {
  return Render(pretty, [&](auto& w) { WriteUsers(w, users); });
}

}  // namespace qdirect::kube
