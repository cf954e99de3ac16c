// Adding and removing QEMU objects for hotplug: add with rollback, unplug
// completed on DEVICE_DELETED (or left pending), link state.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "ops/hotplug_ops.h"

namespace qdirect::ops {
namespace {


absl::Status Annotate(const absl::Status& st, const std::string& prefix) {
  return absl::Status(st.code(), absl::StrCat(prefix, ": ", st.message()));
}

absl::StatusOr<rapidjson::Document> EntryArgs(const DeviceEntry& entry) {
  rapidjson::Document doc;
  doc.Parse(entry.json.c_str());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InternalError(
        absl::StrCat("hotplug ", entry.id, ": its JSON is not an object"));
  }
  return doc;
}

// Removes entries[begin..end) newest first, asynchronously, then calls done
// with the first error.
void RemoveAsync(qmp::QmpClient* qmp, std::shared_ptr<std::vector<DeviceEntry>> entries,
                 size_t index, absl::Status first_error,
                 std::function<void(absl::Status)> done) {
  if (index >= entries->size()) {
    done(first_error);
    return;
  }
  const DeviceEntry& e = (*entries)[index];
  rapidjson::Document args = RemoveArgs(e);
  qmp->Execute(RemoveCommand(e.kind), &args, {},
               [qmp, entries, index, first_error = std::move(first_error),
                done = std::move(done)](absl::StatusOr<qmp::Reply> reply) mutable {
                 if (!reply.ok() && first_error.ok()) first_error = reply.status();
                 RemoveAsync(qmp, entries, index + 1, std::move(first_error),
                             std::move(done));
               });
}

}  // namespace

std::string_view AddCommand(DeviceEntry::Kind kind) {
  switch (kind) {
    case DeviceEntry::Kind::kDevice:
      return "device_add";
    case DeviceEntry::Kind::kBlockdev:
      return "blockdev-add";
    case DeviceEntry::Kind::kNetdev:
      return "netdev_add";
    case DeviceEntry::Kind::kObject:
      return "object-add";
    case DeviceEntry::Kind::kChardev:
      return "chardev-add";
  }
  return "";
}

std::string_view RemoveCommand(DeviceEntry::Kind kind) {
  switch (kind) {
    case DeviceEntry::Kind::kDevice:
      return "device_del";
    case DeviceEntry::Kind::kBlockdev:
      return "blockdev-del";
    case DeviceEntry::Kind::kNetdev:
      return "netdev_del";
    case DeviceEntry::Kind::kObject:
      return "object-del";
    case DeviceEntry::Kind::kChardev:
      return "chardev-remove";
  }
  return "";
}

rapidjson::Document RemoveArgs(const DeviceEntry& entry) {
  rapidjson::Document doc;
  doc.SetObject();
  const char* key = entry.kind == DeviceEntry::Kind::kBlockdev ? "node-name" : "id";
  doc.AddMember(rapidjson::StringRef(key),
                rapidjson::Value(entry.id.c_str(), doc.GetAllocator()),
                doc.GetAllocator());
  return doc;
}

absl::Status AddEntries(qmp::QmpClient& qmp, const std::vector<DeviceEntry>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    const DeviceEntry& e = entries[i];
    absl::Status st;
    absl::StatusOr<rapidjson::Document> args = EntryArgs(e);
    if (args.ok()) {
      st = qmp.CallSync(AddCommand(e.kind), &*args).status();
    } else {
      st = args.status();
    }
    if (st.ok()) continue;
    std::string message = absl::StrCat("hotplug ", e.id, ": ", st.message());
    std::vector<DeviceEntry> added(entries.begin(), entries.begin() + i);
    std::reverse(added.begin(), added.end());
    if (absl::Status undo = RemoveEntries(qmp, added); !undo.ok()) {
      absl::StrAppend(&message, "; rollback failed, left behind: ", undo.message());
    } else if (!added.empty()) {
      absl::StrAppend(&message, " (rolled back ", added.size(), " added before it)");
    }
    return absl::Status(st.code(), message);
  }
  return absl::OkStatus();
}

absl::Status RemoveEntries(qmp::QmpClient& qmp, const std::vector<DeviceEntry>& entries) {
  absl::Status first;
  for (const DeviceEntry& e : entries) {
    rapidjson::Document args = RemoveArgs(e);
    absl::Status st = qmp.CallSync(RemoveCommand(e.kind), &args).status();
    if (!st.ok() && first.ok()) first = Annotate(st, absl::StrCat("remove ", e.id));
  }
  return first;
}

absl::StatusOr<HotplugOutcome> UnplugDevice(EventLoop& loop, qmp::QmpClient& qmp,
                                            const UnplugRequest& request,
                                            UnplugCompletion on_late_completion) {
  struct State {
    bool deleted = false;
    bool pending = false;
    qmp::SubscriptionId subscription;
  };
  auto state = std::make_shared<State>();
  auto backends = std::make_shared<std::vector<DeviceEntry>>(request.backends);
  qmp::QmpClient* client = &qmp;
  state->subscription = qmp.Subscribe(
      qmp::EventMatcher::DeviceDeleted(request.device_id),
      [state, backends, client, done = std::move(on_late_completion)](const qmp::Event&) {
        if (state->deleted) return;
        state->deleted = true;
        if (!state->pending) return;  // the blocking call finishes the job
        client->Unsubscribe(state->subscription);
        RemoveAsync(client, backends, 0, absl::OkStatus(), [done](absl::Status st) {
          if (done) done(std::move(st));
        });
      });
  rapidjson::Document args;
  args.SetObject();
  args.AddMember("id", rapidjson::Value(request.device_id.c_str(), args.GetAllocator()),
                 args.GetAllocator());
  if (absl::Status st = qmp.CallSync("device_del", &args).status(); !st.ok()) {
    qmp.Unsubscribe(state->subscription);
    return Annotate(st, absl::StrCat("unplug ", request.device_id));
  }
  absl::Status waited = loop.RunUntil([&] { return state->deleted; },
                                      absl::Now() + request.guest_wait);
  if (!state->deleted) {
    if (waited.code() != absl::StatusCode::kDeadlineExceeded) {
      qmp.Unsubscribe(state->subscription);
      return Annotate(waited, absl::StrCat("unplug ", request.device_id));
    }
    state->pending = true;
    return HotplugOutcome::kPending;
  }
  qmp.Unsubscribe(state->subscription);
  if (absl::Status st = RemoveEntries(qmp, request.backends); !st.ok()) {
    return Annotate(st, absl::StrCat("unplug ", request.device_id,
                                     ": the device is gone but its backend is not"));
  }
  return HotplugOutcome::kDone;
}

namespace {

absl::Status TrayCommand(qmp::QmpClient& qmp, std::string_view command,
                         const std::string& device_id, const std::string& node = "",
                         bool force = false) {
  rapidjson::Document args;
  args.SetObject();
  auto& alloc = args.GetAllocator();
  args.AddMember("id", rapidjson::Value(device_id.c_str(), alloc), alloc);
  if (!node.empty()) args.AddMember("node-name", rapidjson::Value(node.c_str(), alloc), alloc);
  if (force) args.AddMember("force", true, alloc);
  return qmp.CallSync(command, &args).status();
}

// Adds `nodes` and inserts the last of them.
absl::Status Insert(qmp::QmpClient& qmp, const std::string& device_id,
                    const std::vector<DeviceEntry>& nodes) {
  if (nodes.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(AddEntries(qmp, nodes));
  absl::Status st = TrayCommand(qmp, "blockdev-insert-medium", device_id, nodes.back().id);
  if (!st.ok()) {
    std::vector<DeviceEntry> added(nodes.rbegin(), nodes.rend());
    (void)RemoveEntries(qmp, added);
  }
  return st;
}

}  // namespace

absl::Status ChangeMedium(qmp::QmpClient& qmp, const MediaPlan& media) {
  const std::string what = absl::StrCat("change medium of ", media.device_id);
  if (absl::Status st = TrayCommand(qmp, "blockdev-open-tray", media.device_id, "", true);
      !st.ok()) {
    return Annotate(st, what);
  }
  if (!media.old_nodes.empty()) {
    if (absl::Status st = TrayCommand(qmp, "blockdev-remove-medium", media.device_id);
        !st.ok()) {
      (void)TrayCommand(qmp, "blockdev-close-tray", media.device_id);
      return Annotate(st, what);
    }
    std::vector<DeviceEntry> old(media.old_nodes.rbegin(), media.old_nodes.rend());
    if (absl::Status st = RemoveEntries(qmp, old); !st.ok()) return Annotate(st, what);
  }
  if (absl::Status st = Insert(qmp, media.device_id, media.new_nodes); !st.ok()) {
    std::string message = absl::StrCat(what, ": ", st.message());
    if (absl::Status back = Insert(qmp, media.device_id, media.old_nodes); !back.ok()) {
      absl::StrAppend(&message, "; the old medium could not be put back: ", back.message());
    } else if (!media.old_nodes.empty()) {
      absl::StrAppend(&message, " (the old medium is back)");
    }
    (void)TrayCommand(qmp, "blockdev-close-tray", media.device_id);
    return absl::Status(st.code(), message);
  }
  return Annotate(TrayCommand(qmp, "blockdev-close-tray", media.device_id), what);
}

absl::Status SetLink(qmp::QmpClient& qmp, const std::string& device_id, bool up) {
  rapidjson::Document args;
  args.SetObject();
  args.AddMember("name", rapidjson::Value(device_id.c_str(), args.GetAllocator()),
                 args.GetAllocator());
  args.AddMember("up", up, args.GetAllocator());
  return qmp.CallSync("set_link", &args).status();
}

}  // namespace qdirect::ops
