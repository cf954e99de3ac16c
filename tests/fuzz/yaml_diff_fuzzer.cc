// libFuzzer differential target: the fast YAML scanner and libyaml must
// read any input to the same documents, positions and errors.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "spec/stream.h"
#include "../unit/spec/stream_dump.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qdirect::spec;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeLimits limits;
  limits.max_document_bytes = 64 << 10;
  limits.max_documents = size % 3 == 0 ? 2 : 16;
  limits.max_depth = size % 5 == 0 ? 3 : 32;
  limits.max_string_bytes = size % 7 == 0 ? 6 : 16 << 10;
  bool used_fast = false;
  std::string slow = DumpStream(ReadStreamForTest(text, limits, false, nullptr));
  std::string fast = DumpStream(ReadStreamForTest(text, limits, true, &used_fast));
  if (slow != fast) {
    std::fprintf(stderr, "fast path differs (used_fast=%d)\n--- libyaml:\n%s--- fast:\n%s",
                 used_fast, slow.c_str(), fast.c_str());
    std::abort();
  }
  return 0;
}
