// Decode and LoadVmi: documents of a stream into Vmis.

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qdirect/spec.h"
#include "spec/decode_spec.h"
#include "spec/defaults.h"
#include "spec/object_reader.h"
#include "spec/stream.h"

namespace qdirect::spec {
namespace {


constexpr char kApiVersion[] = "kubevirt.io/v1";
constexpr char kOldApiVersion[] = "kubevirt.io/v1alpha3";

std::string MemberString(const Node& v, std::string_view key) {
  const Node* m = v.FindMember(key);
  if (m == nullptr || !m->IsString()) return "";
  return std::string(m->GetString());
}

std::string MetadataName(const Node& doc) {
  const Node* meta = doc.FindMember("metadata");
  if (meta == nullptr || !meta->IsObject()) return "";
  return MemberString(*meta, "name");
}

// Checks apiVersion; returns false when the document cannot be read.
bool CheckApiVersion(ObjectReader& doc, Findings* f) {
  std::string api;
  if (!doc.String("apiVersion", &api)) {
    if (doc.Field("apiVersion") == nullptr) {
      FieldError e;
      e.type = FieldError::Type::kRequired;
      e.path = "apiVersion";
      f->Error(std::move(e));
    }
    return false;
  }
  if (api == kApiVersion) return true;
  if (api == kOldApiVersion) {
    FieldError w;
    w.type = FieldError::Type::kUnknown;
    w.path = "apiVersion";
    w.detail = absl::StrCat("kubevirt.io/v1alpha3 is deprecated: read as ", kApiVersion);
    f->Warn(std::move(w));
    return true;
  }
  FieldError e;
  e.type = FieldError::Type::kUnsupported;
  e.path = "apiVersion";
  e.value = api;
  e.detail = absl::StrCat("supported values: \"", kApiVersion, "\", \"", kOldApiVersion, "\"");
  f->Error(std::move(e));
  return false;
}

void DecodeVirtualMachineInstance(ObjectReader& doc, const DecodeOptions& options,
                                  Vmi* vmi) {
  Findings* f = doc.findings();
  vmi->source_kind = "VirtualMachineInstance";
  vmi->spec_path = "spec";
  {
    ObjectReader meta(doc, doc.Field("metadata"), "metadata");
    DecodeObjectMeta(meta, &vmi->metadata);
  }
  ObjectReader spec(doc, doc.Field("spec"), "spec");
  if (!spec.present()) {
    FieldError e;
    e.type = FieldError::Type::kRequired;
    e.path = "spec";
    f->Error(std::move(e));
    return;
  }
  DecodeVmiSpec(spec, options.limits, vmi);
}

void DecodeVirtualMachine(ObjectReader& doc, const DecodeOptions& options, Vmi* vmi) {
  Findings* f = doc.findings();
  vmi->source_kind = "VirtualMachine";
  vmi->spec_path = "spec.template.spec";
  ObjectMeta vm_meta;
  {
    ObjectReader meta(doc, doc.Field("metadata"), "metadata");
    DecodeObjectMeta(meta, &vm_meta);
  }
  ObjectReader spec(doc, doc.Field("spec"), "spec");
  bool running = false;
  bool has_running = spec.Bool("running", &running);
  std::string strategy;
  if (spec.String("runStrategy", &strategy)) {
    static constexpr std::string_view kStrategies[] = {
        "Always", "Halted", "Manual", "Once", "RerunOnFailure", "WaitAsReceiver"};
    bool known = false;
    for (std::string_view s : kStrategies) known |= strategy == s;
    if (!known) {
      FieldError e;
      e.type = FieldError::Type::kUnsupported;
      e.path = "spec.runStrategy";
      e.value = strategy;
      e.detail =
          "supported values: \"Always\", \"Halted\", \"Manual\", \"Once\", "
          "\"RerunOnFailure\", \"WaitAsReceiver\"";
      f->Error(std::move(e));
    }
    if (has_running) {
      f->Forbidden("spec.running", "running and runStrategy are mutually exclusive");
    }
  }
  // dataVolumeTemplates are provisioning requests for a cluster's CDI;
  // the volumes that use them are resolved by the runtime.
  spec.Ignore({"dataVolumeTemplates", "updateVolumesStrategy"});
  spec.Forbid({"instancetype", "preference"});
  ObjectReader tmpl(spec, spec.Field("template"), "template");
  if (!tmpl.present()) {
    FieldError e;
    e.type = FieldError::Type::kRequired;
    e.path = "spec.template";
    f->Error(std::move(e));
    return;
  }
  {
    ObjectReader meta(tmpl, tmpl.Field("metadata"), "metadata");
    DecodeObjectMeta(meta, &vmi->metadata);
  }
  // The VMI is named after its VM, in the VM's namespace.
  vmi->metadata.name = vm_meta.name;
  vmi->metadata.namespace_ = vm_meta.namespace_;
  if (vmi->metadata.uid.empty()) vmi->metadata.uid = vm_meta.uid;
  ObjectReader vmi_spec(tmpl, tmpl.Field("spec"), "spec");
  if (!vmi_spec.present()) {
    FieldError e;
    e.type = FieldError::Type::kRequired;
    e.path = "spec.template.spec";
    f->Error(std::move(e));
    return;
  }
  DecodeVmiSpec(vmi_spec, options.limits, vmi);
}

// The object holding path: "a.b[2].c" -> "a.b[2]".
std::string_view Parent(std::string_view path) {
  size_t cut = path.find_last_of(".[");
  return cut == std::string_view::npos ? std::string_view() : path.substr(0, cut);
}

// True when path is at or under prefix, on a component boundary.
bool Under(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '.' ||
         path[prefix.size()] == '[';
}

// A validation finding that only repeats a decode error is dropped: one
// about the failed field itself, or anything inside an object a forbidden
// field made meaningless (a volume whose only source is forbidden decodes as
// an empty default source). Findings about the other fields of an object
// with a bad value (disks[1].name beside a bad disks[1].bus) stand.
bool Repeats(const FieldError& e, const std::vector<FieldError>& decode_errors) {
  for (const FieldError& d : decode_errors) {
    if (Under(e.path, d.path)) return true;
    std::string_view parent = Parent(d.path);
    if (d.type == FieldError::Type::kForbidden && !parent.empty() &&
        Under(e.path, parent)) {
      return true;
    }
  }
  return false;
}

FieldError StreamFinding(FieldError::Type type, std::string path, std::string detail,
                         SourcePosition pos) {
  FieldError e;
  e.type = type;
  e.path = std::move(path);
  e.detail = std::move(detail);
  e.line = pos.line;
  e.column = pos.column;
  return e;
}

}  // namespace

DecodeResult Decode(std::string_view text, const DecodeOptions& options) {
  DecodeResult result;
  // The stream lives only for this call, and every finding copies its texts.
  Stream stream = ReadStream(text, options.limits, InputText::kOutlivesStream);
  result.errors = std::move(stream.errors);
  for (size_t i = 0; i < stream.documents.size(); ++i) {
    const StreamDocument& sd = stream.documents[i];
    const Node& v = *sd.value;
    std::string where = absl::StrCat("document ", i + 1);
    if (!v.IsObject()) {
      result.errors.push_back(StreamFinding(FieldError::Type::kInvalid, where,
                                            "must be an object", sd.start));
      result.errors.back().value = Describe(v);
      continue;
    }
    std::string kind = MemberString(v, "kind");
    if (kind.empty()) {
      result.errors.push_back(StreamFinding(FieldError::Type::kRequired,
                                            absl::StrCat(where, ": kind"), "", sd.start));
      continue;
    }
    if (kind != "VirtualMachine" && kind != "VirtualMachineInstance") {
      result.notices.push_back(
          absl::StrCat(where, ": skipped kind ", kind, " \"", MetadataName(v), "\""));
      continue;
    }
    // Decoded in place: a Vmi is large to move.
    DecodedVmi& decoded = result.vmis.emplace_back();
    decoded.document_index = i;
    Findings findings(&sd, options.strict);
    bool readable = false;
    {
      ObjectReader doc(&findings, &v, "");
      doc.Field("kind");
      doc.Ignore({"status"});
      readable = CheckApiVersion(doc, &findings);
      if (readable) {
        if (kind == "VirtualMachine") {
          DecodeVirtualMachine(doc, options, &decoded.vmi);
        } else {
          DecodeVirtualMachineInstance(doc, options, &decoded.vmi);
        }
      } else {
        doc.Ignore({"metadata", "spec"});
      }
    }
    // A document of an unknown API version was not read: validating its
    // empty Vmi would only add noise.
    if (readable) {
      ApplyDefaults(&decoded.vmi, &findings);
      std::vector<FieldError> found = Validate(decoded.vmi, options.limits);
      if (!found.empty()) {
        const std::vector<FieldError> decode_errors = findings.errors;
        for (FieldError& e : found) {
          if (!Repeats(e, decode_errors)) findings.Error(std::move(e));
        }
      }
    }
    decoded.errors = std::move(findings.errors);
    decoded.warnings = std::move(findings.warnings);
  }
  return result;
}

absl::StatusOr<Vmi> LoadVmi(std::string_view text, const DecodeOptions& options) {
  DecodeResult result = Decode(text, options);
  std::vector<std::string> lines;
  for (const FieldError& e : result.errors) lines.push_back(e.ToString());
  for (const DecodedVmi& d : result.vmis) {
    for (const FieldError& e : d.errors) {
      lines.push_back(result.vmis.size() > 1
                          ? absl::StrCat("document ", d.document_index + 1, ": ", e.ToString())
                          : e.ToString());
    }
  }
  if (result.vmis.size() != 1) {
    lines.insert(lines.begin(),
                 absl::StrCat("expected exactly one VirtualMachine or VirtualMachineInstance, "
                              "found ",
                              result.vmis.size()));
  }
  if (!lines.empty()) return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  return std::move(result.vmis.front().vmi);
}

}  // namespace qdirect::spec
