#!/usr/bin/env bash
# Explicit vs blockwise attention with the paper's soft-cap (30) and sink on
# the CPU: time per training step and the activation memory the steps
# allocate (bench_train's CPU allocation window) beside the estimate, at
# T = 512, 1024, 2048 for a small model (L2-D64, 4 heads, batch 4, block 128).
# Usage: bench/attention_memory.sh [build-dir] [steps]
set -euo pipefail
bin=${1:-build}/bin/bench_train
steps=${2:-3}
echo "T kernel ms/step activation_MiB estimate_MiB measured/estimate last_loss"
declare -A ms mib
for T in 512 1024 2048; do
  for kernel in explicit blockwise; do
    out=$(OMP_NUM_THREADS=1 "$bin" --config configs/ladder/base.yaml --set threads=1 \
      --set model.layers=2 --set model.d_model=64 --set model.heads=4 --set model.context=$T \
      --set model.soft_cap=30 --set model.attention=$kernel --set model.attention_block=128 \
      --set train.batch_size=4 --set train.micro_batch=4 --steps "$steps" --warmup 1)
    step=$(awk '/^steps/ {gsub(/[(]/, "", $9); print $9}' <<<"$out")
    act=$(awk '/^activations/ {print $2, $12, $16}' <<<"$out" | tr -d ')')
    loss=$(awk '/^steps/ {print $NF}' <<<"$out")
    echo "$T $kernel $step $act $loss"
    ms[$T$kernel]=$step
    mib[$T$kernel]=$(cut -d' ' -f1 <<<"$act")
  done
  awk -v T=$T -v a="${ms[${T}explicit]}" -v b="${ms[${T}blockwise]}" -v c="${mib[${T}explicit]}" \
    -v d="${mib[${T}blockwise]}" \
    'BEGIN {printf "T=%d blockwise/explicit: time %.2f, activation memory %.3f\n", T, b / a, d / c}'
done
