#pragma once

// The QMP sequences of hotplug (the objects come from qdirect/hotplug.h's
// builders). Blocking calls that run the client's loop; not from inside a
// loop callback. Private to lib/ops and lib/vm.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "qdirect/event_loop.h"
#include "qdirect/hotplug.h"
#include "qdirect/plan.h"
#include "qdirect/qmp.h"
#include "rapidjson/document.h"

namespace qdirect::ops {

// The QMP command that adds / removes an entry of this kind
// (device_add / device_del, blockdev-add / blockdev-del, netdev_add /
// netdev_del, object-add / object-del, chardev-add / chardev-remove).
std::string_view AddCommand(DeviceEntry::Kind kind);
std::string_view RemoveCommand(DeviceEntry::Kind kind);

// The arguments of RemoveCommand for entry ({"id": ...} or
// {"node-name": ...}).
rapidjson::Document RemoveArgs(const DeviceEntry& entry);

// Adds entries in order (their JSON is the command's arguments). When one
// fails, what was added before it is removed again, newest first, and the
// error names the entry, the command and QEMU's answer; a failed removal
// during that rollback is appended to the message. The VM is then as it was.
absl::Status AddEntries(qmp::QmpClient& qmp,
                        const std::vector<DeviceEntry>& entries);

// Adds the functions of one multifunction PCI device in the order given
// (VfioHotplugDevices: functions >0, function 0 last). When one is refused,
// the functions added before it are unplugged newest first, each device_del
// awaiting its DEVICE_DELETED (subscribed before the command; with ACPI
// hotplug the guest ejects the slot) for up to guest_wait; the error names
// the refused function and quotes QEMU, and says what was rolled back or
// still awaits the guest.
absl::Status AddMultifunctionDevice(EventLoop& loop, qmp::QmpClient& qmp,
                                    const std::vector<DeviceEntry>& functions,
                                    absl::Duration guest_wait);

// Removes entries, in the order given, without waiting for the guest (for
// backends, once their device is gone). Every entry is tried; the first
// error is returned.
absl::Status RemoveEntries(qmp::QmpClient& qmp,
                           const std::vector<DeviceEntry>& entries);

// Unplugging a device the guest must release (device_del).
struct UnplugRequest {
  std::string device_id;
  // The other functions of device_id's slot (a multifunction device):
  // device_del of function 0 takes the whole slot, and the unplug is done
  // when every one of them has its DEVICE_DELETED too.
  std::vector<std::string> other_functions;
  // Removed once the device is gone, in this order (blockdevs, netdevs).
  std::vector<DeviceEntry> backends;
  // How long to wait for DEVICE_DELETED before answering kPending.
  absl::Duration guest_wait = absl::Seconds(10);
};

// Called once, from the loop, when a pending unplug has completed (the
// event arrived and the backends were removed: OK, or the removal's error).
using UnplugCompletion = std::function<void(absl::Status)>;

// device_del with DEVICE_DELETED awaited (subscribed before the command so
// a fast guest cannot be missed), then the backends removed. kDone when the
// event came within guest_wait; else kPending, and on_late_completion runs
// when it comes (the subscription stays until then; it dies with the
// client). QEMU's refusal (no such device; already being unplugged) is the
// error.
absl::StatusOr<HotplugOutcome> UnplugDevice(EventLoop& loop,
                                            qmp::QmpClient& qmp,
                                            const UnplugRequest& request,
                                            UnplugCompletion on_late_completion);

// Swaps a removable device's medium (plan from PlanMediaChange): opens the
// tray (forced: the guest may have locked it), removes the medium and
// deletes its nodes, adds the new nodes and inserts them, closes the tray.
// When adding or inserting the new medium fails, the old one is put back.
absl::Status ChangeMedium(qmp::QmpClient& qmp, const MediaPlan& media);

// set_link: the NIC's link up or down (the guest sees carrier change).
absl::Status SetLink(qmp::QmpClient& qmp, const std::string& device_id,
                     bool up);

// One entry of query-hotpluggable-cpus.
struct HotpluggableCpu {
  std::string type;  // "max-x86_64-cpu"
  // props, in QEMU's order: "socket-id", "core-id", "thread-id", ...
  std::vector<std::pair<std::string, int64_t>> props;
  std::string qom_path;  // set when plugged
  int64_t Prop(std::string_view name) const;  // -1 when absent
};
absl::StatusOr<std::vector<HotpluggableCpu>> ParseHotpluggableCpus(
    const rapidjson::Value& value);
absl::StatusOr<std::vector<HotpluggableCpu>> QueryHotpluggableCpus(
    qmp::QmpClient& qmp);

// The CPU devices that bring the VM to `sockets` sockets: every unplugged
// slot with socket-id below it, in order. InvalidArgument when sockets
// exceeds the slots (maxSockets) or is below the plugged ones (vCPU unplug
// is not supported, as in KubeVirt). Pure.
absl::StatusOr<std::vector<DeviceEntry>> CpusToPlug(
    const std::vector<HotpluggableCpu>& cpus, uint32_t sockets);

// virtio-mem: sets requested-size of `device_id` to `bytes` (qom-set) and
// waits up to guest_wait for the guest to plug it (MEMORY_DEVICE_SIZE_CHANGE
// with that size, subscribed before the command); kPending when it has not.
absl::StatusOr<HotplugOutcome> SetVirtioMemSize(EventLoop& loop,
                                                qmp::QmpClient& qmp,
                                                const std::string& device_id,
                                                int64_t bytes,
                                                absl::Duration guest_wait);

}  // namespace qdirect::ops
