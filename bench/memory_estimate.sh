#!/usr/bin/env bash
# The memory estimate (model/accounting) against what training steps really
# allocate on the CPU (bench_train's allocation window: activations and
# temporaries above the weights, gradients and optimizer state), over
# precision, attention kernel, activation checkpointing, vocabulary and shape.
# Usage: bench/memory_estimate.sh [build-dir]
set -euo pipefail
bin=${1:-build}/bin/bench_train
echo "config measured_MiB estimate_MiB measured/estimate"
while read -r L d h T B V prec attn ckpt; do
  out=$(OMP_NUM_THREADS=1 "$bin" --config configs/ladder/base.yaml --set threads=1 \
    --set model.layers=$L --set model.d_model=$d --set model.heads=$h --set model.context=$T \
    --set train.batch_size=$B --set train.micro_batch=$B --set data.zipf_markov.vocab=$V \
    --set train.precision=$prec --set model.attention=$attn --set model.soft_cap=30 \
    --set train.activation_checkpointing=$ckpt \
    --steps 2 --warmup 1)
  awk -v c="L$L-D$d T=$T B=$B V=$V $prec $attn ckpt=$ckpt" '/^activations/ {print c, $2, $12, $16}' <<<"$out" | tr -d ')'
done <<'CONFIGS'
2 128 8 256 8 64 fp32 blockwise none
2 128 8 256 8 64 bf16 blockwise none
4 64 4 128 16 64 fp32 explicit none
4 64 4 128 16 64 bf16 explicit none
2 64 4 512 4 64 fp32 blockwise none
2 64 4 512 4 64 bf16 blockwise none
2 64 4 128 8 4096 fp32 blockwise none
2 64 4 128 8 4096 bf16 blockwise none
3 96 6 256 8 1024 fp32 explicit none
3 96 6 256 8 1024 bf16 blockwise none
4 128 8 256 8 64 fp32 blockwise none
4 128 8 256 8 64 fp32 blockwise blocks
4 128 8 256 8 64 bf16 blockwise blocks
1 512 8 32 8 16384 fp32 blockwise none
1 512 8 32 8 16384 bf16 blockwise none
CONFIGS
