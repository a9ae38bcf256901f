#!/usr/bin/env bash
# Checks the README's promise on a genuinely fresh Debian 12: debootstraps a
# minimal bookworm into a folder, copies this repository (its committed HEAD)
# and ../shared/data in, and runs `.ci/run` (= `scripts/setup.sh test`) in a
# chroot: apt installs, the pinned torch wheel, the build, every test. The
# development and CI machines carry the CUDA toolkit and the packages already,
# so they cannot see what a bare machine lacks; this can. Needs root,
# debootstrap, and Debian's mirror and PyPI; about 10 minutes on 2 cores.
#
#   sudo scripts/fresh_debian_check.sh [dir]     # default /tmp/scalebed-fresh
#   sudo scripts/fresh_debian_check.sh [dir] run # the main job instead of the tests
#
# Inside a chroot, network namespaces cannot be made, so the two tests that
# need them skip themselves (as does the NCCL test without a GPU).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/scalebed-fresh}
mode=${2:-test}
fresh=$dir/root
if [ ! -x "$fresh/bin/bash" ]; then
  mkdir -p "$dir"
  debootstrap --variant=minbase bookworm "$fresh" http://deb.debian.org/debian
  cp /etc/resolv.conf "$fresh/etc/"
fi
# The host's CA bundle, for pip behind a proxy that re-signs TLS (as here).
cp /etc/ssl/certs/ca-certificates.crt "$fresh/etc/pip-ca.crt"
rm -rf "$fresh/work/main" "$fresh/work/shared"
mkdir -p "$fresh/work/shared"
git clone -q "$root" "$fresh/work/main"
[ -d "$root/../shared/data" ] && cp -r "$root/../shared/data" "$fresh/work/shared/"
for m in proc sys dev; do
  mountpoint -q "$fresh/$m" || mount --rbind "/$m" "$fresh/$m"
done
# Everything mounted under the chroot, deepest first (the tests' `ip netns`
# leaves a mount of /run/netns there too).
cleanup() {
  awk -v f="$fresh/" 'index($2, f) == 1 {print $2}' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
command=".ci/run"
[ "$mode" = run ] && command="scripts/setup.sh run"
chroot "$fresh" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  PIP_CERT=/etc/pip-ca.crt CI=true bash -c "cd /work/main && time $command"
