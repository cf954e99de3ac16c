// vCPU and memory hotplug: CPU devices from query-hotpluggable-cpus, and
// virtio-mem's requested-size.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ops/hotplug_ops.h"
#include "plan/json_object.h"

namespace qdirect::ops {

int64_t HotpluggableCpu::Prop(std::string_view name) const {
  for (const auto& [key, value] : props) {
    if (key == name) return value;
  }
  return -1;
}

absl::StatusOr<std::vector<HotpluggableCpu>> ParseHotpluggableCpus(
    const rapidjson::Value& value) {
  if (!value.IsArray()) {
    return absl::InternalError("query-hotpluggable-cpus: reply is not an array");
  }
  std::vector<HotpluggableCpu> out;
  for (const rapidjson::Value& item : value.GetArray()) {
    if (!item.IsObject() || !item.HasMember("type") || !item["type"].IsString() ||
        !item.HasMember("props") || !item["props"].IsObject()) {
      return absl::InternalError(
          "query-hotpluggable-cpus: an entry lacks type or props");
    }
    HotpluggableCpu cpu;
    cpu.type = item["type"].GetString();
    for (const auto& m : item["props"].GetObject()) {
      if (m.value.IsInt64()) cpu.props.emplace_back(m.name.GetString(), m.value.GetInt64());
    }
    if (item.HasMember("qom-path") && item["qom-path"].IsString()) {
      cpu.qom_path = item["qom-path"].GetString();
    }
    out.push_back(std::move(cpu));
  }
  // QEMU lists the highest slot first; plug in ascending order.
  std::stable_sort(out.begin(), out.end(), [](const HotpluggableCpu& a, const HotpluggableCpu& b) {
    for (const char* key : {"socket-id", "die-id", "core-id", "thread-id"}) {
      if (a.Prop(key) != b.Prop(key)) return a.Prop(key) < b.Prop(key);
    }
    return false;
  });
  return out;
}

absl::StatusOr<std::vector<HotpluggableCpu>> QueryHotpluggableCpus(qmp::QmpClient& qmp) {
  ASSIGN_OR_RETURN(qmp::Reply reply, qmp.CallSync("query-hotpluggable-cpus"));
  return ParseHotpluggableCpus(reply.value);
}

absl::StatusOr<std::vector<DeviceEntry>> CpusToPlug(const std::vector<HotpluggableCpu>& cpus,
                                                    uint32_t sockets) {
  int64_t max_socket = -1;
  int64_t plugged_sockets = 0;
  for (const HotpluggableCpu& cpu : cpus) {
    max_socket = std::max(max_socket, cpu.Prop("socket-id"));
    if (!cpu.qom_path.empty()) {
      plugged_sockets = std::max(plugged_sockets, cpu.Prop("socket-id") + 1);
    }
  }
  if (sockets == 0 || sockets > max_socket + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scale vCPUs: sockets ", sockets, ": must be between 1 and ", max_socket + 1,
        " (spec.domain.cpu.maxSockets)"));
  }
  if (sockets < plugged_sockets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scale vCPUs: sockets ", sockets, ": below the ", plugged_sockets,
        " plugged; vCPU unplug is not supported (restart the VM with fewer)"));
  }
  std::vector<DeviceEntry> out;
  for (const HotpluggableCpu& cpu : cpus) {
    if (!cpu.qom_path.empty() || cpu.Prop("socket-id") >= sockets) continue;
    std::string id = absl::StrCat("vcpu-s", cpu.Prop("socket-id"), "-c",
                                  std::max<int64_t>(cpu.Prop("core-id"), 0), "-t",
                                  std::max<int64_t>(cpu.Prop("thread-id"), 0));
    plan::JsonObject dev;
    dev.Str("driver", cpu.type).Str("id", id);
    for (const auto& [key, value] : cpu.props) dev.Int(key, value);
    out.push_back({DeviceEntry::Kind::kDevice, id, "", "", "", dev.Render(), ""});
  }
  return out;
}

absl::StatusOr<HotplugOutcome> SetVirtioMemSize(EventLoop& loop, qmp::QmpClient& qmp,
                                                const std::string& device_id, int64_t bytes,
                                                absl::Duration guest_wait) {
  const std::string path = absl::StrCat("/machine/peripheral/", device_id);
  auto reached = std::make_shared<bool>(false);
  qmp::EventMatcher matcher;
  matcher.name = "MEMORY_DEVICE_SIZE_CHANGE";
  matcher.predicate = [device_id, bytes](const rapidjson::Value& data) {
    return data.HasMember("id") && data["id"].IsString() &&
           data["id"].GetString() == device_id && data.HasMember("size") &&
           data["size"].IsInt64() && data["size"].GetInt64() == bytes;
  };
  qmp::SubscriptionId sub =
      qmp.Subscribe(std::move(matcher), [reached](const qmp::Event&) { *reached = true; });
  auto done = [&](absl::StatusOr<HotplugOutcome> r) {
    qmp.Unsubscribe(sub);
    return r;
  };
  rapidjson::Document get;
  get.SetObject();
  get.AddMember("path", rapidjson::Value(path.c_str(), get.GetAllocator()), get.GetAllocator());
  get.AddMember("property", "size", get.GetAllocator());
  absl::StatusOr<qmp::Reply> size = qmp.CallSync("qom-get", &get);
  if (!size.ok()) return done(size.status());
  rapidjson::Document set;
  set.SetObject();
  set.AddMember("path", rapidjson::Value(path.c_str(), set.GetAllocator()), set.GetAllocator());
  set.AddMember("property", "requested-size", set.GetAllocator());
  set.AddMember("value", bytes, set.GetAllocator());
  if (absl::Status st = qmp.CallSync("qom-set", &set).status(); !st.ok()) return done(st);
  // Already that size (the guest plugged it before): no event will come.
  if (size->value.IsInt64() && size->value.GetInt64() == bytes) {
    return done(HotplugOutcome::kDone);
  }
  absl::Status waited = loop.RunUntil([&] { return *reached; }, absl::Now() + guest_wait);
  if (*reached) return done(HotplugOutcome::kDone);
  if (waited.code() != absl::StatusCode::kDeadlineExceeded) return done(waited);
  return done(HotplugOutcome::kPending);
}

}  // namespace qdirect::ops
