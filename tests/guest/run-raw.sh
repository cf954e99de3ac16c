#!/bin/bash
# Boots the test guest with a raw QEMU command close to what qdirect's planner
# renders (q35, TCG, sandbox, console and agent on unix sockets, QMP), so the kit
# can be checked without any qdirect code.
#
# usage: tests/guest/run-raw.sh IMAGE_STORE_DIR [RUN_DIR]
#   RUN_DIR (default: a new temp dir) receives console.sock, agent.sock, qmp.sock.
#   QEMU runs in the foreground; its pid is in RUN_DIR/qemu.pid.
# env: QDIRECT_QEMU (default qemu-system-x86_64), QDIRECT_GUEST_APPEND (kernel args),
#      QDIRECT_GUEST_EXTRA (extra QEMU args, word-split),
#      QDIRECT_GUEST_FD_CONSOLE / _AGENT / _QMP: an inherited listening unix socket fd
#      to use instead of RUN_DIR/<name>.sock, so a caller can connect without racing
#      QEMU's socket creation (smoke.py does this).
set -euo pipefail

[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 IMAGE_STORE_DIR [RUN_DIR]" >&2; exit 2; }
BOOT=$1/qdirect_test-guest/boot
RUN=${2:-$(mktemp -d /tmp/qdirect-guest.XXXXXX)}
mkdir -p "$RUN"
for f in vmlinuz initrd.img; do
  [[ -f $BOOT/$f ]] || { echo "run-raw.sh: $BOOT/$f missing (run tests/guest/build.sh first)" >&2; exit 1; }
done
echo "run-raw.sh: sockets in $RUN" >&2

# The chardev address for one socket: an inherited fd, else a path in RUN_DIR.
sock() {
  local var=QDIRECT_GUEST_FD_${1^^}
  if [[ -n ${!var:-} ]]; then
    echo "fd=${!var}"
  else
    echo "path=$RUN/$1.sock"
  fi
}

# shellcheck disable=SC2086
exec "${QDIRECT_QEMU:-qemu-system-x86_64}" \
  -name guest=testvm,debug-threads=on \
  -nodefaults -no-user-config \
  -machine q35,accel=tcg -cpu max -m 128M -smp 1 \
  -display none \
  -kernel "$BOOT/vmlinuz" -initrd "$BOOT/initrd.img" \
  -append "${QDIRECT_GUEST_APPEND:-console=ttyS0 quiet panic=-1 cryptomgr.notests}" \
  -chardev "socket,id=console,$(sock console),server=on,wait=off" \
  -serial chardev:console \
  -device '{"driver":"pcie-root-port","id":"pci.1","bus":"pcie.0","chassis":1,"port":16,"addr":"0x2.0x0","multifunction":true}' \
  -device '{"driver":"pcie-root-port","id":"pci.2","bus":"pcie.0","chassis":2,"port":17,"addr":"0x2.0x1"}' \
  -device '{"driver":"pcie-root-port","id":"pci.3","bus":"pcie.0","chassis":3,"port":18,"addr":"0x2.0x2"}' \
  -device '{"driver":"virtio-serial-pci","id":"virtio-serial0","bus":"pci.1","addr":"0x0"}' \
  -chardev "socket,id=agent,$(sock agent),server=on,wait=off" \
  -device '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"agent","id":"channel0","name":"org.qemu.guest_agent.0"}' \
  -chardev "socket,id=qmp,$(sock qmp),server=on,wait=off" \
  -mon chardev=qmp,mode=control \
  -pidfile "$RUN/qemu.pid" \
  -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny \
  ${QDIRECT_GUEST_EXTRA:-}
