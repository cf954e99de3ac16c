#pragma once

// LoadVmi as Decode's result reads: the one Vmi, or every error on a line of
// its own (prefixed with its document when there are several VMIs), worded
// as LoadVmi words them. LoadVmi takes its own path (it spells no
// warnings); the decode test and the decode fuzzer hold it to this.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qdirect/spec.h"

namespace qdirect::spec {

inline absl::StatusOr<Vmi> LoadVmiFromDecodeResult(DecodeResult result) {
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
