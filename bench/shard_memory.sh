#!/usr/bin/env bash
# Memory per rank with and without sharding (distributed.shard), measured on
# the CPU over Gloo against the estimate (model/accounting's RankLayout): each
# rank is a bench_train process started with torchrun's variables, measuring
# every tensor allocation from before its model is built to its last timed step
# (--whole-footprint). A model whose state (16 bytes per parameter) outweighs
# its activations, so that what sharding saves shows. Also each rank's time
# per step (3 timed steps on 2 cores: a rough figure, not a speed benchmark).
# Usage: bench/shard_memory.sh [build-dir]
set -euo pipefail
bin=${1:-build}/bin/bench_train
model=(--config configs/ladder/base.yaml --set threads=1 --set model.layers=4
  --set model.d_model=256 --set model.heads=4 --set train.batch_size=8 --set train.micro_batch=2
  --set distributed.bucket_mb=1 --steps 3 --warmup 2 --whole-footprint)

run_job() {  # world shard
  local world=$1 shard=$2 port=$((20000 + RANDOM % 20000)) dir
  dir=$(mktemp -d)
  for ((r = 0; r < world; ++r)); do
    if [ "$world" -eq 1 ]; then
      OMP_NUM_THREADS=1 "$bin" "${model[@]}" --set distributed.shard="$shard" >"$dir/$r" 2>&1 &
    else
      RANK=$r LOCAL_RANK=$r WORLD_SIZE=$world LOCAL_WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 \
        MASTER_PORT=$port OMP_NUM_THREADS=1 \
        "$bin" "${model[@]}" --set distributed.shard="$shard" >"$dir/$r" 2>&1 &
    fi
  done
  wait
  for ((r = 0; r < world; ++r)); do
    awk -v w="$world" -v s="$shard" -v r="$r" '
      /^estimate/ {sub(/^estimate +/, ""); est = $0}
      /^steps/ {ms = $9; gsub(/\(/, "", ms)}
      /^footprint/ {printf "%-6s %-10s rank %d: %7s MiB measured, %7s MiB estimated, ratio %s, %s ms/step\n      estimate: %s\n", w, s, r, $2, $16, $20, ms, est}
      /^error/ {print w, s, "rank", r, $0}' "$dir/$r" | tr -d ')'
  done
  rm -rf "$dir"
}

echo "world  shard      per-rank footprint (L4-D256, 3.2M parameters, batch 8 in micro-batches of 2)"
run_job 1 none
for world in 2 4; do
  for shard in none optimizer gradients; do run_job "$world" "$shard"; done
done
