#pragma once

// Translates QMP events into StatusTracker inputs: the one place that knows
// the field names of QEMU 7.2's lifecycle events. Pure, for unit tests.

#include <optional>
#include <span>
#include <string_view>

#include "qdirect/qmp.h"
#include "vm/status_tracker.h"

namespace qdirect::vm {

// The QMP events the Machine subscribes to for its status.
std::span<const std::string_view> StatusEventNames();

// The tracker input for `event`; nullopt for an event the tracker does not
// use (or one whose data is not what QEMU sends).
std::optional<TrackerInput> TrackerInputFromQmpEvent(const qmp::Event& event);

}  // namespace qdirect::vm
