#!/bin/bash
# Builds the qdirect test guest into an image store:
#   DIR/qdirect_test-guest/boot/vmlinuz     Debian's cloud kernel
#   DIR/qdirect_test-guest/boot/initrd.img  busybox + qemu-ga + the virtio modules
# from Debian packages only (apt-get download + dpkg-deb -x; nothing is installed
# on the host but build tools). Skips all work when the image is up to date: the
# key is the package versions plus a hash of this kit's files.
#
# usage: tests/guest/build.sh DIR
# env:   QDIRECT_CACHE_DIR  downloads and work files (default /var/cache/qdirect)
#        QDIRECT_GUEST_COMPRESS  initrd compression: none (default), zstd, gzip
#          (uncompressed boots ~0.25 s faster under TCG: no decompression in the guest)
set -euo pipefail

die() { echo "build.sh: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 IMAGE_STORE_DIR"
STORE=$1
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${QDIRECT_CACHE_DIR:-/var/cache/qdirect}/test-guest
IMAGE=$STORE/qdirect_test-guest
COMPRESS=${QDIRECT_GUEST_COMPRESS:-none}
# Every file in the image gets this mtime so the same inputs give the same bytes.
EPOCH=${SOURCE_DATE_EPOCH:-0}
KERNEL_META=linux-image-cloud-amd64
# Modules carried in the initramfs (their dependencies come along). init loads
# those its devices need; the rest load by modalias on hotplug or on mount.
# No ahci: the cloud kernel does not build it (q35's SATA disks cannot work).
MODULES=(
  virtio_pci virtio_blk virtio_net virtio_console virtio_balloon virtio_mem
  virtio_scsi virtio_input virtio-rng vmw_vsock_virtio_transport
  sd_mod sr_mod isofs evdev button
)

case $COMPRESS in
  zstd | gzip | none) ;;
  *) die "QDIRECT_GUEST_COMPRESS=$COMPRESS: expected none, zstd or gzip" ;;
esac

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

# Installs host packages that are not installed yet (build tools, qemu-ga's libraries).
ensure_installed() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $EUID -eq 0 ]] || die "need root to install: ${missing[*]}"
  echo "build.sh: installing ${missing[*]}" >&2
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
}

# Prints "package=version" for the kernel, busybox-static and qemu-guest-agent
# (apt's candidates) with one apt-cache call: the kernel is what the cloud
# metapackage pins with "(= version)".
resolve_packages() {
  apt-cache show --no-all-versions "$KERNEL_META" busybox-static qemu-guest-agent 2>/dev/null |
    awk -v meta="$KERNEL_META" '
      /^Package: / { pkg = $2 }
      /^Version: / { ver[pkg] = $2 }
      /^Depends: / && pkg == meta && match($0, /linux-image-[^ ,]+ \(= [^)]+\)/) {
        split(substr($0, RSTART, RLENGTH), part, /[ ()=]+/)
        kpkg = part[1]; kver = part[2]
      }
      END {
        if (kpkg == "" || ver["busybox-static"] == "" || ver["qemu-guest-agent"] == "") exit 1
        print kpkg "=" kver
        print "busybox-static=" ver["busybox-static"]
        print "qemu-guest-agent=" ver["qemu-guest-agent"]
      }'
}

PACKAGES=$(resolve_packages) || {
  apt_update_once
  PACKAGES=$(resolve_packages) || die "cannot resolve $KERNEL_META, busybox-static, qemu-guest-agent with apt"
}
# The host libraries qemu-ga runs with are part of the image too.
AGENT_LIBS=(libc6 libglib2.0-0 libnuma1 libudev1 liburing2 libpcre2-8-0)
ensure_installed "${AGENT_LIBS[@]}"
LIB_VERSIONS=$(dpkg-query -W -f='${Package}=${Version}\n' "${AGENT_LIBS[@]}")

kit_hash() {
  (cd "$KIT" && find build.sh init rootfs -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
KEY=$(printf '%s\n' "$PACKAGES" "$LIB_VERSIONS" "compress=$COMPRESS" "epoch=$EPOCH" \
  "kit=$(kit_hash)" | sha256sum | cut -d' ' -f1)

up_to_date() {
  [[ -f $IMAGE/boot/vmlinuz && -f $IMAGE/boot/initrd.img &&
    "$(cat "$IMAGE/.build-key" 2>/dev/null)" == "$KEY" ]]
}
if up_to_date; then
  echo "build.sh: $IMAGE is up to date"
  exit 0
fi

[[ $EUID -eq 0 ]] || die "need root to build the test guest (apt, device nodes)"
# One build at a time per cache (parallel test runs share it); the winner's
# image satisfies the others.
mkdir -p "$CACHE/debs" "$STORE"
exec 9>"$CACHE/.lock"
flock 9
if up_to_date; then
  echo "build.sh: $IMAGE is up to date"
  exit 0
fi
ensure_installed cpio
[[ $COMPRESS == zstd ]] && ensure_installed zstd

# Prints the cached .deb of one package version, if there is one.
cached_deb() {
  local name=$1 ver=$2 f
  for f in "$CACHE/debs/${name}"_*.deb; do
    if [[ -f $f && $(dpkg-deb -f "$f" Version) == "$ver" ]]; then
      echo "$f"
      return 0
    fi
  done
  return 0
}

# Downloads one package version into the cache unless it is already there,
# dropping the package's other cached versions; sets FETCHED to the .deb.
# Stale apt lists (a version the mirror no longer has) get one apt-get update
# and a fresh start, since the versions and so the key may change.
fetch() {
  local spec=$1 name=${1%%=*} ver=${1#*=} f
  FETCHED=$(cached_deb "$name" "$ver")
  [[ -n $FETCHED ]] && return 0
  if ! (cd "$CACHE/debs" && apt-get download -qq "$spec" 2>"$WORK/apt-download.log"); then
    if [[ -z ${QDIRECT_GUEST_APT_RETRY:-} ]]; then
      echo "build.sh: apt-get download $spec failed; updating apt lists and starting over" >&2
      apt_update_once
      rm -rf "$WORK"
      exec 9>&-
      QDIRECT_GUEST_APT_RETRY=1 exec "$KIT/build.sh" "$STORE"
    fi
    die "apt-get download $spec failed: $(cat "$WORK/apt-download.log")"
  fi
  FETCHED=$(cached_deb "$name" "$ver")
  [[ -n $FETCHED ]] || die "apt-get download $spec left no .deb in $CACHE/debs"
  for f in "$CACHE/debs/${name}"_*.deb; do
    [[ $f == "$FETCHED" ]] || rm -f "$f"
  done
}

WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for spec in $PACKAGES; do
  fetch "$spec"
  dpkg-deb -x "$FETCHED" "$WORK/pkg"
done

KVER=$(cd "$WORK/pkg/lib/modules" && ls)
[[ $(wc -w <<<"$KVER") -eq 1 ]] || die "expected one kernel in the package, found: $KVER"
BUSYBOX=$WORK/pkg/bin/busybox
QEMU_GA=$WORK/pkg/usr/sbin/qemu-ga
[[ -x $BUSYBOX ]] || die "busybox-static has no /bin/busybox"
[[ -x $QEMU_GA ]] || die "qemu-guest-agent has no /usr/sbin/qemu-ga"

R=$WORK/root
mkdir -p "$R"/{bin,dev,proc,sys,run,tmp,etc,root,lib/x86_64-linux-gnu,lib64,usr,var}
ln -s bin "$R/sbin"
ln -s ../bin "$R/usr/bin"
ln -s ../bin "$R/usr/sbin"
ln -s ../run "$R/var/run"
ln -s ../lib "$R/usr/lib"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

# The kit's files first: an applet link must never be a copy's destination.
install -m 755 "$KIT/init" "$R/init"
cp -R "$KIT/rootfs/." "$R/"
install -m 755 "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ -e $R/bin/$applet ]] || ln -s busybox "$R/bin/$applet"
done

# qemu-ga with the host's copies of its shared libraries (the same Debian release).
install -m 755 "$QEMU_GA" "$R/bin/qemu-ga"
ldd_out=$(ldd "$QEMU_GA") || die "ldd $QEMU_GA failed"
if grep -q 'not found' <<<"$ldd_out"; then
  die "qemu-ga needs libraries the host lacks: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t\n' ' ')"
fi
while read -r lib; do
  cp -L "$lib" "$R/lib/x86_64-linux-gnu/$(basename "$lib")"
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$ldd_out")
cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/ld-linux-x86-64.so.2"

# Modules: the closure of MODULES under the kernel's dependencies, then a
# modules.dep/modules.alias for busybox modprobe made by busybox depmod.
KMOD=$WORK/pkg/lib/modules/$KVER
# Drops a module's appended signature: the kernel does not enforce signatures,
# and checking them costs ~5 ms a module under TCG (the kernel is only tainted).
strip_signature() {
  local f=$1 size sig_len
  [[ $(tail -c 28 "$f" | head -c 27) == "~Module signature appended~" ]] || return 0
  size=$(stat -c %s "$f")
  # struct module_signature (12 bytes) ends with sig_len, a big-endian u32.
  sig_len=$(tail -c 32 "$f" | head -c 4 | od -An -tu1 |
    awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
  truncate -s $((size - 28 - 12 - sig_len)) "$f"
}
"$BUSYBOX" depmod -b "$WORK/pkg" "$KVER"
want=()
for m in "${MODULES[@]}"; do
  path=$(find "$KMOD/kernel" -name "$m.ko*" -print -quit)
  [[ -n $path ]] || die "module $m not in $KVER"
  want+=("${path#"$KMOD"/}")
done
closure=$(for p in "${want[@]}"; do
  echo "$p"
  awk -v p="$p:" '$1 == p { for (i = 2; i <= NF; i++) print $i }' "$KMOD/modules.dep"
done | LC_ALL=C sort -u)
for p in $closure; do
  mkdir -p "$R/lib/modules/$KVER/$(dirname "$p")"
  case $p in
    *.ko)
      cp "$KMOD/$p" "$R/lib/modules/$KVER/$p"
      strip_signature "$R/lib/modules/$KVER/$p"
      ;;
    *) die "compressed module $p: not supported by this kit yet" ;;
  esac
done
cp "$KMOD/modules.order" "$KMOD/modules.builtin" "$R/lib/modules/$KVER/"
"$BUSYBOX" depmod -b "$R" "$KVER"

# Reproducible archive: fixed mtimes, sorted names, root-owned, no host inode numbers.
find "$R" -exec touch -h -d "@$EPOCH" {} +
mkdir -p "$IMAGE/boot"
initrd_tmp=$IMAGE/boot/.initrd.img.tmp
(cd "$R" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
  cpio -o -H newc -R 0:0 --reproducible --quiet) |
  case $COMPRESS in
    zstd) zstd -q -19 -T0 -c ;;
    gzip) gzip -n -9 -c ;;
    none) cat ;;
  esac >"$initrd_tmp"
install -m 644 "$WORK/pkg/boot/vmlinuz-$KVER" "$IMAGE/boot/.vmlinuz.tmp"
touch -d "@$EPOCH" "$initrd_tmp" "$IMAGE/boot/.vmlinuz.tmp"
mv -f "$IMAGE/boot/.vmlinuz.tmp" "$IMAGE/boot/vmlinuz"
mv -f "$initrd_tmp" "$IMAGE/boot/initrd.img"
echo "$KEY" >"$IMAGE/.build-key"
echo "$PACKAGES" >"$IMAGE/.packages"
echo "build.sh: built $IMAGE (kernel $KVER, initrd $(stat -c %s "$IMAGE/boot/initrd.img") bytes, $COMPRESS)"
