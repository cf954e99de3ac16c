#include "tools/vmctl/control_client.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "launch/runtime_dir.h"
#include "launch/unix_socket.h"

namespace qdirect::vmctl {

absl::StatusOr<VmRef> ParseVmRef(const std::string& arg,
                                 const std::string& ns_flag) {
  VmRef vm;
  const size_t slash = arg.find('/');
  if (slash == std::string::npos) {
    vm.name = arg;
    if (!ns_flag.empty()) vm.ns = ns_flag;
  } else {
    vm.ns = arg.substr(0, slash);
    vm.name = arg.substr(slash + 1);
    if (!ns_flag.empty() && ns_flag != vm.ns) {
      return absl::InvalidArgumentError(absl::StrCat(
          arg, ": namespace differs from --namespace ", ns_flag));
    }
  }
  RETURN_IF_ERROR(launch::ValidateNamespace(vm.ns));
  RETURN_IF_ERROR(launch::ValidateVmName(vm.name));
  return vm;
}

std::string VmDir(const VmRef& vm) {
  return absl::StrCat(launch::RuntimeRootFromEnvironment(), "/", vm.ns, "_",
                      vm.name);
}

std::string OtherRuntimeRoot(const std::string& root) {
  const std::string suffix = absl::StrCat("/", kIncomingRootName);
  if (root.size() > suffix.size() &&
      root.compare(root.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return root.substr(0, root.size() - suffix.size());
  }
  return absl::StrCat(root, suffix);
}

std::vector<std::string> RuntimeRoots() {
  const std::string root = launch::RuntimeRootFromEnvironment();
  return {root, absl::StrCat(root, "/", kIncomingRootName)};
}

absl::StatusOr<UniqueFd> ConnectToVm(const VmRef& vm) {
  const std::string path =
      absl::StrCat(VmDir(vm), "/", std::string(kube::kControlSocketName));
  absl::StatusOr<UniqueFd> fd = launch::ConnectUnixSocket(path);
  if (!fd.ok()) {
    // Migrated here by `vmctl migrate`: under the other root.
    absl::StatusOr<UniqueFd> migrated = launch::ConnectUnixSocket(absl::StrCat(
        RuntimeRoots()[1], "/", vm.ns, "_", vm.name, "/",
        std::string(kube::kControlSocketName)));
    if (migrated.ok()) return migrated;
  }
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status()) || absl::IsUnavailable(fd.status()) ||
        absl::IsFailedPrecondition(fd.status())) {
      return absl::NotFoundError(absl::StrCat(
          "vm ", vm.label(), ": not found (no launcher serves ", path, ")"));
    }
    return absl::Status(fd.status().code(),
                        absl::StrCat("vm ", vm.label(), ": ",
                                     fd.status().message()));
  }
  return fd;
}

absl::StatusOr<kube::ControlResponse> Exchange(
    int fd, const kube::ControlRequest& request) {
  ASSIGN_OR_RETURN(std::string line, kube::EncodeRequest(request));
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::ErrnoToStatus(errno, "control socket: write");
    rest.remove_prefix(static_cast<size_t>(n));
  }
  // One byte at a time past the newline would be slow; the launcher sends
  // nothing after a response except console bytes, which only follow
  // console_attach's (and those the caller reads itself afterwards, so read
  // byte-wise there).
  const bool bytewise = std::holds_alternative<kube::ConsoleAttachRequest>(request);
  std::string reply;
  char buffer[65536];
  while (reply.empty() || reply.back() != '\n') {
    ssize_t n = ::read(fd, buffer, bytewise ? 1 : sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "control socket: read");
    if (n == 0) {
      return absl::UnavailableError(
          "control socket: the launcher closed the connection without an answer");
    }
    reply.append(buffer, static_cast<size_t>(n));
    if (reply.size() > kube::kMaxResponseBytes) {
      return absl::InternalError("control socket: response over the size limit");
    }
  }
  ASSIGN_OR_RETURN(kube::ControlResponse response, kube::DecodeResponse(reply));
  if (!response.error.ok()) return response.error;
  return response;
}

absl::StatusOr<kube::ControlResponse> CallVm(const VmRef& vm,
                                             const kube::ControlRequest& request) {
  ASSIGN_OR_RETURN(UniqueFd fd, ConnectToVm(vm));
  return Exchange(fd.get(), request);
}

absl::Status WaitForClose(int fd, absl::Time deadline) {
  char buffer[4096];
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("waiting for the launcher to exit");
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::ErrnoToStatus(errno, "poll");
    if (r == 0) continue;
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::OkStatus();
  }
}

std::optional<int> ParseVmArgs(const char* command, const Args& args,
                               VmArgs* out) {
  std::string name;
  std::string ns;
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "--namespace" || args[i] == "-n") && i + 1 < args.size()) {
      ns = args[++i];
    } else if (name.empty() && !args[i].empty() && args[i][0] != '-') {
      name = args[i];
    } else {
      out->rest.push_back(args[i]);
    }
  }
  if (name.empty()) {
    std::fprintf(stderr, "usage: vmctl %s NAME|NAMESPACE/NAME [--namespace NS]\n",
                 command);
    return kExitUsage;
  }
  absl::StatusOr<VmRef> vm = ParseVmRef(name, ns);
  if (!vm.ok()) return ReportError(vm.status());
  out->vm = *vm;
  return std::nullopt;
}

std::optional<int> ParseVmOnlyArgs(const char* command, const Args& args,
                                   VmRef* out) {
  VmArgs parsed;
  if (std::optional<int> code = ParseVmArgs(command, args, &parsed)) return code;
  if (!parsed.rest.empty()) {
    std::fprintf(stderr, "vmctl %s: unknown argument %s\n", command,
                 parsed.rest[0].c_str());
    return kExitUsage;
  }
  *out = std::move(parsed.vm);
  return std::nullopt;
}

}  // namespace qdirect::vmctl
