#!/usr/bin/env bash
# Overlap of the gradient all-reduce with backward, measured as time. Two
# ranks on two "hosts" (network namespaces joined by a veth link whose rate
# tc limits, so that the all-reduce costs about as much as the compute), one
# thread each, time full training steps (bench_train) with:
#   - one bucket holding every gradient (distributed.bucket_mb 1000): it is
#     complete only when backward ends, so nothing overlaps;
#   - small buckets, whose all-reduces start from the gradient hooks while
#     backward still runs.
# Against one rank alone at the per-rank batch (compute only, no link).
# hidden = the share of the one-bucket job's communication time that the
# small buckets hide: (t_one_bucket - t_buckets) / (t_one_bucket - t_compute).
# Needs root (ip netns, tc). Linux only.
# Usage: bench/data_parallel_overlap.sh [build-dir] [rate, e.g. 400mbit]
#        STEPS=30 CONFIG=configs/ladder/L4-D128.yaml BATCH=32 BUCKETS="1 0.25"
set -euo pipefail
build=${1:-build}; rate=${2:-400mbit}
steps=${STEPS:-30}; config=${CONFIG:-configs/ladder/L4-D128.yaml}; batch=${BATCH:-32}
buckets=(${BUCKETS:-1 0.25})
bench=$(readlink -f "$build/bin/bench_train")
ns=sbov$$
cleanup() { ip netns del ${ns}a 2>/dev/null || true; ip netns del ${ns}b 2>/dev/null || true; }
trap cleanup EXIT
ip netns add ${ns}a && ip netns add ${ns}b
ip link add ${ns}a type veth peer name ${ns}b
ip link set ${ns}a netns ${ns}a && ip link set ${ns}b netns ${ns}b
ip -n ${ns}a addr add 10.78.0.1/24 dev ${ns}a && ip -n ${ns}b addr add 10.78.0.2/24 dev ${ns}b
for h in a b; do
  ip -n ${ns}$h link set lo up && ip -n ${ns}$h link set ${ns}$h up
  ip netns exec ${ns}$h tc qdisc add dev ${ns}$h root tbf rate "$rate" burst 64kb latency 200ms
done

common=(--config "$config" --set threads=1 --set train.batch_size=$batch --steps "$steps" --warmup 5)
ms_per_step() { sed -n 's/.*(\([0-9.]*\) ms\/step.*/\1/p'; }
calc() { awk "BEGIN { print $1 }"; }

echo "config $config, global batch $batch sequences, 2 ranks, link $rate each way, $steps steps"
"$bench" "${common[@]}" --set train.batch_size=$((batch / 2)) | grep -E "^model"
compute=$("$bench" "${common[@]}" --set train.batch_size=$((batch / 2)) | ms_per_step)
printf '%-34s %8.2f ms/step\n' "1 rank, per-rank batch (compute)" "$compute"

two_ranks() {  # bucket_mb -> ms/step of rank 0
  local port=$((29600 + RANDOM % 1000))
  for r in 1 0; do
    ip netns exec ${ns}$( [ $r = 0 ] && echo a || echo b ) env WORLD_SIZE=2 RANK=$r LOCAL_RANK=0 \
      MASTER_ADDR=10.78.0.1 MASTER_PORT=$port \
      "$bench" "${common[@]}" --set distributed.bucket_mb="$1" > /tmp/$ns.rank$r.out 2>&1 &
  done
  wait
  ms_per_step < /tmp/$ns.rank0.out
}
one=$(two_ranks 1000)
printf '%-34s %8.2f ms/step  (communication exposed: %.2f ms)\n' \
  "2 ranks, one bucket (no overlap)" "$one" "$(calc "$one - $compute")"
for mb in "${buckets[@]}"; do
  t=$(two_ranks "$mb")
  printf '%-34s %8.2f ms/step  (exposed: %.2f ms, hidden: %.0f%%)\n' \
    "2 ranks, buckets of $mb MB" "$t" "$(calc "$t - $compute")" \
    "$(calc "100 * ($one - $t) / ($one - $compute)")"
done
rm -f /tmp/$ns.rank0.out /tmp/$ns.rank1.out
