#!/usr/bin/env bash
# Tiny diffusion models with masked, balanced and uniform noise at equal
# compute (same model, batch, steps, hence FLOPs) on the synthetic HMM source,
# over several seeds: final validation ELBO against the source's exact
# optimal loss on the same windows. Two runs at a time, one thread each.
# Usage: bench/diffusion_noise_order.sh [build-dir] [steps] [out-dir] [seeds...]
set -euo pipefail
build=${1:-build}; steps=${2:-2000}; out=${3:-runs/noise-order}; shift 3 || true
seeds=("${@:-0 1 2}"); seeds=(${seeds[@]})
jobs=()
for seed in "${seeds[@]}"; do
  for noise in masked balanced uniform; do
    jobs+=("$noise $seed")
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 bash -c '
  "'"$build"'/bin/trainer" --config configs/tiny_diffusion.yaml --set objective.noise=$0 \
    --set seed=$1 --set name=$0-seed$1 --set out_dir='"$out"' --set train.steps='"$steps"' \
    --set train.eval_every=500 --set train.eval_batches=16 --set threads=1 > /dev/null 2>&1'
python3 - "$out" "${seeds[@]}" <<'PY'
import json, sys, statistics
out, seeds = sys.argv[1], sys.argv[2:]
print("%-9s %-5s %10s %10s %8s  %s" % ("noise", "seed", "val_elbo", "optimum", "gap", "val ELBO every 500 steps"))
finals = {}
for noise in ("masked", "balanced", "uniform"):
    for seed in seeds:
        d = "%s/%s-seed%s" % (out, noise, seed)
        s = json.load(open(d + "/summary.json"))
        curve = [m["val_loss"] for m in map(json.loads, open(d + "/metrics.jsonl")) if "val_loss" in m]
        finals.setdefault(noise, []).append(s["final_val_loss"])
        print("%-9s %-5s %10.4f %10.4f %7.1f%%  %s" % (noise, seed, s["final_val_loss"], s["optimal_val_loss"],
              100 * (s["final_val_loss"] / s["optimal_val_loss"] - 1), " ".join("%.3f" % v for v in curve)))
print()
for noise, v in finals.items():
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    print("%-9s mean %.4f  sd %.4f  (n=%d)" % (noise, statistics.mean(v), sd, len(v)))
PY
