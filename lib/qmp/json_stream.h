#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rapidjson/document.h"

namespace qdirect::qmp {

// JsonStream cuts a QMP byte stream into top-level JSON objects. It does not
// rely on newlines: it tracks nesting and strings (with escapes) itself.
// Between objects only whitespace is allowed. Once it has failed it stays
// failed: a byte stream cannot be resynchronised safely.
class JsonStream {
 public:
  // libvirt's limit for one monitor message.
  static constexpr size_t kDefaultMaxMessageBytes = 10 * 1024 * 1024;
  static constexpr int kDefaultMaxDepth = 64;

  explicit JsonStream(size_t max_message_bytes = kDefaultMaxMessageBytes,
                      int max_depth = kDefaultMaxDepth)
      : max_message_bytes_(max_message_bytes), max_depth_(max_depth) {}

  // Appends every complete object found in data to messages (the bytes of
  // each object, exactly). kDataLoss on a framing error.
  absl::Status Feed(std::string_view data, std::vector<std::string>* messages);

  // True while an object has started but not ended.
  bool in_message() const { return depth_ > 0; }

 private:
  size_t max_message_bytes_;
  int max_depth_;
  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  absl::Status error_;
};

// Parses one framed message: it must be valid UTF-8 JSON and an object.
absl::StatusOr<rapidjson::Document> ParseMessage(std::string_view message);

}  // namespace qdirect::qmp
