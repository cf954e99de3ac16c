// libFuzzer entry point for the spec decoder: any bytes in, no crash, no
// undefined behaviour, no unbounded work (the limits are small here); and
// LoadVmi, which takes its own path (it spells no warnings), agrees with
// Decode's result (aborts on a difference).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qdirect/spec.h"

namespace {

using namespace qdirect::spec;

// What LoadVmi should return, read from Decode's result: the one Vmi, or
// every error on a line of its own (prefixed with its document when there
// are several VMIs), as LoadVmi words it.
absl::StatusOr<Vmi> LoadVmiFrom(DecodeResult result) {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeOptions options;
  options.strict = size % 2 == 1;
  options.limits.max_document_bytes = 256 << 10;
  options.limits.max_documents = 16;
  options.limits.max_depth = 32;
  options.limits.max_string_bytes = 16 << 10;
  DecodeResult result = Decode(text, options);
  for (const FieldError& e : result.errors) (void)e.ToString();
  for (const DecodedVmi& d : result.vmis) {
    for (const FieldError& e : Validate(d.vmi, options.limits)) (void)e.ToString();
    for (const FieldError& e : d.warnings) (void)e.ToString();
  }
  (void)result.ok();
  const absl::StatusOr<Vmi> loaded = LoadVmi(text, options);
  const absl::StatusOr<Vmi> want = LoadVmiFrom(std::move(result));
  if (loaded.status() != want.status() || (loaded.ok() && !(*loaded == *want))) std::abort();
  if (size <= 64) (void)ParseQuantity(text);
  return 0;
}
