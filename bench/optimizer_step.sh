#!/usr/bin/env bash
# The optimizer update (gradient norm, clipping, LaProp/AdamW step) of two
# bench_train builds side by side, interleaved: typically the per-tensor loop
# (an older build) against the multi-tensor `_foreach_*` step.
# Usage: bench/optimizer_step.sh OLD_BENCH_TRAIN NEW_BENCH_TRAIN [rounds]
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
update() {  # ms/step of the update alone
  OMP_NUM_THREADS=1 "$1" --config configs/ladder/base.yaml --set threads=1 "${@:2}" \
    --set train.batch_size=16 --set train.micro_batch=16 --steps 200 --warmup 5 |
    awk '/^update/ {print $2}'
}
echo "model optimizer old_ms new_ms new/old (median of $rounds interleaved rounds)"
for size in "1 16 1" "2 48 3" "4 128 8"; do
  read -r L d h <<<"$size"
  for opt in laprop adamw; do
    sets=(--set model.layers=$L --set model.d_model=$d --set model.heads=$h --set optim.name=$opt)
    a=() b=()
    for ((r = 0; r < rounds; r++)); do
      a+=("$(update "$old" "${sets[@]}")")
      b+=("$(update "$new" "${sets[@]}")")
    done
    ma=$(printf '%s\n' "${a[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    mb=$(printf '%s\n' "${b[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    awk -v n="L$L-D$d" -v o=$opt -v a=$ma -v b=$mb 'BEGIN {printf "%s %s %.3f %.3f %.2f\n", n, o, a, b, b / a}'
  done
done
