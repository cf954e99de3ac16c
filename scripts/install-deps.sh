#!/bin/bash
# Installs every Debian 12 package qdirect needs to build, test and benchmark
# (the test guest kit included). Idempotent and quiet: when all are installed it
# does not touch apt at all, so a re-run costs one dpkg-query.
#
# usage: scripts/install-deps.sh [--check]
#   --check  only list what is missing; exit 1 if anything is
set -euo pipefail

PACKAGES=(
  # build
  meson ninja-build pkg-config g++ clang libclang-rt-14-dev
  libfmt-dev rapidjson-dev libseccomp-dev libcap-ng-dev liburing-dev libabsl-dev
  libyaml-dev libisofs-dev pybind11-dev python3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev python3-pytest
  # running guests
  qemu-system-x86 qemu-utils ovmf passt iproute2 xorriso
  # test guest kit (tests/guest/build.sh): initramfs tools and qemu-ga's libraries
  busybox-static cpio zstd libglib2.0-0 libnuma1 libudev1 liburing2 libpcre2-8-0
)

check_only=0
case ${1:-} in
  "") ;;
  --check) check_only=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# Unknown packages make dpkg-query fail; they are simply not "installed".
installed=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null |
  awk '$1 == "installed" { print $2 }' || true)
missing=()
for p in "${PACKAGES[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $check_only -eq 1 ]]; then
  echo "install-deps: missing: ${missing[*]}"
  exit 1
fi
if [[ $EUID -ne 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
