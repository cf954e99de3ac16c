#!/usr/bin/env bash
# The one command that installs everything, builds qdirect and boots the
# example VMI (README). Run as root on Debian 12: ./scripts/run-example.sh
#
# It boots examples/testvm.yaml with `vmctl run`, shows the guest's console
# until its third heartbeat, then shuts it down over ACPI and exits with
# vmctl's code (0: the VM ended Succeeded). To keep the VM running, run
# `build/tools/vmctl/vmctl run examples/testvm.yaml` yourself (Ctrl-] stops).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
export QDIRECT_IMAGE_DIR=${QDIRECT_IMAGE_DIR:-/var/lib/qdirect/images}
./tests/guest/build.sh "$QDIRECT_IMAGE_DIR"

if [ ! -f build/build.ninja ]; then
  meson setup build -Dwerror=true
fi
meson compile -C build

# Our machines' nested KVM stalls guest kernels (README, "Why TCG"); pass
# QDIRECT_ACCEL=kvm on real hardware.
export QDIRECT_ACCEL=${QDIRECT_ACCEL:-tcg}
exec build/tools/vmctl/vmctl run examples/testvm.yaml --until 'heartbeat 3'
