// qdirect._qdirect: the C++ half of the `qdirect` Python package (issue 7).
//
// Thin handles over spec::Vmi and vm::Machine; the Pythonic surface (context
// manager, regex console expect, exception classes) lives in qdirect/*.py.
// Every call that runs a Machine's event loop (or probes QEMU) releases the
// GIL, so machines in different Python threads run in parallel. One mutex per
// machine serialises calls on it: a Machine and its loop are single-threaded.
// Errors become the exception classes of qdirect/_errors.py, picked by
// _errors._from_status from the absl code (and QEMU's error class).

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "launch/runtime_dir.h"
#include "qdirect/agent.h"
#include "qdirect/event_loop.h"
#include "qdirect/hostdev.h"
#include "qdirect/hotplug.h"
#include "kube/control_protocol.h"
#include "qdirect/machine.h"
#include "qdirect/migration.h"
#include "qdirect/plan.h"
#include "qdirect/qmp.h"
#include "qdirect/spec.h"
#include "qdirect/vmi_status.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "vm/host_facts.h"

namespace py = pybind11;

namespace qdirect::python {
namespace {

// Raises `status` as the matching qdirect exception. Needs the GIL.
[[noreturn]] void Raise(const absl::Status& status,
                        const std::vector<std::string>& errors = {}) {
  py::object from_status =
      py::module_::import("qdirect._errors").attr("_from_status");
  std::optional<std::string> error_class = qmp::QmpErrorClass(status);
  py::object exc = from_status(
      absl::StatusCodeToString(status.code()), std::string(status.message()),
      error_class ? py::object(py::str(*error_class)) : py::object(py::none()),
      errors);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

}  // namespace

// Raise, for module-level functions outside this file's anonymous namespace.
[[noreturn]] void RaiseStatus(const absl::Status& status) { Raise(status); }

namespace {

void Check(const absl::Status& status) {
  if (!status.ok()) Raise(status);
}

template <typename T>
T Take(absl::StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return *std::move(value);
}

absl::Duration Seconds(double seconds) {
  return seconds < 0 ? absl::InfiniteDuration() : absl::Seconds(seconds);
}

std::string JsonText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<rapidjson::Document> ParseJson(const std::string& what,
                                              const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": arguments are not a JSON object"));
  }
  return doc;
}

// ---------------------------------------------------------------------------
// Vmi

std::vector<std::string> ToStrings(const std::vector<spec::FieldError>& errors) {
  std::vector<std::string> out;
  out.reserve(errors.size());
  for (const spec::FieldError& error : errors) out.push_back(error.ToString());
  return out;
}

class PyVmi {
 public:
  // Decodes one VM/VMI from YAML or JSON text; `name` picks one of several.
  // With validate, any finding raises SpecError; without, validation
  // findings wait for validate() (syntax and stream errors always raise).
  static PyVmi Load(const std::string& text, bool validate,
                    std::optional<std::string> name) {
    spec::DecodeResult result;
    {
      py::gil_scoped_release release;
      result = spec::Decode(text);
    }
    if (!result.errors.empty()) {
      Raise(absl::InvalidArgumentError("VMI manifest does not decode"),
            ToStrings(result.errors));
    }
    std::vector<const spec::DecodedVmi*> picked;
    for (const spec::DecodedVmi& decoded : result.vmis) {
      if (!name || decoded.vmi.metadata.name == *name) picked.push_back(&decoded);
    }
    if (picked.size() != 1) {
      std::string what = name ? absl::StrCat(" named \"", *name, "\"") : "";
      std::string message = absl::StrCat(
          "VMI manifest: expected exactly one VirtualMachine or "
          "VirtualMachineInstance", what, ", found ", picked.size());
      Raise(absl::InvalidArgumentError(message), {message});
    }
    PyVmi vmi;
    vmi.vmi_ = picked[0]->vmi;
    // Decode errors that Validate() alone would not find (wrong types,
    // bad quantities) stay attached; the rest is recomputed on validate().
    std::vector<std::string> validation = ToStrings(spec::Validate(vmi.vmi_));
    for (const std::string& error : ToStrings(picked[0]->errors)) {
      if (std::find(validation.begin(), validation.end(), error) ==
          validation.end()) {
        vmi.decode_errors_.push_back(error);
      }
    }
    vmi.warnings_ = ToStrings(picked[0]->warnings);
    if (validate) vmi.Validate(true);
    return vmi;
  }

  std::vector<std::string> Validate(bool raise_on_error) const {
    std::vector<std::string> errors = decode_errors_;
    for (std::string& error : ToStrings(spec::Validate(vmi_))) {
      errors.push_back(std::move(error));
    }
    if (!errors.empty() && raise_on_error) {
      std::string message = absl::StrCat("VMI ", vmi_.metadata.namespace_, "/",
                                         vmi_.metadata.name, " is invalid:");
      for (const std::string& error : errors) absl::StrAppend(&message, "\n", error);
      Raise(absl::InvalidArgumentError(message), errors);
    }
    return errors;
  }

  // The QEMU argv `vmctl render --json` prints for this VMI.
  std::vector<std::string> Render(std::optional<std::string> accel,
                                  std::optional<std::string> runtime_root) const {
    absl::StatusOr<Plan> plan;
    {
      py::gil_scoped_release release;
      plan = RenderPlan(std::move(accel), std::move(runtime_root));
    }
    return Take(std::move(plan)).Argv();
  }

  const spec::Vmi& vmi() const { return vmi_; }
  const std::string& name() const { return vmi_.metadata.name; }
  void set_name(std::string name) { vmi_.metadata.name = std::move(name); }
  const std::string& ns() const { return vmi_.metadata.namespace_; }
  void set_ns(std::string ns) { vmi_.metadata.namespace_ = std::move(ns); }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  absl::StatusOr<Plan> RenderPlan(std::optional<std::string> accel,
                                  std::optional<std::string> runtime_root) const {
    StandaloneConfig config = StandaloneConfigFromEnvironment();
    if (accel) config.accel = *accel;
    absl::Status valid = launch::ValidateNamespace(vmi_.metadata.namespace_);
    if (valid.ok()) valid = launch::ValidateVmName(vmi_.metadata.name);
    if (!valid.ok()) return valid;
    std::string root = runtime_root && !runtime_root->empty()
                           ? *runtime_root
                           : launch::RuntimeRootFromEnvironment();
    std::string vm_dir = absl::StrCat(root, "/", vmi_.metadata.namespace_, "_",
                                      vmi_.metadata.name);
    absl::StatusOr<HostFacts> facts = GatherHostFacts(vmi_, config, vm_dir);
    if (!facts.ok()) return facts.status();
    return MakePlan(vmi_, *facts);
  }

  spec::Vmi vmi_;
  std::vector<std::string> decode_errors_;
  std::vector<std::string> warnings_;
};

// ---------------------------------------------------------------------------
// Machine

class PyMachine {
 public:
  struct Options {
    std::string runtime_root;
    int64_t console_log_bytes = 4 << 20;
    double start_timeout = 30;
    std::string qemu_user;
    std::string node_name;
    // Live migration target: listen here (MachineOptions::incoming), with
    // these options (KubeVirt's MigrationConfiguration names, JSON).
    std::string incoming_uri;
    std::string migration_json;
  };

  static std::unique_ptr<PyMachine> Start(const PyVmi& vmi, const Options& options) {
    auto self = std::make_unique<PyMachine>();
    absl::Status status;
    {
      py::gil_scoped_release release;
      status = self->StartLocked(vmi.vmi(), options);
    }
    Check(status);
    return self;
  }

  // Runs the loop until console bytes arrive, the VM reached a final phase
  // or `timeout` (seconds; <0: none) passed. Returns the bytes (possibly
  // none) and whether the VM is still alive.
  std::pair<py::bytes, bool> ConsoleRead(double timeout) {
    std::string out;
    bool alive = false;
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      status = Alive();
      if (status.ok()) {
        absl::Time deadline = absl::Now() + Seconds(timeout);
        absl::Status run = machine_->loop()->RunUntil(
            [this] { return !console_.empty() || IsFinal(machine_->Status().phase); },
            deadline);
        if (!run.ok() && run.code() != absl::StatusCode::kDeadlineExceeded) {
          status = run;
        }
        out.swap(console_);
        alive = !IsFinal(machine_->Status().phase);
      }
    }
    Check(status);
    return {py::bytes(out), alive};
  }

  void ConsoleWrite(const std::string& bytes) {
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      status = Alive();
      if (status.ok()) status = session_->Write(bytes);
    }
    Check(status);
  }

  // ---- Live migration ----
  // Machine::Migrate with options as JSON; the final query-migrate sample.
  py::dict Migrate(const std::string& uri, const std::string& options_json) {
    absl::StatusOr<MigrationProgress> done;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      absl::StatusOr<MigrationOptions> options =
          kube::MigrationOptionsFromJson(options_json.empty() ? "{}" : options_json);
      if (absl::Status alive = Alive(); !alive.ok()) {
        done = alive;
      } else if (!options.ok()) {
        done = options.status();
      } else {
        done = machine_->Migrate(uri, *options);
      }
    }
    Check(done.status());
    py::dict d;
    d["status"] = done->status;
    d["total_time_ms"] = done->total_time_ms;
    d["downtime_ms"] = done->downtime_ms;
    d["setup_time_ms"] = done->setup_time_ms;
    d["ram_total"] = done->ram_total;
    d["ram_transferred"] = done->ram_transferred;
    d["mbps"] = done->mbps;
    return d;
  }
  void WaitIncoming(double timeout) {
    Run([&](vm::Machine& m) { return m.WaitIncoming(absl::Now() + Seconds(timeout)); });
  }
  void CancelMigration() { Run([](vm::Machine& m) { return m.CancelMigration(); }); }

  void Pause() { Run([](vm::Machine& m) { return m.Pause(); }); }
  void Unpause() { Run([](vm::Machine& m) { return m.Unpause(); }); }
  void Reset() { Run([](vm::Machine& m) { return m.Reset(); }); }
  void SoftReboot() { Run([](vm::Machine& m) { return m.SoftReboot(); }); }
  void Kill() { Run([](vm::Machine& m) { return m.Kill(); }); }
  void Shutdown(std::optional<double> grace) {
    std::optional<absl::Duration> g;
    if (grace) g = Seconds(*grace);
    Run([g](vm::Machine& m) { return m.Shutdown(g); });
  }

  // --- hotplug (vm::Machine's hotplug block); each returns
  // {"outcome": "Done"|"Pending", "device": ..., "message": ...} ---
  py::dict AddVolume(const std::string& name, const std::string& disk_path,
                     const std::string& claim_name, const std::string& bus,
                     const std::string& serial, bool readonly) {
    VolumeHotplug request;
    request.disk.name = name;
    request.volume.name = name;
    if (bus == "virtio") {
      request.disk.bus = spec::DiskBus::kVirtio;
    } else if (bus == "scsi") {
      request.disk.bus = spec::DiskBus::kScsi;
    } else {
      Raise(absl::InvalidArgumentError(absl::StrCat(
          "add_volume: bus: Unsupported value: \"", bus, "\": supported values: \"scsi\", \"virtio\"")));
    }
    request.disk.serial = serial;
    request.disk.readonly = readonly;
    if (disk_path.empty() == claim_name.empty()) {
      Raise(absl::InvalidArgumentError("add_volume: exactly one of disk and claim is required"));
    }
    if (!disk_path.empty()) {
      spec::HostDiskSource source;
      source.path = disk_path;
      request.volume.source = source;
    } else {
      spec::PersistentVolumeClaimSource source;
      source.claim_name = claim_name;
      source.hotpluggable = true;
      request.volume.source = source;
    }
    return Hotplug([&](vm::Machine& m) { return m.AddVolume(request); });
  }
  py::dict RemoveVolume(const std::string& name, double guest_wait) {
    HotplugOptions options;
    options.guest_wait = Seconds(guest_wait);
    return Hotplug([&](vm::Machine& m) { return m.RemoveVolume(name, options); });
  }
  py::dict AddInterface(const std::string& name, const std::string& mac,
                        const std::string& model) {
    InterfaceHotplug request;
    request.iface.name = name;
    request.iface.mac_address = mac;
    request.iface.model = model;
    request.iface.binding = spec::Interface::Binding::kMasquerade;
    request.network.name = name;
    return Hotplug([&](vm::Machine& m) { return m.AddInterface(request); });
  }
  py::dict RemoveInterface(const std::string& name, double guest_wait) {
    HotplugOptions options;
    options.guest_wait = Seconds(guest_wait);
    return Hotplug([&](vm::Machine& m) { return m.RemoveInterface(name, options); });
  }
  py::dict AddHostDevice(const std::string& name, const std::string& pci_address,
                         bool with_companions) {
    HostDeviceHotplug request{name, pci_address, with_companions};
    return Hotplug([&](vm::Machine& m) { return m.AddHostDevice(request); });
  }
  py::dict RemoveHostDevice(const std::string& name, double guest_wait) {
    HotplugOptions options;
    options.guest_wait = Seconds(guest_wait);
    return Hotplug([&](vm::Machine& m) { return m.RemoveHostDevice(name, options); });
  }
  py::dict SetVcpus(uint32_t sockets) {
    return Hotplug([&](vm::Machine& m) { return m.SetVcpus({sockets}); });
  }
  py::dict SetGuestMemory(int64_t bytes, double guest_wait) {
    HotplugOptions options;
    options.guest_wait = Seconds(guest_wait);
    return Hotplug([&](vm::Machine& m) { return m.SetGuestMemory({bytes}, options); });
  }

  // Runs the loop until `phase` (a KubeVirt phase name) or a final phase.
  void WaitFor(const std::string& phase_name, double timeout) {
    VmiPhase phase = Take(ParseVmiPhase(phase_name));
    absl::Time deadline = absl::Now() + Seconds(timeout);
    Run([phase, deadline](vm::Machine& m) { return m.WaitFor(phase, deadline); });
  }

  // Runs the loop until condition `type` has `status` ("True", "False",
  // "Unknown").
  void WaitForCondition(const std::string& type, const std::string& status_name,
                        double timeout) {
    ConditionStatus status = ConditionStatus::kTrue;
    if (status_name == "False") {
      status = ConditionStatus::kFalse;
    } else if (status_name == "Unknown") {
      status = ConditionStatus::kUnknown;
    } else if (status_name != "True") {
      Raise(absl::InvalidArgumentError(absl::StrCat(
          "wait_for_condition: status \"", status_name,
          "\" is not True, False or Unknown")));
    }
    absl::Time deadline = absl::Now() + Seconds(timeout);
    Run([&type, status, deadline](vm::Machine& m) {
      return m.WaitForCondition(type, status, deadline);
    });
  }

  std::string StatusJson() {
    std::lock_guard<std::mutex> lock(mu_);
    Check(Alive());
    VmiStatusJsonOptions options;
    options.include_qdirect = true;
    return ToJson(machine_->Status(), options);
  }

  std::string StatsJson() {
    std::string json;
    Run([&json](vm::Machine& m) -> absl::Status {
      absl::StatusOr<VmStats> stats = m.Stats();
      if (!stats.ok()) return stats.status();
      json = VmStatsToJson(*stats, /*pretty=*/false);
      return absl::OkStatus();
    });
    return json;
  }

  std::string Phase() {
    std::lock_guard<std::mutex> lock(mu_);
    if (machine_ == nullptr) return "Closed";
    return std::string(VmiPhaseName(machine_->Status().phase));
  }

  std::string RuntimeDir() {
    std::lock_guard<std::mutex> lock(mu_);
    return runtime_dir_;
  }

  // Sends one QMP command; returns the "return" value as JSON text.
  std::string Qmp(const std::string& command, const std::string& args_json) {
    absl::StatusOr<std::string> reply;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      reply = QmpLocked(command, args_json);
    }
    return Take(std::move(reply));
  }

  // Subscribes to QMP events of `name` (once per name); later events of that
  // name are kept until EventsRead hands them over.
  void EventsWatch(const std::string& name) {
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      status = WatchLocked(name);
    }
    Check(status);
  }

  // Runs the loop until at least one watched event is queued (or timeout);
  // returns them as JSON texts {"event","data","timestamp"}.
  std::vector<std::string> EventsRead(double timeout) {
    std::vector<std::string> out;
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      status = Alive();
      if (status.ok()) {
        absl::Status run = machine_->loop()->RunUntil(
            [this] { return !events_.empty() || IsFinal(machine_->Status().phase); },
            absl::Now() + Seconds(timeout));
        if (!run.ok() && run.code() != absl::StatusCode::kDeadlineExceeded) {
          status = run;
        }
        out.swap(events_);
      }
    }
    Check(status);
    return out;
  }

  // guest-exec through the guest agent; a dict like the agent's answer.
  py::dict AgentExec(const std::vector<std::string>& argv,
                     std::optional<std::string> input, double timeout,
                     double connect_timeout) {
    if (argv.empty()) Raise(absl::InvalidArgumentError("agent.exec: empty argv"));
    agent::ExecRequest request;
    request.path = argv[0];
    request.args.assign(argv.begin() + 1, argv.end());
    request.input = std::move(input);
    if (timeout >= 0) request.timeout = absl::Seconds(timeout);
    absl::StatusOr<agent::ExecStatus> result;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      absl::StatusOr<agent::AgentClient*> client = AgentLocked(connect_timeout);
      if (client.ok()) {
        result = (*client)->Exec(std::move(request));
      } else {
        result = client.status();
      }
    }
    agent::ExecStatus status = Take(std::move(result));
    py::dict out;
    out["exited"] = status.exited;
    out["exit_code"] = status.exit_code;
    out["signal"] = status.signal ? py::object(py::int_(*status.signal)) : py::object(py::none());
    out["out"] = py::bytes(status.out);
    out["err"] = py::bytes(status.err);
    out["out_truncated"] = status.out_truncated;
    out["err_truncated"] = status.err_truncated;
    return out;
  }

  py::dict AgentOsInfo(double connect_timeout) {
    absl::StatusOr<GuestOsInfo> result;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      absl::StatusOr<agent::AgentClient*> client = AgentLocked(connect_timeout);
      if (client.ok()) {
        result = (*client)->GetOsInfo();
      } else {
        result = client.status();
      }
    }
    GuestOsInfo info = Take(std::move(result));
    py::dict out;
    out["name"] = info.name;
    out["kernel_release"] = info.kernel_release;
    out["version"] = info.version;
    out["pretty_name"] = info.pretty_name;
    out["version_id"] = info.version_id;
    out["kernel_version"] = info.kernel_version;
    out["machine"] = info.machine;
    out["id"] = info.id;
    return out;
  }

  // Kills QEMU if it still runs and removes the runtime dir (the Machine's
  // destructor). Idempotent.
  void Close() {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(mu_);
    session_.reset();
    machine_.reset();
  }

  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return machine_ == nullptr;
  }

  ~PyMachine() {
    // Destroyed with the GIL held (garbage collection): the Machine's
    // destructor does not call into Python, so no release is needed.
    session_.reset();
    machine_.reset();
  }

 private:
  absl::Status StartLocked(const spec::Vmi& vmi, const Options& options) {
    std::lock_guard<std::mutex> lock(mu_);
    vm::MachineOptions machine_options;
    machine_options.runtime_root = options.runtime_root;
    machine_options.console_log_bytes = options.console_log_bytes;
    machine_options.start_timeout = Seconds(options.start_timeout);
    machine_options.qemu_user = options.qemu_user;
    machine_options.node_name = options.node_name;
    if (!options.incoming_uri.empty()) {
      absl::StatusOr<MigrationOptions> migration = kube::MigrationOptionsFromJson(
          options.migration_json.empty() ? "{}" : options.migration_json);
      if (!migration.ok()) return migration.status();
      machine_options.incoming =
          vm::MachineOptions::Incoming{*migration, options.incoming_uri};
    }
    absl::StatusOr<std::unique_ptr<vm::Machine>> machine =
        vm::Machine::Start(vmi, machine_options);
    if (!machine.ok()) return machine.status();
    machine_ = std::move(*machine);
    runtime_dir_ = machine_->runtime_dir();
    // Replay: what the guest printed during Start is in the console log.
    absl::StatusOr<std::unique_ptr<vm::ConsoleSession>> session =
        machine_->AttachConsole(
            [this](std::string_view bytes) {
              console_.append(bytes.data(), bytes.size());
              // Python reads in chunks; keep at most the newest 4 MiB.
              constexpr size_t kMax = 4 << 20;
              if (console_.size() > kMax) console_.erase(0, console_.size() - kMax);
            },
            /*replay=*/true);
    if (!session.ok()) {
      machine_.reset();
      return session.status();
    }
    session_ = std::move(*session);
    return absl::OkStatus();
  }

  absl::Status Alive() const {
    if (machine_ == nullptr) {
      return absl::FailedPreconditionError("qdirect.Machine: closed");
    }
    return absl::OkStatus();
  }

    py::dict Hotplug(const std::function<absl::StatusOr<HotplugResult>(vm::Machine&)>& op) {
    absl::StatusOr<HotplugResult> result;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      absl::Status alive = Alive();
      result = alive.ok() ? op(*machine_) : absl::StatusOr<HotplugResult>(alive);
    }
    HotplugResult r = Take(std::move(result));
    py::dict out;
    out["outcome"] = r.outcome == HotplugOutcome::kPending ? "Pending" : "Done";
    out["device"] = r.device_id;
    out["message"] = r.message;
    return out;
  }

  template <typename F>
  void Run(F op) {
    absl::Status status;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mu_);
      status = Alive();
      if (status.ok()) status = op(*machine_);
    }
    Check(status);
  }

  absl::StatusOr<std::string> QmpLocked(const std::string& command,
                                        const std::string& args_json) {
    if (absl::Status alive = Alive(); !alive.ok()) return alive;
    absl::StatusOr<qmp::QmpClient*> qmp_client = machine_->Qmp();
    if (!qmp_client.ok()) return qmp_client.status();
    qmp::QmpClient* client = *qmp_client;
    const rapidjson::Value* args = nullptr;
    rapidjson::Document doc;
    if (!args_json.empty()) {
      absl::StatusOr<rapidjson::Document> parsed =
          ParseJson(absl::StrCat("qmp ", command), args_json);
      if (!parsed.ok()) return parsed.status();
      doc = std::move(*parsed);
      args = &doc;
    }
    absl::StatusOr<qmp::Reply> reply = client->CallSync(command, args);
    if (!reply.ok()) return reply.status();
    return JsonText(reply->value);
  }

  absl::Status WatchLocked(const std::string& name) {
    if (absl::Status alive = Alive(); !alive.ok()) return alive;
    absl::StatusOr<qmp::QmpClient*> qmp_client = machine_->Qmp();
    if (!qmp_client.ok()) return qmp_client.status();
    qmp::QmpClient* client = *qmp_client;
    if (std::find(watched_.begin(), watched_.end(), name) != watched_.end()) {
      return absl::OkStatus();
    }
    watched_.push_back(name);
    client->Subscribe(qmp::EventMatcher{name, nullptr},
                      [this](const qmp::Event& event) {
                        rapidjson::Document doc(rapidjson::kObjectType);
                        auto& alloc = doc.GetAllocator();
                        doc.AddMember("event", rapidjson::Value(event.name.c_str(), alloc), alloc);
                        doc.AddMember("data", rapidjson::Value(event.data, alloc), alloc);
                        doc.AddMember("timestamp",
                                      event.timestamp == absl::InfinitePast()
                                          ? 0.0
                                          : absl::ToDoubleSeconds(event.timestamp - absl::UnixEpoch()),
                                      alloc);
                        // Unread events are bounded: the oldest go first.
                        if (events_.size() >= 1024) events_.erase(events_.begin());
                        events_.push_back(JsonText(doc));
                      });
    return absl::OkStatus();
  }

  absl::StatusOr<agent::AgentClient*> AgentLocked(double connect_timeout) {
    if (absl::Status alive = Alive(); !alive.ok()) return alive;
    // qemu-ga answers some time after boot: wait for the condition the
    // Machine sets once its agent client is in sync.
    absl::Status connected = machine_->WaitForCondition(
        vmi_condition::kAgentConnected, ConditionStatus::kTrue,
        absl::Now() + Seconds(connect_timeout));
    if (!connected.ok()) {
      return absl::Status(connected.code(),
                          absl::StrCat("guest agent: not connected: ",
                                       connected.message()));
    }
    absl::StatusOr<agent::AgentClient*> client = machine_->Agent();
    if (!client.ok() &&
        client.status().code() == absl::StatusCode::kUnimplemented) {
      return absl::UnimplementedError(
          absl::StrCat("not yet: ", client.status().message()));
    }
    return client;
  }

  std::mutex mu_;
  std::unique_ptr<vm::Machine> machine_;
  std::unique_ptr<vm::ConsoleSession> session_;
  std::string runtime_dir_;
  std::string console_;              // bytes not yet handed to Python
  std::vector<std::string> watched_;  // QMP event names subscribed
  std::vector<std::string> events_;   // watched events not yet read
};

}  // namespace
}  // namespace qdirect::python

using qdirect::python::PyMachine;
using qdirect::python::PyVmi;

PYBIND11_MODULE(_qdirect, m) {
  m.doc() =
      "C++ core of the qdirect package: use `qdirect.Vmi` and "
      "`qdirect.Machine`, not this module.";

  py::class_<PyVmi>(m, "Vmi", "A decoded KubeVirt VirtualMachineInstance spec.")
      .def_static("_load", &PyVmi::Load, py::arg("text"), py::arg("validate") = true,
                  py::arg("name") = py::none(),
                  "Decodes one VM/VMI from YAML or JSON text.")
      .def("validate", &PyVmi::Validate, py::arg("raise_on_error") = true,
           "All findings as `field.path: message` strings; raises SpecError "
           "when there is one and raise_on_error.")
      .def("render", &PyVmi::Render, py::arg("accel") = py::none(),
           py::arg("runtime_root") = py::none(),
           "The QEMU argv (like `vmctl render --json`).")
      .def_property("name", &PyVmi::name, &PyVmi::set_name, "metadata.name")
      .def_property("namespace", &PyVmi::ns, &PyVmi::set_ns, "metadata.namespace")
      .def_property_readonly("warnings", &PyVmi::warnings,
                             "Unknown or misplaced fields found while decoding.")
      .def("__copy__", [](const PyVmi& self) { return PyVmi(self); })
      .def("__deepcopy__", [](const PyVmi& self, py::dict) { return PyVmi(self); });

  py::class_<PyMachine>(m, "Machine", "A running VMI (QEMU process).")
      .def_static(
          "_start",
          [](const PyVmi& vmi, std::string runtime_root, int64_t console_log_bytes,
             double start_timeout, std::string qemu_user, std::string node_name,
             std::string incoming_uri, std::string migration_json) {
            PyMachine::Options options;
            options.runtime_root = std::move(runtime_root);
            options.console_log_bytes = console_log_bytes;
            options.start_timeout = start_timeout;
            options.qemu_user = std::move(qemu_user);
            options.node_name = std::move(node_name);
            options.incoming_uri = std::move(incoming_uri);
            options.migration_json = std::move(migration_json);
            return PyMachine::Start(vmi, options);
          },
          py::arg("vmi"), py::arg("runtime_root") = "",
          py::arg("console_log_bytes") = int64_t{4 << 20}, py::arg("start_timeout") = 30.0,
          py::arg("qemu_user") = "", py::arg("node_name") = "",
          py::arg("incoming_uri") = "", py::arg("migration_json") = "")
      .def("migrate", &PyMachine::Migrate, py::arg("uri"), py::arg("options_json"))
      .def("wait_incoming", &PyMachine::WaitIncoming, py::arg("timeout"))
      .def("cancel_migration", &PyMachine::CancelMigration)
      .def("console_read", &PyMachine::ConsoleRead, py::arg("timeout"))
      .def("console_write", &PyMachine::ConsoleWrite, py::arg("data"))
      .def("pause", &PyMachine::Pause)
      .def("unpause", &PyMachine::Unpause)
      .def("reset", &PyMachine::Reset)
      .def("soft_reboot", &PyMachine::SoftReboot)
      .def("stats_json", &PyMachine::StatsJson)
      .def("kill", &PyMachine::Kill)
      .def("shutdown", &PyMachine::Shutdown, py::arg("grace") = py::none())
      .def("wait_for", &PyMachine::WaitFor, py::arg("phase"), py::arg("timeout"))
      .def("wait_for_condition", &PyMachine::WaitForCondition, py::arg("type"),
           py::arg("status"), py::arg("timeout"))
      .def("status_json", &PyMachine::StatusJson)
      .def("phase", &PyMachine::Phase)
      .def("runtime_dir", &PyMachine::RuntimeDir)
      .def("qmp", &PyMachine::Qmp, py::arg("command"), py::arg("args_json") = "")
      .def("events_watch", &PyMachine::EventsWatch, py::arg("name"))
      .def("events_read", &PyMachine::EventsRead, py::arg("timeout"))
      .def("agent_exec", &PyMachine::AgentExec, py::arg("argv"), py::arg("input"),
           py::arg("timeout"), py::arg("connect_timeout"))
      .def("agent_osinfo", &PyMachine::AgentOsInfo, py::arg("connect_timeout"))
      .def("add_volume", &PyMachine::AddVolume, py::arg("name"), py::arg("disk") = "",
           py::arg("claim") = "", py::arg("bus") = "virtio", py::arg("serial") = "",
           py::arg("readonly") = false)
      .def("remove_volume", &PyMachine::RemoveVolume, py::arg("name"),
           py::arg("guest_wait") = 10.0)
      .def("add_interface", &PyMachine::AddInterface, py::arg("name"), py::arg("mac") = "",
           py::arg("model") = "virtio")
      .def("remove_interface", &PyMachine::RemoveInterface, py::arg("name"),
           py::arg("guest_wait") = 10.0)
      .def("add_host_device", &PyMachine::AddHostDevice, py::arg("name"),
           py::arg("pci_address"), py::arg("with_companions") = true)
      .def("remove_host_device", &PyMachine::RemoveHostDevice, py::arg("name"),
           py::arg("guest_wait") = 10.0)
      .def("set_vcpus", &PyMachine::SetVcpus, py::arg("sockets"))
      .def("set_guest_memory", &PyMachine::SetGuestMemory, py::arg("bytes"),
           py::arg("guest_wait") = 10.0)
      .def("close", &PyMachine::Close)
      .def_property_readonly("closed", &PyMachine::closed);

  // Host devices for VFIO (include/qdirect/hostdev.h).
  m.def(
      "_host_devices_json",
      [](const std::string& sysfs_root) {
        absl::StatusOr<qdirect::hostdev::HostDevices> host =
            qdirect::hostdev::DiscoverHostDevices(sysfs_root);
        if (!host.ok()) qdirect::python::RaiseStatus(host.status());
        return qdirect::hostdev::HostDevicesToJson(*host);
      },
      py::arg("sysfs_root"),
      "This host's PCI devices by IOMMU group, as `vmctl hostdev list --json`.");

  m.attr("HAS_QMP") = py::bool_(true);
}
