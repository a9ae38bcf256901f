#!/usr/bin/env bash
# scalebed set-up: installs what is missing, builds, and then either runs the
# main job (the quick-start sweep and its planning guide, CPU-sized) or runs
# every test.
#
#   scripts/setup.sh run    # install + build + the CPU quick-start sweep and its analysis
#   scripts/setup.sh test   # install + build + run all tests (what CI runs)
#   scripts/setup.sh build  # install + build only
#
# Environment knobs:
#   SCALEBED_VENV   virtual environment holding the pinned torch wheel
#                   (default ~/.local/share/scalebed/venv-torch-$TORCH_VERSION;
#                   outside the checkout so fresh clones and CI reuse it)
#   BUILD_DIR       build directory (default build)
#   JOBS            parallel build jobs (default: number of cores)
set -euo pipefail

TORCH_VERSION=2.11.0  # the GPU machine's PyTorch; PyPI's wheel is the CUDA 13 build
TENSORBOARD_VERSION=2.21.0
PYARROW_VERSION=26.0.1      # scripts/prepare_data.py: parquet
TOKENIZERS_VERSION=0.23.3   # scripts/prepare_data.py: tokenizer.json
mode=${1:-run}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${SCALEBED_VENV:-$HOME/.local/share/scalebed/venv-torch-$TORCH_VERSION}
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. Debian packages (only those missing).
packages=(build-essential cmake ninja-build ccache python3 python3-venv git
          libyaml-cpp-dev libspdlog-dev libeigen3-dev nlohmann-json3-dev libcli11-dev
          libgtest-dev libgloo-dev libsentencepiece-dev libgoogle-perftools-dev zlib1g-dev
          iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The pinned torch wheel (its LibTorch headers, libraries and CMake config).
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  say "installing torch==$TORCH_VERSION into $venv (a large download, once)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "torch==$TORCH_VERSION"
fi
# TensorBoard's event reader, for the test that reads scalebed's event files
# back (and for viewing them: "$venv/bin/tensorboard" --logdir runs/).
if ! "$venv/bin/python" -c "import tensorboard, sys; sys.exit(tensorboard.__version__ != '$TENSORBOARD_VERSION')" 2>/dev/null; then
  say "installing tensorboard==$TENSORBOARD_VERSION into $venv"
  "$venv/bin/pip" install -q "tensorboard==$TENSORBOARD_VERSION"
fi
# The data-preparation script's packages (scripts/prepare_data.py and its test).
if ! "$venv/bin/python" -c "import pyarrow, tokenizers, sys; sys.exit(pyarrow.__version__ != '$PYARROW_VERSION' or tokenizers.__version__ != '$TOKENIZERS_VERSION')" 2>/dev/null; then
  say "installing pyarrow==$PYARROW_VERSION tokenizers==$TOKENIZERS_VERSION into $venv"
  "$venv/bin/pip" install -q "pyarrow==$PYARROW_VERSION" "tokenizers==$TOKENIZERS_VERSION" numpy
fi
torch_prefix=$("$venv/bin/python" -c "import torch.utils; print(torch.utils.cmake_prefix_path)" 2>/dev/null)

# 3. Configure and build (ccache and a precompiled torch header keep rebuilds short).
say "building in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DSCALEBED_PYTHON="$venv/bin/python" >/dev/null
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  run)
    # The main job: the quick-start sweep (AR, masked and uniform diffusion on
    # the tiny ladder at three FLOP budgets; resumes, skips finished runs),
    # then the analysis stage's planning guide, one per objective/noise.
    say "running the quick-start sweep (sweeps/quickstart.yaml) into runs/quickstart"
    "$build/bin/trainer" --config sweeps/quickstart.yaml
    "$build/bin/trainer" --config sweeps/quickstart.yaml --collect
    say "fitting scaling laws: runs/quickstart/guide/"
    "$build/bin/analyze" runs/quickstart --flops md \
      --group-by objective,noise --out runs/quickstart/guide
    say "done: open runs/quickstart/guide/*/report.html"
    ;;
  test)
    say "running all tests"
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
    ;;
  *) echo "usage: scripts/setup.sh [run|test|build]" >&2; exit 2 ;;
esac
