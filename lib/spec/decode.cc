// Decode and LoadVmi: documents of a stream into Vmis.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

std::string_view MemberString(const Node& v, std::string_view key) {
  const Node* m = v.FindMember(key);
  if (m == nullptr || !m->IsString()) return {};
  return m->GetString();
}

std::string_view MetadataName(const Node& doc) {
  const Node* meta = doc.FindMember("metadata");
  if (meta == nullptr || !meta->IsObject()) return {};
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
  spec.Ignore("dataVolumeTemplates", "updateVolumesStrategy");
  spec.Forbid("instancetype", "preference");
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

// What a document of the stream is.
enum class DocumentKind { kOther, kVirtualMachine, kVirtualMachineInstance };

// "document 2", for findings about the document itself.
std::string DocumentName(size_t index) { return absl::StrCat("document ", index + 1); }

// The kind of document `index`; one that is not a VM or VMI leaves its
// finding in errors or its notice in notices.
DocumentKind Classify(const StreamDocument& sd, size_t index, std::vector<FieldError>* errors,
                      std::vector<std::string>* notices) {
  const Node& v = *sd.value;
  if (!v.IsObject()) {
    errors->push_back(StreamFinding(FieldError::Type::kInvalid, DocumentName(index),
                                    "must be an object", sd.start));
    errors->back().value = Describe(v);
    return DocumentKind::kOther;
  }
  std::string_view kind = MemberString(v, "kind");
  if (kind.empty()) {
    errors->push_back(StreamFinding(FieldError::Type::kRequired,
                                    absl::StrCat(DocumentName(index), ": kind"), "", sd.start));
    return DocumentKind::kOther;
  }
  if (kind == "VirtualMachine") return DocumentKind::kVirtualMachine;
  if (kind == "VirtualMachineInstance") return DocumentKind::kVirtualMachineInstance;
  notices->push_back(absl::StrCat(DocumentName(index), ": skipped kind ", std::string(kind),
                                  " \"", std::string(MetadataName(v)), "\""));
  return DocumentKind::kOther;
}

// Decodes, defaults and validates a VM or VMI document into vmi, with its
// findings in findings.
void DecodeDocument(const StreamDocument& sd, DocumentKind kind, const DecodeOptions& options,
                    Vmi* vmi, Findings* findings) {
  bool readable = false;
  {
    ObjectReader doc(findings, sd.value, "");
    doc.Field("kind");
    doc.Ignore("status");
    readable = CheckApiVersion(doc, findings);
    if (readable) {
      if (kind == DocumentKind::kVirtualMachine) {
        DecodeVirtualMachine(doc, options, vmi);
      } else {
        DecodeVirtualMachineInstance(doc, options, vmi);
      }
    } else {
      doc.Ignore("metadata", "spec");
    }
  }
  // A document of an unknown API version was not read: validating its
  // empty Vmi would only add noise.
  if (!readable) return;
  ApplyDefaults(vmi, findings);
  std::vector<FieldError> found = Validate(*vmi, options.limits);
  if (found.empty()) return;
  const std::vector<FieldError> decode_errors = findings->errors;
  for (FieldError& e : found) {
    if (!Repeats(e, decode_errors)) findings->Error(std::move(e));
  }
}

}  // namespace

DecodeResult Decode(std::string_view text, const DecodeOptions& options) {
  DecodeResult result;
  // The stream lives only for this call, and every finding copies its texts.
  Stream stream = ReadStream(text, options.limits, InputText::kOutlivesStream);
  result.errors = std::move(stream.errors);
  for (size_t i = 0; i < stream.documents.size(); ++i) {
    const StreamDocument& sd = stream.documents[i];
    const DocumentKind kind = Classify(sd, i, &result.errors, &result.notices);
    if (kind == DocumentKind::kOther) continue;
    // Decoded in place: a Vmi is large to move.
    DecodedVmi& decoded = result.vmis.emplace_back();
    decoded.document_index = i;
    Findings findings(&sd, options.strict);
    DecodeDocument(sd, kind, options, &decoded.vmi, &findings);
    decoded.errors = std::move(findings.errors);
    decoded.warnings = std::move(findings.warnings);
  }
  return result;
}

// Decode, less what LoadVmi would throw away: no warnings are spelled, and
// no DecodeResult is built. The first Vmi is decoded where the result holds
// it (returned by NRVO: a Vmi is large to move); any further one only for
// its errors.
absl::StatusOr<Vmi> LoadVmi(std::string_view text, const DecodeOptions& options) {
  absl::StatusOr<Vmi> out(absl::in_place);
  Stream stream = ReadStream(text, options.limits, InputText::kOutlivesStream);
  std::vector<FieldError> stream_errors = std::move(stream.errors);
  std::vector<std::string> notices;
  struct VmiErrors {
    size_t document_index;
    std::vector<FieldError> errors;
  };
  std::vector<VmiErrors> vmi_errors;
  size_t vmis = 0;
  for (size_t i = 0; i < stream.documents.size(); ++i) {
    const StreamDocument& sd = stream.documents[i];
    const DocumentKind kind = Classify(sd, i, &stream_errors, &notices);
    if (kind == DocumentKind::kOther) continue;
    Findings findings(&sd, options.strict, Findings::Warnings::kDropped);
    if (vmis++ == 0) {
      DecodeDocument(sd, kind, options, &*out, &findings);
    } else {
      Vmi other;
      DecodeDocument(sd, kind, options, &other, &findings);
    }
    if (!findings.errors.empty()) vmi_errors.push_back({i, std::move(findings.errors)});
  }
  std::vector<std::string> lines;
  for (const FieldError& e : stream_errors) lines.push_back(e.ToString());
  for (const VmiErrors& d : vmi_errors) {
    for (const FieldError& e : d.errors) {
      lines.push_back(vmis > 1
                          ? absl::StrCat("document ", d.document_index + 1, ": ", e.ToString())
                          : e.ToString());
    }
  }
  if (vmis != 1) {
    lines.insert(lines.begin(),
                 absl::StrCat("expected exactly one VirtualMachine or VirtualMachineInstance, "
                              "found ",
                              vmis));
  }
  if (!lines.empty()) out = absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  return out;
}

}  // namespace qdirect::spec
