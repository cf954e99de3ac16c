// libFuzzer entry point for the spec decoder: any bytes in, no crash, no
// undefined behaviour, no unbounded work (the limits are small here).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "qdirect/spec.h"

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
  if (size <= 64) (void)ParseQuantity(text);
  return 0;
}
