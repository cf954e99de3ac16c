// vmctl render FILE [--accel tcg|kvm] [--json] [--name NAME]

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "qdirect/plan.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/manifest_file.h"
#include "tools/vmctl/vm_paths.h"
#include "vm/host_facts.h"

namespace qdirect::vmctl {

int RunRender(const Args& args) {
  std::string file, name;
  bool json = false;
  StandaloneConfig config = StandaloneConfigFromEnvironment();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--json") {
      json = true;
    } else if ((arg == "--accel" || arg == "--name") && i + 1 < args.size()) {
      (arg == "--accel" ? config.accel : name) = args[++i];
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "vmctl render: unknown flag %s\n", arg.c_str());
      return kExitUsage;
    } else if (file.empty()) {
      file = arg;
    } else {
      std::fputs("vmctl render: one FILE only\n", stderr);
      return kExitUsage;
    }
  }
  if (file.empty()) {
    std::fputs(
        "usage: vmctl render FILE [--accel tcg|kvm] [--json] [--name NAME]\n",
        stderr);
    return kExitUsage;
  }

  absl::StatusOr<spec::Vmi> vmi = LoadOneVmi(file, name);
  if (!vmi.ok()) return ReportError(vmi.status());
  absl::StatusOr<std::string> vm_dir = VmRuntimeDir(*vmi);
  if (!vm_dir.ok()) return ReportError(vm_dir.status());
  absl::StatusOr<HostFacts> facts = GatherHostFacts(*vmi, config, *vm_dir);
  if (!facts.ok()) return ReportError(facts.status());
  absl::StatusOr<Plan> plan = MakePlan(*vmi, *facts);
  if (!plan.ok()) return ReportError(plan.status());

  if (json) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartArray();
    for (std::string_view arg : plan->CommandLine()) {
      writer.String(arg.data(), static_cast<rapidjson::SizeType>(arg.size()));
    }
    writer.EndArray();
    std::printf("%s\n", buffer.GetString());
  } else {
    for (std::string_view arg : plan->CommandLine()) {
      std::printf("%.*s\n", static_cast<int>(arg.size()), arg.data());
    }
  }
  return kExitOk;
}

}  // namespace qdirect::vmctl
