#pragma once

// A text dump of a decoded Stream — every document's JSON, start, position
// table entry and plain text, and every error — so two decodes can be
// compared as strings. Shared by the fast-path differential test and fuzzer.

#include <string>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "spec/stream.h"

namespace qdirect::spec {

inline std::string DumpStream(const Stream& s) {
  std::string out;
  for (const StreamDocument& d : s.documents) {
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
  for (const FieldError& e : s.errors) {
    out += "error " + std::to_string(static_cast<int>(e.type)) + " " + e.path + " | " +
           e.value + " | " + e.detail + " @" + std::to_string(e.line) + ":" +
           std::to_string(e.column) + "\n";
  }
  return out;
}

}  // namespace qdirect::spec
