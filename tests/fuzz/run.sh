#!/usr/bin/env bash
# Runs the decoder's libFuzzer target for a bounded time: ./tests/fuzz/run.sh [SECONDS]
# Builds it with clang in build-fuzz (only that target), starting from the
# checked-in corpus. A crash, leak or timeout fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ meson setup build-fuzz -Dfuzzers=enabled -Dbenchmarks=disabled >/dev/null
fi
ninja -C build-fuzz tests/fuzz/decode_fuzzer >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp tests/fuzz/corpus/decode/* "$corpus"/
build-fuzz/tests/fuzz/decode_fuzzer -max_total_time="$seconds" -max_len=16384 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
echo "fuzz: decode_fuzzer ran ${seconds}s without findings"
