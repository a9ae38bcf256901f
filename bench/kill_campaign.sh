#!/usr/bin/env bash
# A SIGKILL campaign against resume: for each objective (AR, masked
# diffusion), train a reference run uninterrupted, then train the same config
# again while killing it with SIGKILL at random moments (uniform in
# [MIN_S, MAX_S] seconds after each start, so kills land in training steps,
# evaluations, metrics appends and checkpoint writes alike), resuming after
# every kill, until it finishes. Then compare the two metrics.jsonl files
# step by step (train loss, grad norm, val loss: bit-identical expected on
# CPU) and check that the directory holds no leftovers. Prints one line per
# objective and exits non-zero on any difference.
#
#   bench/kill_campaign.sh [KILLS_PER_OBJECTIVE=60] [OUT=/tmp/kill_campaign]
set -euo pipefail

kills=${1:-60}
out=${2:-/tmp/kill_campaign}
root=$(cd "$(dirname "$0")/.." && pwd)
trainer=$root/build/bin/trainer
min_s=0.9  # about the trainer's start-up (LibTorch loading) on 2 cores
max_s=2.5
rm -rf "$out"
mkdir -p "$out"

config() {  # config NAME OUT_DIR OBJECTIVE_YAML
  cat <<EOF
name: $1
out_dir: $2
model: {layers: 2, d_model: 32, heads: 2, context: 32}
data: {synthetic: {train_tokens: 200000, val_tokens: 8192}}
optim: {lr: 3e-3}
$3
train: {batch_size: 16, steps: 12000, eval_every: 50, eval_batches: 2, log_every: 1,
        checkpoint_every: 25, keep_checkpoints: 2}
EOF
}

status=0
for objective in ar masked; do
  if [[ $objective == ar ]]; then yaml="objective: {kind: ar}"; else
    yaml="objective: {kind: diffusion, noise: masked}"; fi
  config run "$out/$objective/reference" "$yaml" > "$out/$objective-reference.yaml"
  config run "$out/$objective/killed" "$yaml" > "$out/$objective-killed.yaml"
  "$trainer" --config "$out/$objective-reference.yaml" > "$out/$objective-reference.log" 2>&1

  done_kills=0 starts=0
  while [[ ! -e $out/$objective/killed/run/DONE ]]; do
    starts=$((starts + 1))
    "$trainer" --config "$out/$objective-killed.yaml" >> "$out/$objective-killed.log" 2>&1 &
    pid=$!
    if ((done_kills < kills)); then
      sleep "$(python3 -c "import random; print(random.uniform($min_s, $max_s))")"
      if kill -KILL "$pid" 2> /dev/null; then done_kills=$((done_kills + 1)); fi
    fi
    { wait "$pid"; } 2> /dev/null || true  # bash's "Killed" notices are the plan, not news
  done

  diff_lines=$(python3 - "$out/$objective" <<'EOF'
import json, sys
def curve(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    return [(r["step"], r["train_loss"], r["grad_norm"], r.get("val_loss")) for r in rows]
a = curve(sys.argv[1] + "/reference/run/metrics.jsonl")
b = curve(sys.argv[1] + "/killed/run/metrics.jsonl")
print(sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b)))
EOF
)
  leftovers=$(find "$out/$objective/killed/run" -name '.tmp-*' -o -name '.trash-*' -o -name '*.tmp.*' | wc -l)
  resumed=$(grep -c "resumed from" "$out/$objective-killed.log" || true)
  skipped=$(grep -c "not resuming from" "$out/$objective-killed.log" || true)
  echo "$objective: $done_kills SIGKILLs over $starts starts ($resumed resumed from a checkpoint," \
       "$skipped newer checkpoints skipped); metrics lines differing from the reference:" \
       "$diff_lines; leftovers: $leftovers"
  if [[ $diff_lines != 0 || $leftovers != 0 ]]; then status=1; fi
done
exit $status
