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
#   6. bf16 on the GPU against the CPU's fp32 curve, 50 steps, AR and diffusion
#   7. blockwise attention against explicit on the GPU (soft-cap 30, sink),
#      fp32 and bf16
#   8. peak GPU memory against the estimate: L8-D512 in bf16 with each
#      attention kernel and with activation checkpointing
#   9. tokens/s and MFU at L8-D512 and L12-D768 (T 2048, vocab 131k, bf16):
#      scalebed against the same model in PyTorch eager and torch.compile
#      (bench/pytorch_reference.py, with the machine's own PyTorch)
#  10. sharded data parallelism (ZeRO-1 and ZeRO-2) on 2 ranks over NCCL
#      against the single-GPU curve; skipped on a machine with one GPU
# Each stage runs even when an earlier one failed; all output goes to stdout
# and to $OUT (gpu_check.log, ctest.log, the runs' metrics) for bench/results/.
# STAGES selects stages (default all); 0 and 1 (machine, build) always run,
# so a second call on a warm machine can run, e.g., STAGES="6 7 8 9" within
# the 8 minutes one call should take.
#
# Here, once:   ../shared/device/fetch-debs.sh libgloo-dev libtcmalloc-minimal4 zlib1g-dev
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
stages=" ${STAGES:-2 3 4 5 6 7 8 9 10} "
want() { [[ "$stages" == *" $1 "* ]]; }

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

# The fp32 GPU and CPU baselines that stages 2, 3, 6 and 10 compare against.
if want 2 || want 3 || want 6 || want 10; then
  train cuda_single --set device=cuda
  train cpu_ar --set device=cpu
fi

if want 2; then
stage "2. NCCL, one rank"
train cuda_nccl1 --nproc-per-node 1 --set device=cuda
compare cuda_single cuda_nccl1 1e-5
fi

diffusion=(--set objective.kind=diffusion --set objective.noise=masked)
if want 3 || want 6; then train cpu_diffusion --set device=cpu "${diffusion[@]}"; fi
if want 3; then
stage "3. fp32 parity, CPU against GPU"
compare cpu_ar cuda_single 1e-4
train cuda_diffusion --set device=cuda "${diffusion[@]}"
compare cpu_diffusion cuda_diffusion 1e-4
fi

if want 4; then
stage "4. ctest on the CUDA build"
ctest --test-dir build-cuda -j8 --timeout 300 > "$out/ctest.log" 2>&1
echo "ctest exit $?"
grep -E "tests passed|\*\*\*|Not Run|NcclLaunches" "$out/ctest.log" | head -30
fi

# bench_train on a paper preset with synthetic tokens (the presets read token
# shards that are not there); the model keeps its 131k vocabulary, so the
# cost per token is the preset's. H100/H200 dense bf16 peak: 989 TFLOP/s.
bench_preset() {
  local preset=$1
  shift
  timeout 120 "$bin/bench_train" --config "configs/paper/$preset.yaml" --set device=cuda \
    --set data.source=synthetic --set train.batch_size=16 --set train.micro_batch=8 \
    "$@" --steps 5 --warmup 2 --peak-tflops 989 2>&1 | tail -8
}

if want 5; then
stage "5. throughput (fp32)"
for preset in L8-D512 L12-D768; do
  for objective in ar diffusion; do
    bench_preset "$preset" --set objective.kind="$objective" --set train.precision=fp32
  done
done
fi

if want 6; then
stage "6. bf16 on the GPU against the CPU's fp32 curve"
# bf16 moved the CPU's held-out loss by 1-3% (bench/results/bf16_cpu.md);
# these losses are about 2-4 nats: 0.15 is 4-7%.
train cuda_bf16_ar --set device=cuda --set train.precision=bf16
compare cpu_ar cuda_bf16_ar 0.15
train cuda_bf16_diffusion --set device=cuda --set train.precision=bf16 "${diffusion[@]}"
compare cpu_diffusion cuda_bf16_diffusion 0.15
fi

if want 7; then
stage "7. blockwise against explicit attention on the GPU"
capped=(--set device=cuda --set model.soft_cap=30 --set model.attention_block=16)
for precision in fp32 bf16; do
  limit=$([ "$precision" = fp32 ] && echo 1e-4 || echo 0.05)
  train "cuda_explicit_$precision" "${capped[@]}" --set model.attention=explicit \
    --set train.precision=$precision
  train "cuda_blockwise_$precision" "${capped[@]}" --set model.attention=blockwise \
    --set train.precision=$precision
  compare "cuda_explicit_$precision" "cuda_blockwise_$precision" "$limit"
done
fi

if want 8; then
stage "8. peak GPU memory against the estimate (L8-D512, bf16, micro-batch 8)"
for variant in "model.attention=blockwise" "model.attention=explicit" \
               "train.activation_checkpointing=blocks"; do
  echo "-- $variant"
  bench_preset L8-D512 --set objective.kind=ar --set train.precision=bf16 --set "$variant" |
    grep -E "^(model|steps|peak memory|error)"
done
fi

if want 9; then
stage "9. tokens/s and MFU: scalebed against PyTorch eager and torch.compile (bf16, AR)"
for shape in "L8-D512 8 512 8" "L12-D768 12 768 12"; do
  read -r preset layers width heads <<<"$shape"
  echo "-- $preset scalebed"
  bench_preset "$preset" --set objective.kind=ar --set train.precision=bf16 --set train.batch_size=8 |
    grep -E "^(steps|tokens/s|TFLOP/s|MFU|peak memory|error)"
  for mode in "" "--compile"; do
    echo "-- $preset pytorch ${mode:-eager}"
    timeout 240 python3 bench/pytorch_reference.py --device cuda --layers "$layers" \
      --d-model "$width" --heads "$heads" --context 2048 --vocab 131072 --batch 8 --steps 5 \
      --warmup 2 --peak-tflops 989 $mode 2>&1 | tail -6
  done
done
fi
if want 10; then
stage "10. sharded data parallelism over NCCL (2 ranks, ZeRO-1 and ZeRO-2) against one GPU"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$gpus" -lt 2 ]; then
  echo "skipped: $gpus GPU(s) here; this stage needs 2"
else
  for shard in optimizer gradients; do
    train "cuda_shard_$shard" --nproc-per-node 2 --set device=cuda \
      --set distributed.shard=$shard --set distributed.bucket_mb=1
    compare cuda_single "cuda_shard_$shard" 1e-4
  done
fi
fi
stage "done"
}

# A pipeline, so that the log is complete when the command returns.
main 2>&1 | tee "$out/gpu_check.log"
