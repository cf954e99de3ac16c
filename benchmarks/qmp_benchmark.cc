// query-status round trips on a real QEMU (-machine none, TCG): our client
// (CallSync through the event loop) beside a minimal raw blocking client.
// Reports p50/p99 per round trip as counters; the ratio is what matters.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "qdirect/event_loop.h"
#include "qdirect/qmp.h"
#include "qemu_for_test.h"

namespace qdirect::qmp {
namespace {

using Clock = std::chrono::steady_clock;

void ReportPercentiles(benchmark::State& state, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
  state.counters["max_us"] = us.back();
}

// arg 0: io_uring, 1: epoll.
void BM_QmpQueryStatus(benchmark::State& state) {
  testing::QemuForTest qemu;
  if (!qemu.Start().ok()) return state.SkipWithError("cannot start QEMU");
  auto loop = EventLoop::Create(state.range(0) == 0 ? EventLoop::Backend::kIoUring
                                                    : EventLoop::Backend::kEpoll);
  if (!loop.ok()) return state.SkipWithError("no event loop");
  auto fd = qemu.Connect();
  if (!fd.ok()) return state.SkipWithError("cannot connect");
  auto client = QmpClient::Connect(loop->get(), std::move(*fd));
  if (!client.ok()) {
    return state.SkipWithError(std::string(client.status().message()).c_str());
  }
  std::vector<double> us;
  us.reserve(state.max_iterations);
  for (auto _ : state) {
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<Reply> reply = (*client)->CallSync("query-status");
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!reply.ok()) return state.SkipWithError("query-status failed");
    benchmark::DoNotOptimize(reply->value.IsObject());
  }
  ReportPercentiles(state, us);
}
BENCHMARK(BM_QmpQueryStatus)->Arg(0)->Arg(1)->Iterations(10000)->Unit(benchmark::kMicrosecond);

// Reads until a full line (QEMU ends each message with \r\n).
bool ReadLine(int fd, std::string* buf) {
  buf->clear();
  char chunk[4096];
  while (buf->empty() || buf->back() != '\n') {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
  }
  return true;
}

bool WriteAll(int fd, const std::string& s) {
  return write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

void BM_RawSocketQueryStatus(benchmark::State& state) {
  testing::QemuForTest qemu;
  if (!qemu.Start().ok()) return state.SkipWithError("cannot start QEMU");
  auto fd = qemu.Connect();
  if (!fd.ok()) return state.SkipWithError("cannot connect");
  int s = fd->get();
  std::string line;
  if (!ReadLine(s, &line) || !WriteAll(s, R"({"execute":"qmp_capabilities"})") ||
      !ReadLine(s, &line)) {
    return state.SkipWithError("no QMP handshake");
  }
  const std::string cmd = R"({"execute":"query-status","id":"raw"})";
  std::vector<double> us;
  us.reserve(state.max_iterations);
  for (auto _ : state) {
    Clock::time_point t0 = Clock::now();
    if (!WriteAll(s, cmd) || !ReadLine(s, &line)) return state.SkipWithError("I/O failed");
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ReportPercentiles(state, us);
}
BENCHMARK(BM_RawSocketQueryStatus)->Iterations(10000)->Unit(benchmark::kMicrosecond);

// Both clients against one QEMU (two monitors), alternating call by call, so
// machine noise hits both alike: the ratio counters are the figure to quote.
void BM_PairedQueryStatus(benchmark::State& state) {
  testing::QemuForTest qemu;
  if (!qemu.Start(/*monitors=*/2).ok()) return state.SkipWithError("cannot start QEMU");
  auto loop = EventLoop::Create(state.range(0) == 0 ? EventLoop::Backend::kIoUring
                                                    : EventLoop::Backend::kEpoll);
  auto ours_fd = qemu.Connect(0);
  auto raw_fd = qemu.Connect(1);
  if (!loop.ok() || !ours_fd.ok() || !raw_fd.ok()) return state.SkipWithError("setup failed");
  auto client = QmpClient::Connect(loop->get(), std::move(*ours_fd));
  if (!client.ok()) return state.SkipWithError("no QMP handshake");
  int s = raw_fd->get();
  std::string line;
  if (!ReadLine(s, &line) || !WriteAll(s, R"({"execute":"qmp_capabilities"})") ||
      !ReadLine(s, &line)) {
    return state.SkipWithError("no raw QMP handshake");
  }
  const std::string cmd = R"({"execute":"query-status","id":"raw"})";
  std::vector<double> ours, raw;
  ours.reserve(state.max_iterations);
  raw.reserve(state.max_iterations);
  bool ours_first = true;
  for (auto _ : state) {
    for (int turn = 0; turn < 2; ++turn) {
      Clock::time_point t0 = Clock::now();
      if ((turn == 0) == ours_first) {
        if (!(*client)->CallSync("query-status").ok()) return state.SkipWithError("ours failed");
        ours.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      } else {
        if (!WriteAll(s, cmd) || !ReadLine(s, &line)) return state.SkipWithError("raw failed");
        raw.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    }
    ours_first = !ours_first;
  }
  std::sort(ours.begin(), ours.end());
  std::sort(raw.begin(), raw.end());
  auto p = [](const std::vector<double>& v, int pct) { return v[v.size() * pct / 100]; };
  state.counters["ours_p50_us"] = p(ours, 50);
  state.counters["raw_p50_us"] = p(raw, 50);
  state.counters["ours_p99_us"] = p(ours, 99);
  state.counters["raw_p99_us"] = p(raw, 99);
  state.counters["p50_ratio"] = p(ours, 50) / p(raw, 50);
  state.counters["p99_ratio"] = p(ours, 99) / p(raw, 99);
}
BENCHMARK(BM_PairedQueryStatus)->Arg(0)->Arg(1)->Iterations(10000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace qdirect::qmp

BENCHMARK_MAIN();
