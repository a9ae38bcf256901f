#!/usr/bin/env bash
# Tiny diffusion models with masked, balanced and uniform noise at equal
# compute (same model, batch and steps) on the synthetic HMM source: final
# validation ELBO against the source's exact optimal loss.
# Usage: bench/diffusion_noise_order.sh [build-dir] [steps] [out-dir]
set -euo pipefail
build=${1:-build}; steps=${2:-2000}; out=${3:-runs/noise-order}
for noise in masked balanced uniform; do
  "$build/bin/trainer" --config configs/tiny_diffusion.yaml --set objective.noise=$noise \
    --set name=$noise --set out_dir=$out --set train.steps=$steps --set train.eval_every=500 \
    --set train.eval_batches=16 --set threads=1 > /dev/null 2>&1 &
done
wait
printf "%-9s %10s %10s %9s %s\n" noise val_elbo optimum gap val_curve
for noise in masked balanced uniform; do
  python3 - "$out/$noise" "$noise" <<'PY'
import json, sys
d, noise = sys.argv[1], sys.argv[2]
s = json.load(open(d + "/summary.json"))
curve = [m["val_loss"] for m in map(json.loads, open(d + "/metrics.jsonl")) if "val_loss" in m]
print("%-9s %10.4f %10.4f %8.1f%% %s" % (noise, s["final_val_loss"], s["optimal_val_loss"],
      100 * (s["final_val_loss"] / s["optimal_val_loss"] - 1), " ".join("%.3f" % v for v in curve)))
PY
done
