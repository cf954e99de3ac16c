// vmctl stats NAME: one sample of the VM's counters (vCPU time, memory,
// disks, NICs) as JSON, through the launcher.

#include <cstdio>
#include <string>

#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "tools/vmctl/command.h"
#include "tools/vmctl/control_client.h"

namespace qdirect::vmctl {

int RunStats(const Args& args) {
  VmRef vm;
  if (std::optional<int> code = ParseVmOnlyArgs("stats", args, &vm)) return *code;
  absl::StatusOr<kube::ControlResponse> response = CallVm(vm, kube::StatsRequest{});
  if (!response.ok()) return ReportError(response.status());
  if (!response->stats) {
    return ReportError(absl::InternalError("stats: the launcher sent no sample"));
  }
  rapidjson::Document doc;
  doc.Parse(response->stats->data(), response->stats->size());
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  doc.Accept(writer);
  std::printf("%s\n", buffer.GetString());
  return kExitOk;
}

}  // namespace qdirect::vmctl
