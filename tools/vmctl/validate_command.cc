// vmctl validate [--strict] FILE...

#include <cstdio>
#include <string>

#include "qdirect/spec.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/manifest_file.h"

namespace qdirect::vmctl {
namespace {

void Print(FILE* out, const std::string& file, const spec::FieldError& error,
           const char* prefix) {
  std::fprintf(out, "%s: %s%s\n", file.c_str(), prefix,
               error.ToString().c_str());
}

}  // namespace

int RunValidate(const Args& args) {
  spec::DecodeOptions options;
  std::vector<std::string> files;
  for (const std::string& arg : args) {
    if (arg == "--strict") {
      options.strict = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "vmctl validate: unknown flag %s\n", arg.c_str());
      return kExitUsage;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::fputs("usage: vmctl validate [--strict] FILE...\n", stderr);
    return kExitUsage;
  }

  int exit_code = kExitOk;
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = ReadManifestFile(
        file, options.limits.max_document_bytes * options.limits.max_documents);
    if (!text.ok()) {
      int code = ReportError(text.status());
      if (exit_code == kExitOk) exit_code = code;
      continue;
    }
    spec::DecodeResult result = spec::Decode(*text, options);
    for (const std::string& notice : result.notices) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), notice.c_str());
    }
    for (const spec::FieldError& warning : result.warnings) {
      Print(stderr, file, warning, "warning: ");
    }
    for (const spec::FieldError& error : result.errors) {
      Print(stdout, file, error, "");
    }
    for (const spec::DecodedVmi& decoded : result.vmis) {
      for (const spec::FieldError& warning : decoded.warnings) {
        Print(stderr, file, warning, "warning: ");
      }
      for (const spec::FieldError& error : decoded.errors) {
        Print(stdout, file, error, "");
      }
    }
    if (!result.ok()) exit_code = kExitInvalid;
  }
  return exit_code;
}

}  // namespace qdirect::vmctl
