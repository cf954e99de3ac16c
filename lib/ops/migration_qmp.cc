#include "ops/migration_qmp.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace qdirect {

bool IsFinalMigrationStatus(const std::string& status) {
  return status == "completed" || status == "failed" || status == "cancelled";
}

}  // namespace qdirect

namespace qdirect::ops {

namespace {

int64_t Int(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return 0;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsUint64()) return static_cast<int64_t>(it->value.GetUint64());
  return 0;
}

uint64_t Uint(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return 0;
  if (it->value.IsUint64()) return it->value.GetUint64();
  if (it->value.IsInt64() && it->value.GetInt64() > 0) {
    return static_cast<uint64_t>(it->value.GetInt64());
  }
  return 0;
}

std::string Str(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

rapidjson::Document UriArgs(std::string_view uri) {
  rapidjson::Document doc(rapidjson::kObjectType);
  doc.AddMember("uri",
                rapidjson::Value(uri.data(),
                                 static_cast<rapidjson::SizeType>(uri.size()),
                                 doc.GetAllocator()),
                doc.GetAllocator());
  return doc;
}

rapidjson::Document MigrateArgs(std::string_view uri, bool resume) {
  rapidjson::Document args = UriArgs(uri);
  if (resume) args.AddMember("resume", true, args.GetAllocator());
  return args;
}

// migrate-recover goes out of band: the target's main thread may be blocked
// on a guest page that only the broken channel could bring (a vCPU in a
// device model holding the BQL), and QEMU's monitor thread runs it anyway.
qmp::ExecuteOptions RecoverOptions() {
  qmp::ExecuteOptions options;
  options.out_of_band = true;
  return options;
}

void Send(qmp::QmpClient& qmp, std::string_view command, const rapidjson::Value& args,
          qmp::ExecuteOptions options, std::function<void(absl::Status)> done) {
  qmp.Execute(command, &args, std::move(options),
              [done = std::move(done)](absl::StatusOr<qmp::Reply> reply) {
                if (done) done(reply.status());
              });
}

absl::Status Call(qmp::QmpClient& qmp, std::string_view command,
                  const rapidjson::Value* args) {
  absl::StatusOr<qmp::Reply> reply = qmp.CallSync(command, args);
  return reply.status();
}

}  // namespace

absl::StatusOr<MigrationProgress> ParseMigrationProgress(
    const rapidjson::Value& value) {
  if (!value.IsObject()) {
    return absl::InvalidArgumentError("qmp: query-migrate: reply is not an object");
  }
  MigrationProgress p;
  p.status = Str(value, "status");
  p.total_time_ms = Int(value, "total-time");
  p.downtime_ms = Int(value, "downtime");
  p.expected_downtime_ms = Int(value, "expected-downtime");
  p.setup_time_ms = Int(value, "setup-time");
  p.cpu_throttle_percentage = Int(value, "cpu-throttle-percentage");
  p.error_desc = Str(value, "error-desc");
  auto ram = value.FindMember("ram");
  if (ram != value.MemberEnd() && ram->value.IsObject()) {
    const rapidjson::Value& r = ram->value;
    p.ram_total = Uint(r, "total");
    p.ram_transferred = Uint(r, "transferred");
    p.ram_remaining = Uint(r, "remaining");
    auto mbps = r.FindMember("mbps");
    if (mbps != r.MemberEnd() && mbps->value.IsNumber()) {
      p.mbps = mbps->value.GetDouble();
    }
    p.dirty_pages_rate = Uint(r, "dirty-pages-rate");
    p.dirty_sync_count = Uint(r, "dirty-sync-count");
    p.postcopy_requests = Uint(r, "postcopy-requests");
  }
  return p;
}

std::string MigrationEventStatus(const qmp::Event& event) {
  return Str(event.data, "status");
}

absl::Status ApplyMigrationSetup(qmp::QmpClient& qmp, const MigrationSetup& setup) {
  if (setup.tls) {
    // A retry after a failed migration finds the object of the first try.
    rapidjson::Document del(rapidjson::kObjectType);
    del.AddMember("id", rapidjson::StringRef(setup.tls->id.c_str()),
                  del.GetAllocator());
    (void)qmp.CallSync("object-del", &del);
    rapidjson::Document args = TlsObjectArgs(*setup.tls);
    RETURN_IF_ERROR(Call(qmp, "object-add", &args));
  }
  rapidjson::Document caps = CapabilitiesArgs(setup.capabilities);
  RETURN_IF_ERROR(Call(qmp, "migrate-set-capabilities", &caps));
  rapidjson::Document params = ParametersArgs(setup.parameters);
  if (params.MemberCount() > 0) {
    RETURN_IF_ERROR(Call(qmp, "migrate-set-parameters", &params));
  }
  return absl::OkStatus();
}

absl::StatusOr<MigrationProgress> QueryMigrate(qmp::QmpClient& qmp) {
  ASSIGN_OR_RETURN(qmp::Reply reply, qmp.CallSync("query-migrate"));
  return ParseMigrationProgress(reply.value);
}

absl::Status StartMigrate(qmp::QmpClient& qmp, std::string_view uri, bool resume) {
  rapidjson::Document args = MigrateArgs(uri, resume);
  return Call(qmp, "migrate", &args);
}

void StartMigrateAsync(qmp::QmpClient& qmp, std::string_view uri, bool resume,
                       std::function<void(absl::Status)> done) {
  Send(qmp, "migrate", MigrateArgs(uri, resume), {}, std::move(done));
}

void MigrateRecoverAsync(qmp::QmpClient& qmp, std::string_view uri,
                         std::function<void(absl::Status)> done) {
  Send(qmp, "migrate-recover", UriArgs(uri), RecoverOptions(), std::move(done));
}

absl::Status StartMigrateIncoming(qmp::QmpClient& qmp, std::string_view uri) {
  rapidjson::Document args = UriArgs(uri);
  return Call(qmp, "migrate-incoming", &args);
}

absl::Status MigrateRecover(qmp::QmpClient& qmp, std::string_view uri) {
  rapidjson::Document args = UriArgs(uri);
  return qmp.CallSync("migrate-recover", &args, RecoverOptions()).status();
}

}  // namespace qdirect::ops
