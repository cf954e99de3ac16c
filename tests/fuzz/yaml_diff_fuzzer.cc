// libFuzzer differential target: the fast YAML scanner and libyaml must
// read any input to the same documents, positions and errors.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "spec/stream.h"

namespace {

std::string Dump(const qdirect::spec::Stream& s) {
  std::string out;
  for (const auto& d : s.documents) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    d.value->Accept(w);
    out += "doc " + d.path_prefix + " @" + std::to_string(d.start.line) + ":" +
           std::to_string(d.start.column) + " " + buf.GetString() + "\n";
    for (const auto& [path, e] : d.positions->entries()) {
      out += "  " + path + " @" + std::to_string(e.position.line) + ":" +
             std::to_string(e.position.column) + " [" + e.plain_text + "]\n";
    }
  }
  for (const auto& e : s.errors) {
    out += "error " + std::to_string(static_cast<int>(e.type)) + " " + e.path + " | " +
           e.value + " | " + e.detail + " @" + std::to_string(e.line) + ":" +
           std::to_string(e.column) + "\n";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qdirect::spec;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeLimits limits;
  limits.max_document_bytes = 64 << 10;
  limits.max_documents = size % 3 == 0 ? 2 : 16;
  limits.max_depth = size % 5 == 0 ? 3 : 32;
  limits.max_string_bytes = size % 7 == 0 ? 6 : 16 << 10;
  bool used_fast = false;
  std::string slow = Dump(ReadStreamForTest(text, limits, false, nullptr));
  std::string fast = Dump(ReadStreamForTest(text, limits, true, &used_fast));
  if (slow != fast) {
    std::fprintf(stderr, "fast path differs (used_fast=%d)\n--- libyaml:\n%s--- fast:\n%s",
                 used_fast, slow.c_str(), fast.c_str());
    std::abort();
  }
  return 0;
}
