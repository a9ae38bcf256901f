#!/usr/bin/env bash
# CPU thread setting: tokens/s of bench_train at 1 and 2 intra-op threads,
# for one job alone and for two jobs at once (as a sweep with --jobs 2 or
# `ctest -j2` runs them). Usage: bench/cpu_threads.sh [build-dir]
set -euo pipefail
bin=${1:-build}/bin/bench_train
cfg=configs/tiny.yaml
rate() { "$bin" --config $cfg "$@" --steps 40 | awk '/^tokens\/s/ {print $2}'; }
echo "# one job alone"
for size in "model.d_model=32 model.heads=2 train.batch_size=16" \
            "model.d_model=64 model.heads=4 train.batch_size=32" \
            "model.d_model=128 model.heads=4 model.layers=4 train.batch_size=32"; do
  sets=(); for kv in $size; do sets+=(--set "$kv"); done
  for th in 1 2; do
    echo "$size threads=$th tokens/s: $(rate "${sets[@]}" --set threads=$th) $(rate "${sets[@]}" --set threads=$th) $(rate "${sets[@]}" --set threads=$th)"
  done
done
echo "# two jobs at once (d_model=64), tokens/s of each"
for th in 1 2; do
  a=$(mktemp); rate --set threads=$th > "$a" & b=$(rate --set threads=$th); wait
  echo "threads=$th: $(cat "$a") $b"; rm -f "$a"
done
