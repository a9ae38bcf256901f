#!/usr/bin/env bash
# The GPU checks, as one `device` call (the GPU machine has no package
# registry; see ../shared/device/README.md). Prepared on a CPU machine, so that
# a session that is lent a GPU spends its few minutes measuring, not debugging:
#   0. what the machine is (GPU, driver, torch, nvcc, OS) and the commit
#   1. build the CUDA trainer from the .deb files in .device-debs
#   2. NCCL with one rank: `--nproc-per-node 1` against a single process, same
#      run on cuda (issue: data parallel; both curves and the transport line)
#   3. fp32 parity, CPU against GPU, 50 steps, autoregressive and diffusion
#   4. the ctest suite on the CUDA build (the NCCL bucket test runs there)
#   5. first throughput figures (bench_train) at the paper's small presets
# Each stage runs even when an earlier one failed; all output goes to stdout
# and to $OUT (gpu_check.log, ctest.log, the runs' metrics) for bench/results/.
#
# Here, once:   ../shared/device/fetch-debs.sh libgloo-dev libtcmalloc-minimal4
#               mkdir -p .device-tools && cp ../shared/device/*.sh .device-tools/
# Device call:  carry [".device-debs", ".device-tools"], timeout_s 600,
#               command: bash bench/gpu_check.sh "$(git rev-parse --short HEAD)"
#               (write the commit literally: .git does not travel)
set -uo pipefail
commit=${1:-unknown}
out=${OUT:-/tmp/gpu_check_out}
mkdir -p "$out"
runs=/tmp/gpu_check_runs
rm -rf "$runs"
mkdir -p "$runs"
stage() { printf '\n===== %s  (%s, %ds since start)\n' "$*" "$(date -u +%H:%M:%S)" "$SECONDS"; }

main() {
stage "0. machine"
echo "commit: $commit"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "nccl", ".".join(map(str, torch.cuda.nccl.version())))' 2>/dev/null || true
nvcc --version | tail -2 || true
grep PRETTY_NAME /etc/os-release || true
echo "cores: $(nproc)"

stage "1. build"
if ! bash .device-tools/build.sh build-cuda > "$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "BUILD FAILED"
  exit 1
fi
grep "scalebed:" "$out/build.log"
bin=build-cuda/bin

# Same tiny run (configs/tiny.yaml) under the overrides given.
train() {
  local name=$1
  shift
  "$bin/trainer" "$@" --config configs/tiny.yaml --set out_dir="$runs" --set name="$name" \
    --set train.steps=50 --set train.eval_every=25 --set train.log_every=1 > "$runs/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc"
  grep -E "\] run |data parallel|error" "$runs/$name.log" | head -4
  cp "$runs/$name/metrics.jsonl" "$out/$name.metrics.jsonl" 2>/dev/null || true
  return $rc
}
# Largest difference of the logged losses of two runs, step by step.
compare() {
  for run in "$1" "$2"; do
    [ -s "$runs/$run/metrics.jsonl" ] || { echo "$1 vs $2: cannot compare, $run logged nothing: FAIL"; return 1; }
  done
  python3 - "$runs/$1/metrics.jsonl" "$runs/$2/metrics.jsonl" "$3" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert [r["step"] for r in a] == [r["step"] for r in b], "different steps"
worst = {k: max(abs(x[k] - y[k]) for x, y in zip(a, b) if k in x and k in y)
         for k in ("train_loss", "val_loss", "grad_norm")}
ok = worst["train_loss"] <= float(sys.argv[3]) and worst["val_loss"] <= float(sys.argv[3])
print(f"{sys.argv[1].split('/')[-2]} vs {sys.argv[2].split('/')[-2]}: largest |difference| "
      + ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
      + f" over {len(a)} steps (limit {sys.argv[3]}): " + ("PASS" if ok else "FAIL"))
PY
}

stage "2. NCCL, one rank"
train cuda_single --set device=cuda
train cuda_nccl1 --nproc-per-node 1 --set device=cuda
compare cuda_single cuda_nccl1 1e-5

stage "3. fp32 parity, CPU against GPU"
diffusion=(--set objective.kind=diffusion --set objective.noise=masked)
train cpu_ar --set device=cpu
compare cpu_ar cuda_single 1e-4
train cpu_diffusion --set device=cpu "${diffusion[@]}"
train cuda_diffusion --set device=cuda "${diffusion[@]}"
compare cpu_diffusion cuda_diffusion 1e-4

stage "4. ctest on the CUDA build"
ctest --test-dir build-cuda -j8 --timeout 300 > "$out/ctest.log" 2>&1
echo "ctest exit $?"
grep -E "tests passed|\*\*\*|Not Run|NcclLaunches" "$out/ctest.log" | head -30

stage "5. throughput (fp32, no GPU tuning yet)"
for preset in L8-D512 L12-D768; do
  for objective in ar diffusion; do
    # Synthetic tokens (the presets read token shards that are not there); the
    # model keeps its 131k vocabulary, so the cost per token is the preset's.
    timeout 90 "$bin/bench_train" --config "configs/paper/$preset.yaml" --set device=cuda \
      --set data.source=synthetic --set objective.kind="$objective" --set train.batch_size=16 \
      --set train.micro_batch=8 --steps 5 --warmup 2 --peak-tflops 989 2>&1 | tail -7
  done
done
stage "done"
}

# A pipeline, so that the log is complete when the command returns.
main 2>&1 | tee "$out/gpu_check.log"
