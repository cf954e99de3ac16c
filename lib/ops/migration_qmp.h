#pragma once

// The QMP side of a migration, command by command, on a connected
// qmp::QmpClient (blocking: they run the client's loop). vm::Machine
// sequences them (lib/vm/machine_migration.cc).

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ops/migration_params.h"
#include "qdirect/migration.h"
#include "qdirect/qmp.h"
#include "rapidjson/document.h"

namespace qdirect::ops {

// A query-migrate answer, typed; missing members stay zero (QEMU leaves out
// what a status does not have). InvalidArgument for a non-object.
absl::StatusOr<MigrationProgress> ParseMigrationProgress(
    const rapidjson::Value& value);

// The MIGRATION event's data.status ("" when absent).
std::string MigrationEventStatus(const qmp::Event& event);

// object-add of the TLS credentials (when set), then
// migrate-set-capabilities and migrate-set-parameters.
absl::Status ApplyMigrationSetup(qmp::QmpClient& qmp, const MigrationSetup& setup);

// query-migrate.
absl::StatusOr<MigrationProgress> QueryMigrate(qmp::QmpClient& qmp);

// migrate {uri} (resume: a paused postcopy takes up again on a new
// channel). Returns once QEMU accepted it; the migration runs on.
absl::Status StartMigrate(qmp::QmpClient& qmp, std::string_view uri,
                          bool resume = false);
// migrate-incoming {uri} on a QEMU started with -incoming defer.
absl::Status StartMigrateIncoming(qmp::QmpClient& qmp, std::string_view uri);
// migrate-recover {uri}: the target listens again for a paused postcopy.
// Sent out of band (exec-oob) when QEMU allows it: it must work while the
// target's main thread waits for a page that only the channel can bring.
absl::Status MigrateRecover(qmp::QmpClient& qmp, std::string_view uri);

// The same two without waiting, for loop callbacks (a MIGRATION event, the
// launcher's control socket): `done` gets QEMU's answer, from the loop.
void StartMigrateAsync(qmp::QmpClient& qmp, std::string_view uri, bool resume,
                       std::function<void(absl::Status)> done);
void MigrateRecoverAsync(qmp::QmpClient& qmp, std::string_view uri,
                         std::function<void(absl::Status)> done);

}  // namespace qdirect::ops
