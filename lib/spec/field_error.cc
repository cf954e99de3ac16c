// FieldError rendering, as Kubernetes' field.Error.Error() does:
// "<path>: <type>[: <value>][: <detail>]".
//
// Values are quoted (Go's %q) except plain integers, which Kubernetes prints
// unquoted because they come from integer fields (`Too many: 300`,
// `Invalid value: -5`). A string field holding digits is therefore printed
// unquoted as well: a simple rule, chosen over carrying a type.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qdirect/spec.h"

namespace qdirect::spec {
namespace {

bool IsInteger(const std::string& s) {
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i >= s.size() || s.size() - i > 19) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

std::string Value(const std::string& v) { return IsInteger(v) ? v : Quote(v); }

}  // namespace

std::string FieldError::ToString() const {
  std::string body;
  switch (type) {
    case Type::kRequired: body = "Required value"; break;
    case Type::kForbidden: body = "Forbidden"; break;
    case Type::kTooLong: body = "Too long"; break;
    case Type::kInvalid: body = "Invalid value: " + Value(value); break;
    case Type::kUnsupported: body = "Unsupported value: " + Value(value); break;
    case Type::kDuplicate: body = "Duplicate value: " + Value(value); break;
    case Type::kNotFound: body = "Not found: " + Value(value); break;
    case Type::kTooMany: body = "Too many: " + Value(value); break;
    case Type::kUnknown:
      // Unknown and misplaced fields: the detail is the whole message.
      return absl::StrCat(path, ": ", detail.empty() ? "unknown field" : detail);
    case Type::kSyntax:
      return absl::StrCat(path, ": ", detail);
  }
  if (!detail.empty()) absl::StrAppend(&body, ": ", detail);
  return absl::StrCat(path, ": ", body);
}

}  // namespace qdirect::spec
