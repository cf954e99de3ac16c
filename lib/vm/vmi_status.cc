#include "qdirect/vmi_status.h"

#include <array>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace qdirect {
namespace {

constexpr std::array<std::pair<VmiPhase, std::string_view>, 9> kPhaseNames = {{
    {VmiPhase::kUnset, ""},
    {VmiPhase::kPending, "Pending"},
    {VmiPhase::kScheduling, "Scheduling"},
    {VmiPhase::kScheduled, "Scheduled"},
    {VmiPhase::kRunning, "Running"},
    {VmiPhase::kSucceeded, "Succeeded"},
    {VmiPhase::kFailed, "Failed"},
    {VmiPhase::kWaitingForSync, "WaitingForSync"},
    {VmiPhase::kUnknown, "Unknown"},
}};

// Debian's abseil has its own string_view, which StrCat does not take from a
// std::string_view.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

// ---------------------------------------------------------------------------
// Writing. Each Write* mirrors one Go struct; `omitempty` fields go through
// the Opt* helpers, which skip zero values exactly as encoding/json does.

template <typename W>
class JsonOut {
 public:
  explicit JsonOut(W& w) : w_(w) {}

  void Key(std::string_view key) {
    w_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  }
  void Str(std::string_view value) {
    w_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  void Field(std::string_view key, std::string_view value) {
    Key(key);
    Str(value);
  }
  void OptStr(std::string_view key, std::string_view value) {
    if (!value.empty()) Field(key, value);
  }
  void OptBool(std::string_view key, bool value) {
    if (!value) return;
    Key(key);
    w_.Bool(true);
  }
  void OptInt(std::string_view key, int64_t value) {
    if (value == 0) return;
    Key(key);
    w_.Int64(value);
  }
  // metav1.Time (a struct, never omitted): null when unset.
  void Time(std::string_view key, const std::optional<absl::Time>& t) {
    Key(key);
    if (t.has_value()) {
      Str(FormatKubeTime(*t));
    } else {
      w_.Null();
    }
  }
  // *metav1.Time with omitempty: left out when unset.
  void OptTime(std::string_view key, const std::optional<absl::Time>& t) {
    if (t.has_value()) Field(key, FormatKubeTime(*t));
  }
  W& w() { return w_; }

 private:
  W& w_;
};

template <typename W>
void WriteCondition(JsonOut<W>& out, const VmiCondition& c) {
  out.w().StartObject();
  out.Field("type", c.type);
  out.Field("status", ConditionStatusName(c.status));
  out.Time("lastProbeTime", c.last_probe_time);
  out.Time("lastTransitionTime", c.last_transition_time);
  out.OptStr("reason", c.reason);
  out.OptStr("message", c.message);
  out.w().EndObject();
}

template <typename W>
void WriteInterface(JsonOut<W>& out, const VmiInterface& i) {
  out.w().StartObject();
  out.OptStr("ipAddress", i.ip_address);
  out.OptStr("mac", i.mac);
  out.OptStr("name", i.name);
  if (!i.ip_addresses.empty()) {
    out.Key("ipAddresses");
    out.w().StartArray();
    for (const std::string& ip : i.ip_addresses) out.Str(ip);
    out.w().EndArray();
  }
  out.OptStr("podInterfaceName", i.pod_interface_name);
  out.OptStr("interfaceName", i.interface_name);
  out.OptStr("infoSource", i.info_source);
  out.OptInt("queueCount", i.queue_count);
  out.OptStr("linkState", i.link_state);
  out.w().EndObject();
}

template <typename W>
void WriteGuestOsInfo(JsonOut<W>& out, const GuestOsInfo& g) {
  out.w().StartObject();
  out.OptStr("name", g.name);
  out.OptStr("kernelRelease", g.kernel_release);
  out.OptStr("version", g.version);
  out.OptStr("prettyName", g.pretty_name);
  out.OptStr("versionId", g.version_id);
  out.OptStr("kernelVersion", g.kernel_version);
  out.OptStr("machine", g.machine);
  out.OptStr("id", g.id);
  out.w().EndObject();
}

template <typename W>
void WriteMigrationState(JsonOut<W>& out, const VmiMigrationState& m) {
  out.w().StartObject();
  out.OptTime("startTimestamp", m.start_timestamp);
  out.OptTime("endTimestamp", m.end_timestamp);
  out.OptTime("targetNodeDomainReadyTimestamp",
              m.target_node_domain_ready_timestamp);
  out.OptBool("targetNodeDomainDetected", m.target_node_domain_detected);
  out.OptStr("targetNodeAddress", m.target_node_address);
  if (!m.target_direct_migration_node_ports.empty()) {
    out.Key("targetDirectMigrationNodePorts");
    out.w().StartObject();
    for (const auto& [port, value] : m.target_direct_migration_node_ports) {
      out.Key(port);
      out.w().Int(value);
    }
    out.w().EndObject();
  }
  out.OptStr("targetNode", m.target_node);
  out.OptStr("targetPod", m.target_pod);
  out.OptStr("sourceNode", m.source_node);
  out.OptStr("sourcePod", m.source_pod);
  out.OptBool("completed", m.completed);
  out.OptBool("failed", m.failed);
  out.OptBool("abortRequested", m.abort_requested);
  out.OptStr("abortStatus", m.abort_status);
  out.OptStr("failureReason", m.failure_reason);
  out.OptStr("migrationUid", m.migration_uid);
  out.OptStr("mode", m.mode);
  out.w().EndObject();
}

template <typename W>
void WriteVolumeStatus(JsonOut<W>& out, const VmiVolumeStatus& v) {
  out.w().StartObject();
  out.Field("name", v.name);
  out.Field("target", v.target);
  out.OptStr("phase", v.phase);
  out.OptStr("reason", v.reason);
  out.OptStr("message", v.message);
  if (v.hotplug_volume.has_value()) {
    out.Key("hotplugVolume");
    out.w().StartObject();
    out.OptStr("attachPodName", v.hotplug_volume->attach_pod_name);
    out.OptStr("attachPodUID", v.hotplug_volume->attach_pod_uid);
    out.w().EndObject();
  }
  out.OptInt("size", v.size);
  out.w().EndObject();
}

template <typename W>
void WriteQdirect(JsonOut<W>& out, const QdirectStatus& q) {
  out.w().StartObject();
  out.OptInt("qemuPid", q.qemu_pid);
  out.OptStr("runtimeDir", q.runtime_dir);
  out.OptStr("qemuRunstate", q.qemu_runstate);
  if (q.exit_code.has_value()) {
    out.Key("exitCode");
    out.w().Int(*q.exit_code);
  }
  if (q.exit_signal.has_value()) {
    out.Key("exitSignal");
    out.w().Int(*q.exit_signal);
  }
  out.w().EndObject();
}

// Field order follows VirtualMachineInstanceStatus in types.go, so output
// diffs against KubeVirt's line up.
template <typename W>
void WriteStatus(W& w, const VmiStatus& s, const VmiStatusJsonOptions& opt) {
  JsonOut<W> out(w);
  w.StartObject();
  out.OptStr("nodeName", s.node_name);
  out.OptStr("reason", s.reason);
  if (!s.conditions.empty()) {
    out.Key("conditions");
    w.StartArray();
    for (const VmiCondition& c : s.conditions) WriteCondition(out, c);
    w.EndArray();
  }
  out.OptStr("phase", VmiPhaseName(s.phase));
  if (!s.phase_transition_timestamps.empty()) {
    out.Key("phaseTransitionTimestamps");
    w.StartArray();
    for (const VmiPhaseTransition& t : s.phase_transition_timestamps) {
      w.StartObject();
      out.OptStr("phase", VmiPhaseName(t.phase));
      out.Field("phaseTransitionTimestamp", FormatKubeTime(t.timestamp));
      w.EndObject();
    }
    w.EndArray();
  }
  if (!s.interfaces.empty()) {
    out.Key("interfaces");
    w.StartArray();
    for (const VmiInterface& i : s.interfaces) WriteInterface(out, i);
    w.EndArray();
  }
  out.Key("guestOSInfo");
  WriteGuestOsInfo(out, s.guest_os_info);
  if (s.migration_state.has_value()) {
    out.Key("migrationState");
    WriteMigrationState(out, *s.migration_state);
  }
  out.OptStr("migrationMethod", s.migration_method);
  out.OptStr("migrationTransport", s.migration_transport);
  out.OptStr("qosClass", s.qos_class);
  out.OptStr("launcherContainerImageVersion",
             s.launcher_container_image_version);
  if (!s.volume_status.empty()) {
    out.Key("volumeStatus");
    w.StartArray();
    for (const VmiVolumeStatus& v : s.volume_status) WriteVolumeStatus(out, v);
    w.EndArray();
  }
  out.OptStr("fsFreezeStatus", s.fs_freeze_status);
  out.Key("runtimeUser");
  w.Uint64(s.runtime_user);
  if (opt.include_qdirect) {
    out.Key("qdirect");
    WriteQdirect(out, s.qdirect);
  }
  w.EndObject();
}

// ---------------------------------------------------------------------------
// Reading. Every accessor takes the field's path so errors name it.

using Value = rapidjson::Value;

absl::Status TypeError(const std::string& path, std::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": Invalid value: expected ", Sv(want)));
}

absl::Status GetString(const Value& obj, const char* key,
                       const std::string& path, std::string& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsString()) {
    return TypeError(absl::StrCat(path, ".", key), "string");
  }
  out.assign(it->value.GetString(), it->value.GetStringLength());
  return absl::OkStatus();
}

absl::Status GetBool(const Value& obj, const char* key,
                     const std::string& path, bool& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  if (!it->value.IsBool()) {
    return TypeError(absl::StrCat(path, ".", key), "boolean");
  }
  out = it->value.GetBool();
  return absl::OkStatus();
}

template <typename Int>
absl::Status GetInt(const Value& obj, const char* key, const std::string& path,
                    Int& out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return absl::OkStatus();
  const Value& v = it->value;
  if constexpr (std::is_unsigned_v<Int>) {
    if (!v.IsUint64()) {
      return TypeError(absl::StrCat(path, ".", key), "unsigned integer");
    }
    out = static_cast<Int>(v.GetUint64());
  } else {
    if (!v.IsInt64()) return TypeError(absl::StrCat(path, ".", key), "integer");
    out = static_cast<Int>(v.GetInt64());
  }
  return absl::OkStatus();
}

absl::Status GetTime(const Value& obj, const char* key,
                     const std::string& path, std::optional<absl::Time>& out) {
  std::string text;
  absl::Status status = GetString(obj, key, path, text);
  if (!status.ok() || text.empty()) return status;
  absl::StatusOr<absl::Time> t = ParseKubeTime(text);
  if (!t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".", key, ": Invalid value: \"", text, "\": ",
        t.status().message()));
  }
  out = *t;
  return absl::OkStatus();
}

// Looks up an optional object or array member; nullptr when absent or null.
absl::StatusOr<const Value*> GetMember(const Value& obj, const char* key,
                                       const std::string& path,
                                       bool want_array) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  if (want_array ? !it->value.IsArray() : !it->value.IsObject()) {
    return TypeError(absl::StrCat(path, ".", key),
                     want_array ? "array" : "object");
  }
  return &it->value;
}

absl::Status ReadCondition(const Value& v, const std::string& path,
                           VmiCondition& c) {
  if (!v.IsObject()) return TypeError(path, "object");
  RETURN_IF_ERROR(GetString(v, "type", path, c.type));
  std::string status;
  RETURN_IF_ERROR(GetString(v, "status", path, status));
  if (status == "True") {
    c.status = ConditionStatus::kTrue;
  } else if (status == "False") {
    c.status = ConditionStatus::kFalse;
  } else if (status == "Unknown") {
    c.status = ConditionStatus::kUnknown;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".status: Unsupported value: \"", status,
        "\": supported values: \"False\", \"True\", \"Unknown\""));
  }
  RETURN_IF_ERROR(GetTime(v, "lastProbeTime", path, c.last_probe_time));
  RETURN_IF_ERROR(
      GetTime(v, "lastTransitionTime", path, c.last_transition_time));
  RETURN_IF_ERROR(GetString(v, "reason", path, c.reason));
  RETURN_IF_ERROR(GetString(v, "message", path, c.message));
  return absl::OkStatus();
}

absl::Status ReadInterface(const Value& v, const std::string& path,
                           VmiInterface& i) {
  if (!v.IsObject()) return TypeError(path, "object");
  RETURN_IF_ERROR(GetString(v, "ipAddress", path, i.ip_address));
  RETURN_IF_ERROR(GetString(v, "mac", path, i.mac));
  RETURN_IF_ERROR(GetString(v, "name", path, i.name));
  absl::StatusOr<const Value*> ips = GetMember(v, "ipAddresses", path, true);
  if (!ips.ok()) return ips.status();
  if (*ips != nullptr) {
    for (rapidjson::SizeType k = 0; k < (*ips)->Size(); ++k) {
      const Value& ip = (**ips)[k];
      if (!ip.IsString()) {
        return TypeError(absl::StrCat(path, ".ipAddresses[", k, "]"),
                         "string");
      }
      i.ip_addresses.emplace_back(ip.GetString(), ip.GetStringLength());
    }
  }
  RETURN_IF_ERROR(
      GetString(v, "podInterfaceName", path, i.pod_interface_name));
  RETURN_IF_ERROR(GetString(v, "interfaceName", path, i.interface_name));
  RETURN_IF_ERROR(GetString(v, "infoSource", path, i.info_source));
  RETURN_IF_ERROR(GetInt(v, "queueCount", path, i.queue_count));
  RETURN_IF_ERROR(GetString(v, "linkState", path, i.link_state));
  return absl::OkStatus();
}

absl::Status ReadGuestOsInfo(const Value& v, const std::string& path,
                             GuestOsInfo& g) {
  RETURN_IF_ERROR(GetString(v, "name", path, g.name));
  RETURN_IF_ERROR(GetString(v, "kernelRelease", path, g.kernel_release));
  RETURN_IF_ERROR(GetString(v, "version", path, g.version));
  RETURN_IF_ERROR(GetString(v, "prettyName", path, g.pretty_name));
  RETURN_IF_ERROR(GetString(v, "versionId", path, g.version_id));
  RETURN_IF_ERROR(GetString(v, "kernelVersion", path, g.kernel_version));
  RETURN_IF_ERROR(GetString(v, "machine", path, g.machine));
  RETURN_IF_ERROR(GetString(v, "id", path, g.id));
  return absl::OkStatus();
}

absl::Status ReadMigrationState(const Value& v, const std::string& path,
                                VmiMigrationState& m) {
  RETURN_IF_ERROR(GetTime(v, "startTimestamp", path, m.start_timestamp));
  RETURN_IF_ERROR(GetTime(v, "endTimestamp", path, m.end_timestamp));
  RETURN_IF_ERROR(GetTime(v, "targetNodeDomainReadyTimestamp", path,
                                   m.target_node_domain_ready_timestamp));
  RETURN_IF_ERROR(GetBool(v, "targetNodeDomainDetected", path,
                                   m.target_node_domain_detected));
  RETURN_IF_ERROR(
      GetString(v, "targetNodeAddress", path, m.target_node_address));
  absl::StatusOr<const Value*> ports =
      GetMember(v, "targetDirectMigrationNodePorts", path, false);
  if (!ports.ok()) return ports.status();
  if (*ports != nullptr) {
    const std::string ports_path =
        absl::StrCat(path, ".targetDirectMigrationNodePorts");
    for (auto it = (*ports)->MemberBegin(); it != (*ports)->MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      int value = 0;
      RETURN_IF_ERROR(GetInt(**ports, key.c_str(), ports_path, value));
      m.target_direct_migration_node_ports[key] = value;
    }
  }
  RETURN_IF_ERROR(GetString(v, "targetNode", path, m.target_node));
  RETURN_IF_ERROR(GetString(v, "targetPod", path, m.target_pod));
  RETURN_IF_ERROR(GetString(v, "sourceNode", path, m.source_node));
  RETURN_IF_ERROR(GetString(v, "sourcePod", path, m.source_pod));
  RETURN_IF_ERROR(GetBool(v, "completed", path, m.completed));
  RETURN_IF_ERROR(GetBool(v, "failed", path, m.failed));
  RETURN_IF_ERROR(GetBool(v, "abortRequested", path, m.abort_requested));
  RETURN_IF_ERROR(GetString(v, "abortStatus", path, m.abort_status));
  RETURN_IF_ERROR(GetString(v, "failureReason", path, m.failure_reason));
  RETURN_IF_ERROR(GetString(v, "migrationUid", path, m.migration_uid));
  RETURN_IF_ERROR(GetString(v, "mode", path, m.mode));
  return absl::OkStatus();
}

absl::Status ReadVolumeStatus(const Value& v, const std::string& path,
                              VmiVolumeStatus& vs) {
  if (!v.IsObject()) return TypeError(path, "object");
  RETURN_IF_ERROR(GetString(v, "name", path, vs.name));
  RETURN_IF_ERROR(GetString(v, "target", path, vs.target));
  RETURN_IF_ERROR(GetString(v, "phase", path, vs.phase));
  RETURN_IF_ERROR(GetString(v, "reason", path, vs.reason));
  RETURN_IF_ERROR(GetString(v, "message", path, vs.message));
  absl::StatusOr<const Value*> hp = GetMember(v, "hotplugVolume", path, false);
  if (!hp.ok()) return hp.status();
  if (*hp != nullptr) {
    const std::string hp_path = absl::StrCat(path, ".hotplugVolume");
    HotplugVolumeStatus h;
    RETURN_IF_ERROR(
        GetString(**hp, "attachPodName", hp_path, h.attach_pod_name));
    RETURN_IF_ERROR(
        GetString(**hp, "attachPodUID", hp_path, h.attach_pod_uid));
    vs.hotplug_volume = std::move(h);
  }
  RETURN_IF_ERROR(GetInt(v, "size", path, vs.size));
  return absl::OkStatus();
}

absl::Status ReadQdirect(const Value& v, const std::string& path,
                         QdirectStatus& q) {
  RETURN_IF_ERROR(GetInt(v, "qemuPid", path, q.qemu_pid));
  RETURN_IF_ERROR(GetString(v, "runtimeDir", path, q.runtime_dir));
  RETURN_IF_ERROR(GetString(v, "qemuRunstate", path, q.qemu_runstate));
  if (v.HasMember("exitCode")) {
    int code = 0;
    RETURN_IF_ERROR(GetInt(v, "exitCode", path, code));
    q.exit_code = code;
  }
  if (v.HasMember("exitSignal")) {
    int signal = 0;
    RETURN_IF_ERROR(GetInt(v, "exitSignal", path, signal));
    q.exit_signal = signal;
  }
  return absl::OkStatus();
}

// Reads each element of the array member `key` with `read`.
template <typename T, typename ReadFn>
absl::Status ReadArray(const Value& obj, const char* key,
                       const std::string& path, std::vector<T>& out,
                       ReadFn read) {
  absl::StatusOr<const Value*> arr = GetMember(obj, key, path, true);
  if (!arr.ok()) return arr.status();
  if (*arr == nullptr) return absl::OkStatus();
  for (rapidjson::SizeType k = 0; k < (*arr)->Size(); ++k) {
    T item;
    RETURN_IF_ERROR(
        read((**arr)[k], absl::StrCat(path, ".", key, "[", k, "]"), item));
    out.push_back(std::move(item));
  }
  return absl::OkStatus();
}

absl::Status ReadTransition(const Value& v, const std::string& path,
                            VmiPhaseTransition& t) {
  if (!v.IsObject()) return TypeError(path, "object");
  std::string phase;
  RETURN_IF_ERROR(GetString(v, "phase", path, phase));
  absl::StatusOr<VmiPhase> parsed = ParseVmiPhase(phase);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".phase: ", parsed.status().message()));
  }
  t.phase = *parsed;
  std::optional<absl::Time> when;
  RETURN_IF_ERROR(GetTime(v, "phaseTransitionTimestamp", path, when));
  t.timestamp = when.value_or(absl::UnixEpoch());
  return absl::OkStatus();
}

}  // namespace

std::string_view VmiPhaseName(VmiPhase phase) {
  for (const auto& [p, name] : kPhaseNames) {
    if (p == phase) return name;
  }
  return "";
}

absl::StatusOr<VmiPhase> ParseVmiPhase(std::string_view name) {
  for (const auto& [p, n] : kPhaseNames) {
    if (n == name) return p;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "Unsupported value: \"", Sv(name),
      "\": supported values: \"Pending\", \"Scheduling\", \"Scheduled\", "
      "\"Running\", \"Succeeded\", \"Failed\", \"WaitingForSync\", "
      "\"Unknown\""));
}

bool IsFinal(VmiPhase phase) {
  return phase == VmiPhase::kSucceeded || phase == VmiPhase::kFailed;
}

std::string_view ConditionStatusName(ConditionStatus status) {
  switch (status) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      break;
  }
  return "Unknown";
}

const VmiCondition* VmiStatus::FindCondition(std::string_view type) const {
  for (const VmiCondition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

std::string FormatKubeTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseKubeTime(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, Sv(text), &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an RFC 3339 time: ", err));
  }
  return t;
}

std::string ToJson(const VmiStatus& status,
                   const VmiStatusJsonOptions& options) {
  rapidjson::StringBuffer buffer;
  if (options.pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    WriteStatus(writer, status, options);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    WriteStatus(writer, status, options);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string GuestOsInfoToJson(const GuestOsInfo& info, bool pretty) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
    writer.SetIndent(' ', 2);
    JsonOut out(writer);
    WriteGuestOsInfo(out, info);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    JsonOut out(writer);
    WriteGuestOsInfo(out, info);
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<GuestOsInfo> GuestOsInfoFromJson(std::string_view json,
                                                std::string_view path) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  const std::string where(path);
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": JSON syntax error at offset ", doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) return TypeError(where, "object");
  GuestOsInfo info;
  RETURN_IF_ERROR(ReadGuestOsInfo(doc, where, info));
  return info;
}

absl::StatusOr<VmiStatus> VmiStatusFromJson(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("status: JSON syntax error at offset ",
                     doc.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(doc.GetParseError())));
  }
  const std::string path = "status";
  if (!doc.IsObject()) return TypeError(path, "object");

  VmiStatus s;
  RETURN_IF_ERROR(GetString(doc, "nodeName", path, s.node_name));
  RETURN_IF_ERROR(GetString(doc, "reason", path, s.reason));
  RETURN_IF_ERROR(
      ReadArray(doc, "conditions", path, s.conditions, ReadCondition));
  std::string phase;
  RETURN_IF_ERROR(GetString(doc, "phase", path, phase));
  absl::StatusOr<VmiPhase> parsed = ParseVmiPhase(phase);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".phase: ", parsed.status().message()));
  }
  s.phase = *parsed;
  RETURN_IF_ERROR(ReadArray(doc, "phaseTransitionTimestamps", path,
                                     s.phase_transition_timestamps,
                                     ReadTransition));
  RETURN_IF_ERROR(
      ReadArray(doc, "interfaces", path, s.interfaces, ReadInterface));
  absl::StatusOr<const Value*> os = GetMember(doc, "guestOSInfo", path, false);
  if (!os.ok()) return os.status();
  if (*os != nullptr) {
    RETURN_IF_ERROR(ReadGuestOsInfo(
        **os, absl::StrCat(path, ".guestOSInfo"), s.guest_os_info));
  }
  absl::StatusOr<const Value*> mig =
      GetMember(doc, "migrationState", path, false);
  if (!mig.ok()) return mig.status();
  if (*mig != nullptr) {
    VmiMigrationState m;
    RETURN_IF_ERROR(
        ReadMigrationState(**mig, absl::StrCat(path, ".migrationState"), m));
    s.migration_state = std::move(m);
  }
  RETURN_IF_ERROR(
      GetString(doc, "migrationMethod", path, s.migration_method));
  RETURN_IF_ERROR(
      GetString(doc, "migrationTransport", path, s.migration_transport));
  RETURN_IF_ERROR(GetString(doc, "qosClass", path, s.qos_class));
  RETURN_IF_ERROR(GetString(doc, "launcherContainerImageVersion", path,
                                     s.launcher_container_image_version));
  RETURN_IF_ERROR(
      ReadArray(doc, "volumeStatus", path, s.volume_status, ReadVolumeStatus));
  RETURN_IF_ERROR(
      GetString(doc, "fsFreezeStatus", path, s.fs_freeze_status));
  RETURN_IF_ERROR(GetInt(doc, "runtimeUser", path, s.runtime_user));
  absl::StatusOr<const Value*> qd = GetMember(doc, "qdirect", path, false);
  if (!qd.ok()) return qd.status();
  if (*qd != nullptr) {
    RETURN_IF_ERROR(
        ReadQdirect(**qd, absl::StrCat(path, ".qdirect"), s.qdirect));
  }
  return s;
}

}  // namespace qdirect
