#!/usr/bin/env bash
# The one command that installs everything and runs every test (README).
# Run as root on Debian 12: ./scripts/test.sh
# CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/install-deps.sh

# The test guest: Debian kernel + busybox initramfs + qemu-ga (tests/guest/).
export QDIRECT_IMAGE_DIR=${QDIRECT_IMAGE_DIR:-/var/lib/qdirect/images}
./tests/guest/build.sh "$QDIRECT_IMAGE_DIR"

# Nested KVM on our machines opens /dev/kvm but stalls real kernels: tests
# boot guests with TCG (README, "Why TCG").
export QDIRECT_ACCEL=tcg
# Postcopy migration needs userfaultfd, which Linux refuses an unprivileged
# QEMU unless this is 1 (QEMU 7.2 predates /dev/userfaultfd). Without it the
# postcopy e2e test skips with QEMU's refusal.
if [[ $(id -u) == 0 && -w /proc/sys/vm/unprivileged_userfaultfd ]]; then
  echo 1 >/proc/sys/vm/unprivileged_userfaultfd
fi

build=${QDIRECT_BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dwerror=true
else
  meson setup --reconfigure "$build" -Dwerror=true >/dev/null
fi
meson compile -C "$build"

status=0
meson test -C "$build" --suite unit --logbase testlog-unit --print-errorlogs --num-processes 2 || status=1
meson test -C "$build" --suite e2e --logbase testlog-e2e --print-errorlogs --num-processes 1 --timeout-multiplier 2 || status=1

# The decoder's libFuzzer target, for a bounded time (needs clang).
if [ -x tests/fuzz/run.sh ]; then
  tests/fuzz/run.sh "${QDIRECT_FUZZ_SECONDS:-60}" || status=1
fi

# One closing line that any CI reader understands.
python3 - "$build" <<'PY'
import json, sys, pathlib
log = pathlib.Path(sys.argv[1]) / "meson-logs" / "testlog.json"
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
seen = {}
for path in (log.parent / "testlog-unit.json", log.parent / "testlog-e2e.json"):
    if not path.exists():
        continue
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        seen[entry["name"]] = entry["result"]
for result in seen.values():
    if result in ("OK", "EXPECTEDFAIL"):
        counts["OK"] += 1
    elif result == "SKIP":
        counts["SKIP"] += 1
    else:
        counts["FAIL"] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $status
