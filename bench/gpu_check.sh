#!/usr/bin/env bash
# The GPU checks, as one `device` call (the GPU machine has no package
# registry; see ../shared/device/README.md). Prepared on a CPU machine, so that
# a session that is lent a GPU spends its few minutes measuring, not debugging:
#   0. what the machine is (GPU, driver, torch, nvcc, OS) and the commit
#   1. the CUDA binaries: those built here (bench/gpu_prebuilt.sh copies the
#      Release build's trainer, bench_train and test_model into .gpu-prebuilt,
#      linked against the same torch 2.11.0+cu130 as the machine's), run
#      against the machine's LibTorch and the unpacked .deb files; if they do
#      not load there, the project is built from the .deb files instead
#   2. NCCL with one rank: `--nproc-per-node 1` against a single process, same
#      run on cuda (issue: data parallel; both curves and the transport line)
#   3. fp32 parity, CPU against GPU (TF32 off), 50 steps, autoregressive and
#      diffusion; TF32 on against the CPU; the GPU's own run-to-run spread
#   4. the NCCL bucket test of test_model (skipped wherever there is no GPU)
#   5. fp32 throughput (bench_train) at L8-D512, beside stage 9's bf16
#   6. bf16 on the GPU against the CPU's fp32 curve, 50 steps, AR and diffusion
#   7. blockwise attention against explicit on the GPU (soft-cap 30, sink),
#      fp32 and bf16, and with prompt conditioning
#   8. peak GPU memory against the estimate: L8-D512 in bf16 with each
#      attention kernel and with activation checkpointing
#   9. tokens/s and MFU at L8-D512 and L12-D768 (T 2048, vocab 131k, bf16):
#      scalebed (AR and diffusion) against the same model in PyTorch eager and
#      torch.compile (bench/pytorch_reference.py, the machine's own PyTorch)
#  10. sharded data parallelism (ZeRO-1 and ZeRO-2) on 2 ranks over NCCL
#      against the single-GPU curve; skipped on a machine with one GPU
#  11. activation checkpointing on the GPU against the same run without it
#  12. resume on the GPU: a run stopped by SIGTERM and restarted against the
#      same run uninterrupted
# Stages run in order of what they verify (correctness first, then memory,
# then speed, torch.compile last); each runs even when an earlier one failed;
# all output goes to stdout and to $OUT (gpu_check.log; runs.tar.gz, every
# run's log and metrics) for bench/results/. STAGES selects stages (default all); 0 and 1 always run.
#
# Here, once:   ../shared/device/fetch-debs.sh libgloo-dev libtcmalloc-minimal4 zlib1g-dev libcli11-dev
#               mkdir -p .device-tools && cp ../shared/device/*.sh .device-tools/
#               bench/gpu_prebuilt.sh        (after a Release build in build/)
# Device call:  carry [".device-debs", ".device-tools", ".gpu-prebuilt"], timeout_s 540,
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
stages=" ${STAGES:-2 3 4 5 6 7 8 9 10 11 12} "
want() { [[ "$stages" == *" $1 "* ]]; }

# The binaries carried from the CPU machine, if they load here: the Debian
# libraries from the unpacked .deb files, LibTorch and its CUDA libraries from
# the machine's own torch wheel (the same version the binaries were linked to).
use_prebuilt() {
  [ -x .gpu-prebuilt/bin/trainer ] || { echo "no .gpu-prebuilt carried"; return 1; }
  local sysroot=/tmp/sysroot torch_lib
  mkdir -p "$sysroot"
  for f in .device-debs/*.deb; do dpkg -x "$f" "$sysroot"; done
  torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  export LD_LIBRARY_PATH="$sysroot/usr/lib/x86_64-linux-gnu:$torch_lib:$torch_lib/../../nvidia/cu13/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  local missing
  missing=$(ldd .gpu-prebuilt/bin/trainer .gpu-prebuilt/bin/bench_train | grep "not found")
  if [ -n "$missing" ]; then echo "prebuilt binaries miss: $missing"; return 1; fi
  .gpu-prebuilt/bin/trainer --help > /dev/null || { echo "prebuilt trainer does not start"; return 1; }
  echo "prebuilt binaries load: $(cat .gpu-prebuilt/build.txt 2>/dev/null)"
  ldd .gpu-prebuilt/bin/trainer | grep -E "libtorch_cuda|libcudart|libnccl|libyaml"
}

main() {
stage "0. machine"
echo "commit: $commit"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "nccl", ".".join(map(str, torch.cuda.nccl.version())))' 2>/dev/null || true
nvcc --version | tail -2 || true
grep PRETTY_NAME /etc/os-release || true
echo "cores: $(nproc)"

stage "1. binaries"
if use_prebuilt; then
  bin=.gpu-prebuilt/bin
  tests=.gpu-prebuilt/tests
else
  echo "building here instead"
  if ! bash .device-tools/build.sh build-cuda > "$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "BUILD FAILED"
    exit 1
  fi
  grep "scalebed:" "$out/build.log"
  bin=build-cuda/bin
  tests=build-cuda/tests
fi

# Same tiny run (configs/tiny.yaml) under the overrides given.
train() {
  local name=$1
  shift
  "$bin/trainer" "$@" --config configs/tiny.yaml --set out_dir="$runs" --set name="$name" \
    --set train.steps=50 --set train.eval_every=25 --set train.log_every=1 > "$runs/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc"
  grep -E "\] run |data parallel|error" "$runs/$name.log" | head -4
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

# The fp32 baselines that the stages compare against. TF32 is off on the GPU
# (it is on by default there): parity with the CPU is about fp32 itself.
fp32=(--set device=cuda --set train.tf32=false)
diffusion=(--set objective.kind=diffusion --set objective.noise=masked)
train cuda_single "${fp32[@]}"
if want 3 || want 6; then
  train cpu_ar --set device=cpu
  train cpu_diffusion --set device=cpu "${diffusion[@]}"
fi

if want 2; then
stage "2. NCCL, one rank"
train cuda_nccl1 --nproc-per-node 1 "${fp32[@]}"
compare cuda_single cuda_nccl1 1e-5
fi

if want 3; then
stage "3. fp32 parity, CPU against GPU"
train cuda_single_again "${fp32[@]}"
compare cuda_single cuda_single_again 0
compare cpu_ar cuda_single 1e-4
train cuda_diffusion "${fp32[@]}" "${diffusion[@]}"
compare cpu_diffusion cuda_diffusion 1e-4
# TF32 rounds matmul inputs to 10 mantissa bits (about 5e-4 relative).
train cuda_tf32 --set device=cuda --set train.tf32=true
compare cpu_ar cuda_tf32 0.02
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
capped=(--set model.soft_cap=30 --set model.attention_block=16)
for precision in fp32 bf16; do
  limit=$([ "$precision" = fp32 ] && echo 1e-4 || echo 0.05)
  train "cuda_explicit_$precision" "${fp32[@]}" "${capped[@]}" --set model.attention=explicit \
    --set train.precision=$precision
  train "cuda_blockwise_$precision" "${fp32[@]}" "${capped[@]}" --set model.attention=blockwise \
    --set train.precision=$precision
  compare "cuda_explicit_$precision" "cuda_blockwise_$precision" "$limit"
done
# Prompt conditioning (the paper preset's 20%, here 50%) masks every kernel.
prompted=("${fp32[@]}" "${capped[@]}" "${diffusion[@]}" --set objective.prompt_fraction=0.5)
train cuda_prompt_explicit "${prompted[@]}" --set model.attention=explicit
train cuda_prompt_blockwise "${prompted[@]}" --set model.attention=blockwise
compare cuda_prompt_explicit cuda_prompt_blockwise 1e-4
fi

if want 11; then
stage "11. activation checkpointing on the GPU"
train cuda_checkpointed "${fp32[@]}" --set train.activation_checkpointing=blocks
compare cuda_single cuda_checkpointed 1e-5
train cuda_checkpointed_diffusion "${fp32[@]}" "${diffusion[@]}" \
  --set train.activation_checkpointing=blocks
train cuda_diffusion_ref "${fp32[@]}" "${diffusion[@]}"
compare cuda_diffusion_ref cuda_checkpointed_diffusion 1e-5
fi

if want 12; then
stage "12. resume on the GPU after SIGTERM"
long=(--config configs/tiny.yaml --set out_dir="$runs" "${fp32[@]}" "${diffusion[@]}"
      --set train.steps=400 --set train.eval_every=100 --set train.log_every=1
      --set train.checkpoint_every=50)
"$bin/trainer" "${long[@]}" --set name=cuda_whole > "$runs/cuda_whole.log" 2>&1
echo "cuda_whole: exit $?"
"$bin/trainer" "${long[@]}" --set name=cuda_resumed > "$runs/cuda_resumed.1.log" 2>&1 &
pid=$!
metrics=$runs/cuda_resumed/metrics.jsonl
for _ in $(seq 600); do  # until step 120 is logged (at most 60 s)
  [ -s "$metrics" ] && [ "$(wc -l < "$metrics")" -ge 120 ] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
rc=$?
echo "cuda_resumed: stopped by SIGTERM at $(wc -l < "$metrics") logged steps, exit $rc"
"$bin/trainer" "${long[@]}" --set name=cuda_resumed > "$runs/cuda_resumed.2.log" 2>&1
echo "cuda_resumed, restarted: exit $?"
grep -h -i -E "resum" "$runs/cuda_resumed.2.log" | head -2
compare cuda_whole cuda_resumed 1e-5
fi

if want 4; then
stage "4. the NCCL bucket test (test_model, DataParallel*)"
"$tests/test_model" --gtest_filter='DataParallel*' 2>&1 | grep -E "^\[ +(OK|FAILED|SKIPPED|PASSED) " | head
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

if want 8; then
stage "8. peak GPU memory against the estimate (L8-D512, bf16, micro-batch 8)"
for variant in "model.attention=blockwise" "model.attention=explicit" \
               "train.activation_checkpointing=blocks"; do
  echo "-- $variant"
  bench_preset L8-D512 --set objective.kind=ar --set train.precision=bf16 --set "$variant" |
    grep -E "^(model|steps|peak memory|error)"
done
fi

shapes=("L8-D512 8 512 8" "L12-D768 12 768 12")
if want 9; then
stage "9. tokens/s and MFU: scalebed (bf16) against PyTorch eager"
for shape in "${shapes[@]}"; do
  read -r preset layers width heads <<<"$shape"
  for objective in ar diffusion; do
    echo "-- $preset scalebed $objective"
    bench_preset "$preset" --set objective.kind=$objective --set train.precision=bf16 \
      --set train.batch_size=8 | grep -E "^(steps|tokens/s|TFLOP/s|MFU|peak memory|error)"
  done
  echo "-- $preset pytorch eager (ar)"
  timeout 120 python3 bench/pytorch_reference.py --device cuda --layers "$layers" \
    --d-model "$width" --heads "$heads" --context 2048 --vocab 131072 --batch 8 --steps 5 \
    --warmup 2 --peak-tflops 989 2>&1 | tail -6
done
fi

if want 5; then
stage "5. throughput in fp32 (TF32 on and off), L8-D512, AR"
for tf32 in true false; do
  echo "-- tf32 $tf32"
  bench_preset L8-D512 --set objective.kind=ar --set train.precision=fp32 --set train.tf32=$tf32 |
    grep -E "^(steps|tokens/s|TFLOP/s|MFU|peak memory|error)"
done
fi

if want 10; then
stage "10. sharded data parallelism over NCCL (2 ranks, ZeRO-1 and ZeRO-2) against one GPU"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
if [ "$gpus" -lt 2 ]; then
  echo "skipped: $gpus GPU(s) here; this stage needs 2"
else
  for shard in optimizer gradients; do
    train "cuda_shard_$shard" --nproc-per-node 2 "${fp32[@]}" \
      --set distributed.shard=$shard --set distributed.bucket_mb=1
    compare cuda_single "cuda_shard_$shard" 1e-4
  done
fi
fi

# Every run's log and metrics, as one file ($OUT brings back at most 8).
tar czf "$out/runs.tar.gz" -C "$runs" . 2>/dev/null

if want 9; then
stage "9 (continued). PyTorch under torch.compile"
for shape in "${shapes[@]}"; do
  read -r preset layers width heads <<<"$shape"
  echo "-- $preset pytorch torch.compile (ar)"
  timeout 150 python3 bench/pytorch_reference.py --device cuda --layers "$layers" \
    --d-model "$width" --heads "$heads" --context 2048 --vocab 131072 --batch 8 --steps 5 \
    --warmup 2 --peak-tflops 989 --compile 2>&1 | tail -6
done
fi
stage "done"
}

# A pipeline, so that the log is complete when the command returns.
main 2>&1 | tee "$out/gpu_check.log"
