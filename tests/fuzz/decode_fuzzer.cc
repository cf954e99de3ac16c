// libFuzzer entry point for the spec decoder: any bytes in, no crash, no
// undefined behaviour, no unbounded work (the limits are small here); and
// LoadVmi, which takes its own path (it spells no warnings), agrees with
// Decode's result (aborts on a difference).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "qdirect/spec.h"
#include "../unit/spec/load_vmi_reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qdirect::spec;
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
  const absl::StatusOr<Vmi> want = LoadVmiFromDecodeResult(std::move(result));
  if (loaded.status() != want.status() || (loaded.ok() && !(*loaded == *want))) std::abort();
  if (size <= 64) (void)ParseQuantity(text);
  return 0;
}
