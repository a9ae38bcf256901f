#!/usr/bin/env bash
# Copies the CUDA binaries that bench/gpu_check.sh runs on the GPU machine
# (trainer, bench_train, test_model) from this machine's Release build into
# .gpu-prebuilt/, so that a lent GPU's few minutes go to measuring rather than
# to building. They are linked against the project's torch (2.11.0+cu130, the
# same wheel as the GPU machine's python3) and Debian 12's libraries, which
# travel as .deb files; gpu_check.sh falls back to building there when they
# do not load.
#
#   bench/gpu_prebuilt.sh [BUILD_DIR=build]
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" ||
  { echo "$build is not a Release build"; exit 1; }
grep -q 'SCALEBED_WITH_CUDA' "$build/build.ninja" ||
  { echo "$build was configured without CUDA"; exit 1; }
cmake --build "$build" --target trainer bench_train test_model
grep -qx '/.gpu-prebuilt/' .git/info/exclude 2>/dev/null || echo '/.gpu-prebuilt/' >> .git/info/exclude
rm -rf .gpu-prebuilt
mkdir -p .gpu-prebuilt/bin .gpu-prebuilt/tests
cp "$build/bin/trainer" "$build/bin/bench_train" .gpu-prebuilt/bin/
cp "$build/tests/test_model" .gpu-prebuilt/tests/
torch_lib=$(ldd "$build/bin/trainer" | awk '/libtorch_cpu/ {print $3}')  # <venv>/lib/python3.X/...
torch=$("${torch_lib%/lib/python*}/bin/python3" -c 'import torch; print(torch.__version__)')
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), built" \
  "$(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME"), torch $torch" > .gpu-prebuilt/build.txt
cat .gpu-prebuilt/build.txt
du -sh .gpu-prebuilt
