#include "qmp/json_stream.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rapidjson/error/en.h"

namespace qdirect::qmp {

absl::Status JsonStream::Feed(std::string_view data, std::vector<std::string>* messages) {
  if (!error_.ok()) return error_;
  size_t start = 0;  // where the part of data belonging to current_ begins
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (depth_ == 0) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      if (c != '{') {
        error_ = absl::DataLossError(
            absl::StrFormat("protocol error: unexpected byte 0x%02x between messages",
                            static_cast<unsigned char>(c)));
        return error_;
      }
      depth_ = 1;
      start = i;
      continue;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (++depth_ > max_depth_) {
        error_ = absl::DataLossError(
            absl::StrCat("protocol error: message nested deeper than ", max_depth_));
        return error_;
      }
    } else if (c == '}' || c == ']') {
      --depth_;
    }
    if (current_.size() + (i + 1 - start) > max_message_bytes_) {
      error_ = absl::DataLossError(
          absl::StrCat("protocol error: message longer than ", max_message_bytes_, " bytes"));
      return error_;
    }
    if (depth_ == 0) {
      current_.append(data.substr(start, i + 1 - start));
      messages->push_back(std::move(current_));
      current_.clear();
      start = i + 1;
    }
  }
  if (depth_ > 0) current_.append(data.substr(start));
  return absl::OkStatus();
}

absl::StatusOr<rapidjson::Document> ParseMessage(std::string_view message) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(message.data(), message.size());
  if (doc.HasParseError()) {
    return absl::DataLossError(absl::StrCat("protocol error: invalid JSON at offset ",
                                            doc.GetErrorOffset(), ": ",
                                            rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) return absl::DataLossError("protocol error: message is not an object");
  return doc;
}

}  // namespace qdirect::qmp
