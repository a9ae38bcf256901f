#!/usr/bin/env bash
# Learning-rate transfer across width on CPU: the same base-LR grid at three
# tiny widths (L2, heads of 16) under `completep` and under `standard`, both
# with LaProp, AR, STEPS steps of 16 x 64 tokens on the data given by the
# DATA environment variable (extra --set arguments; default: the synthetic
# source). Prints the final validation loss per (parameterization, width, LR)
# and the best LR per width.
# Usage: [DATA="--set data.source=text ..."] [STEPS=300] [COMPLETEP_LRS=...] [STANDARD_LRS=...]
#        bench/lr_transfer.sh [build-dir] [out-dir] [jobs]
set -euo pipefail
build=${1:-build}; out=${2:-runs/lr-transfer}; jobs=${3:-2}
data=${DATA:-}; steps=${STEPS:-300}
completep_lrs=${COMPLETEP_LRS:-"0.03125 0.0625 0.125 0.25 0.5 1 2 4"}
standard_lrs=${STANDARD_LRS:-"0.0009765625 0.001953125 0.00390625 0.0078125 0.015625 0.03125 0.0625 0.125"}
runs=()
for d in 32 64 128; do
  for lr in $completep_lrs; do runs+=("completep $d $lr"); done
  for lr in $standard_lrs; do runs+=("standard $d $lr"); done
done
printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -L 1 bash -c '
  "'"$build"'/bin/trainer" --config configs/ladder/L2-D64.yaml --set data.source=synthetic \
    --set parameterization.kind=$0 \
    --set model.d_model=$1 --set model.heads=$(($1 / 16)) --set optim.lr=$2 \
    --set name=$0-d$1-lr$2 --set out_dir='"$out"' --set train.batch_size=16 --set train.steps='"$steps"' \
    --set train.eval_every=0 --set train.eval_batches=16 --set schedule.warmup_steps=30 \
    --set threads=1 '"$data"' > /dev/null 2>&1 || true'
python3 - "$out" <<'PY'
import json, os, sys, math
out = sys.argv[1]
rows = {}
for name in os.listdir(out):
    p = os.path.join(out, name, "summary.json")
    if not os.path.exists(p): continue
    s = json.load(open(p))
    kind, d, lr = name.split("-")
    loss = s.get("final_val_loss")
    rows.setdefault((kind, int(d[1:])), []).append((float(lr[2:]), loss if s["status"] == "done" else float("nan")))
for kind in ("completep", "standard"):
    print("## %s: final validation loss (nats/token) by base LR" % kind)
    widths = sorted(d for k, d in rows if k == kind)
    lrs = sorted({lr for (k, d), v in rows.items() if k == kind for lr, _ in v})
    print("%-8s" % "d \\ lr" + "".join("%10.4g" % lr for lr in lrs))
    best = {}
    for d in widths:
        by_lr = dict(rows[(kind, d)])
        print("%-8d" % d + "".join("%10.4f" % by_lr.get(lr, float("nan")) for lr in lrs))
        finite = [(v, lr) for lr, v in by_lr.items() if v is not None and not math.isnan(v)]
        best[d] = min(finite)[1]
    print("best LR by width: " + ", ".join("d%d: %g" % (d, best[d]) for d in widths))
    steps = [round(math.log2(best[d])) for d in widths]
    print("spread of the best LR: %d grid steps (factor 2 each)\n" % (max(steps) - min(steps)))
PY
