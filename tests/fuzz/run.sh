#!/usr/bin/env bash
# Runs the decoder's libFuzzer targets for a bounded time: ./tests/fuzz/run.sh [SECONDS]
# decode_fuzzer (crashes, leaks, UB in Decode/Validate) for SECONDS, then
# yaml_diff_fuzzer (the YAML fast path must equal libyaml) for half that.
# Built with clang in build-fuzz (only these targets), starting from the
# checked-in corpus. A crash, leak, difference or timeout fails the run.
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
ninja -C build-fuzz tests/fuzz/decode_fuzzer tests/fuzz/yaml_diff_fuzzer >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for target in decode_fuzzer yaml_diff_fuzzer; do
  rm -rf "${corpus:?}"/*
  cp tests/fuzz/corpus/decode/* tests/data/manifests/*.yaml "$corpus"/
  budget=$seconds
  [ "$target" = yaml_diff_fuzzer ] && budget=$((seconds / 2))
  "build-fuzz/tests/fuzz/$target" -max_total_time="$budget" -max_len=16384 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>&1 | tail -n 6
  echo "fuzz: $target ran ${budget}s without findings"
done
