#!/usr/bin/env bash
# Rehearses bench/gpu_check.sh on a CPU machine as the GPU machine would run
# it: the project's Debian packages (and pkg-config and ccache, which that
# image may lack) are hidden under an overlay of /usr in a private mount
# namespace, so the build can only find them in the unpacked .device-debs.
# The GPU stages then fail with "no CUDA device"; everything else (the build,
# the CPU runs, the comparisons, the CUDA build's ctest suite) runs for real.
# Needs root (unshare, overlayfs) and the torch virtual environment of
# scripts/setup.sh. Takes about 8 minutes cold on 2 cores.
#
# Usage (in the project root, after the two set-up lines in gpu_check.sh):
#   sudo bench/gpu_check_rehearsal.sh            # output in /tmp/gpu_check_out
set -euo pipefail
venv=${SCALEBED_VENV:-$HOME/.local/share/scalebed/venv-torch-2.11.0}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Hidden: every package that .device-debs brings (the build must find it
# there), its runtime library where only the -dev package was fetched, the
# tools, and gperftools' -dev package (there, only the runtime
# libtcmalloc-minimal4 comes, so the build must link that one).
ls .device-debs/*.deb > /dev/null || { echo "no .device-debs: run fetch-debs.sh first"; exit 1; }
pkgs="pkgconf pkg-config pkgconf-bin ccache libgloo0 libgoogle-perftools-dev libgoogle-perftools4"
for deb in .device-debs/*.deb; do pkgs="$pkgs $(dpkg-deb -f "$deb" Package)"; done
hidden=$(mktemp)
for p in $pkgs; do dpkg -L "$p" 2>/dev/null || true; done > "$hidden"
exec unshare -m bash -s "$hidden" "$venv" "$commit" <<'INSIDE'
set -euo pipefail
hidden=$1 venv=$2 commit=$3
mount --make-rprivate /
overlay=$(mktemp -d)
mount -t tmpfs tmpfs "$overlay"
mkdir "$overlay/upper" "$overlay/work"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$overlay/upper,workdir=$overlay/work" /usr
# Deleting in the overlay leaves the real /usr untouched.
while read -r f; do
  case "$f" in /usr/*) if [ -f "$f" ] || [ -L "$f" ]; then rm -f "$f"; fi ;; esac
done < "$hidden"
for tool in pkg-config ccache; do
  if command -v "$tool" > /dev/null; then echo "$tool still visible"; exit 1; fi
done
export PATH=$venv/bin:$PATH   # python3 with torch, as on the GPU machine
OUT=${OUT:-/tmp/gpu_check_out} bash bench/gpu_check.sh "$commit"
INSIDE
