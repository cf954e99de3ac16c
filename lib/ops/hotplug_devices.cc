// Adding and removing QEMU objects for hotplug: add with rollback, unplug
// completed on DEVICE_DELETED (or left pending), link state.

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

// Sends entry's add command (device_add, blockdev-add, ...) and waits for
// the reply.
absl::Status AddEntry(qmp::QmpClient& qmp, const DeviceEntry& entry) {
  absl::StatusOr<rapidjson::Document> args = EntryArgs(entry);
  if (!args.ok()) return args.status();
  return qmp.CallSync(AddCommand(entry.kind), &*args).status();
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
    absl::Status st = AddEntry(qmp, e);
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
    std::set<std::string> awaiting;  // functions whose DEVICE_DELETED has not come
    bool pending = false;
    std::vector<qmp::SubscriptionId> subscriptions;
  };
  auto state = std::make_shared<State>();
  state->awaiting.insert(request.device_id);
  state->awaiting.insert(request.other_functions.begin(), request.other_functions.end());
  auto backends = std::make_shared<std::vector<DeviceEntry>>(request.backends);
  auto done = std::make_shared<UnplugCompletion>(std::move(on_late_completion));
  qmp::QmpClient* client = &qmp;
  auto unsubscribe = [client, state] {
    for (const qmp::SubscriptionId& id : state->subscriptions) client->Unsubscribe(id);
    state->subscriptions.clear();
  };
  const std::set<std::string> ids = state->awaiting;
  for (const std::string& id : ids) {
    state->subscriptions.push_back(qmp.Subscribe(
        qmp::EventMatcher::DeviceDeleted(id),
        [state, backends, client, done, unsubscribe, id](const qmp::Event&) {
          if (state->awaiting.erase(id) == 0 || !state->awaiting.empty()) return;
          if (!state->pending) return;  // the blocking call finishes the job
          unsubscribe();
          RemoveAsync(client, backends, 0, absl::OkStatus(), [done](absl::Status st) {
            if (*done) (*done)(std::move(st));
          });
        }));
  }
  rapidjson::Document args;
  args.SetObject();
  args.AddMember("id", rapidjson::Value(request.device_id.c_str(), args.GetAllocator()),
                 args.GetAllocator());
  if (absl::Status st = qmp.CallSync("device_del", &args).status(); !st.ok()) {
    unsubscribe();
    return Annotate(st, absl::StrCat("unplug ", request.device_id));
  }
  absl::Status waited = loop.RunUntil([&] { return state->awaiting.empty(); },
                                      absl::Now() + request.guest_wait);
  if (!state->awaiting.empty()) {
    if (waited.code() != absl::StatusCode::kDeadlineExceeded) {
      unsubscribe();
      return Annotate(waited, absl::StrCat("unplug ", request.device_id));
    }
    state->pending = true;
    return HotplugOutcome::kPending;
  }
  unsubscribe();
  if (absl::Status st = RemoveEntries(qmp, request.backends); !st.ok()) {
    return Annotate(st, absl::StrCat("unplug ", request.device_id,
                                     ": the device is gone but its backend is not"));
  }
  return HotplugOutcome::kDone;
}

absl::Status AddMultifunctionDevice(EventLoop& loop, qmp::QmpClient& qmp,
                                    const std::vector<DeviceEntry>& functions,
                                    absl::Duration guest_wait) {
  for (size_t i = 0; i < functions.size(); ++i) {
    const DeviceEntry& e = functions[i];
    absl::Status st = AddEntry(qmp, e);
    if (st.ok()) continue;
    std::string message = absl::StrCat("hotplug ", e.id, ": ", st.message());
    if (i == 0) return absl::Status(st.code(), message);
    // Newest first. With ACPI hotplug the guest ejects the whole slot on
    // the first device_del; natively QEMU drops a function whose function 0
    // never came at once. Either way each one's DEVICE_DELETED is awaited.
    std::vector<DeviceEntry> added(functions.begin(), functions.begin() + i);
    std::reverse(added.begin(), added.end());
    auto gone = std::make_shared<std::set<std::string>>();
    std::vector<qmp::SubscriptionId> subscriptions;
    for (const DeviceEntry& a : added) {
      subscriptions.push_back(qmp.Subscribe(
          qmp::EventMatcher::DeviceDeleted(a.id),
          [gone, id = a.id](const qmp::Event&) { gone->insert(id); }));
    }
    std::vector<std::string> rolled_back;
    std::vector<std::string> left;
    for (const DeviceEntry& a : added) {
      if (gone->count(a.id) == 0) {
        rapidjson::Document del = RemoveArgs(a);
        absl::Status undo = qmp.CallSync("device_del", &del).status();
        if (undo.ok()) {
          (void)loop.RunUntil([&] { return gone->count(a.id) != 0; },
                              absl::Now() + guest_wait);
        } else if (gone->count(a.id) == 0) {
          left.push_back(absl::StrCat(a.id, " (", undo.message(), ")"));
          continue;
        }
      }
      if (gone->count(a.id) != 0) {
        rolled_back.push_back(a.id);
      } else {
        left.push_back(absl::StrCat(a.id, " (device_del sent, the guest has not ejected it within ",
                                    absl::FormatDuration(guest_wait), ")"));
      }
    }
    for (const qmp::SubscriptionId& id : subscriptions) qmp.Unsubscribe(id);
    if (!rolled_back.empty()) {
      absl::StrAppend(&message, " (rolled back ", rolled_back.size(), " added before it: ",
                      absl::StrJoin(rolled_back, ", "), ")");
    }
    if (!left.empty()) {
      absl::StrAppend(&message, "; rollback incomplete, left behind: ",
                      absl::StrJoin(left, ", "));
    }
    return absl::Status(st.code(), message);
  }
  return absl::OkStatus();
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
