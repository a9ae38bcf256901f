#!/usr/bin/env bash
# Peak memory of the two data-preparation paths against the size of their
# input: `trainer prepare` (text, byte tokenizer) and scripts/prepare_data.py
# (JSONL, a byte-level BPE tokenizer.json trained here). Both stream, so their
# peak resident memory should stay flat when the input grows tenfold; the
# figures are printed side by side with the ratio (large / small input), next
# to each process's baseline (its libraries, before any input).
#
#   bench/prepare_memory.sh [SMALL_MB=40] [LARGE_MB=400] [OUT=/tmp/prepare_memory]
set -euo pipefail
small=${1:-40}
large=${2:-400}
out=${3:-/tmp/prepare_memory}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SCALEBED_VENV:-$HOME/.local/share/scalebed/venv-torch-2.11.0}
python=$venv/bin/python
rm -rf "$out"
mkdir -p "$out"

# Inputs: repeated varied sentences, as text and as JSONL documents of ~2 KB.
"$python" - "$out" "$small" "$large" <<'PY'
import json, random, sys
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
out, sizes = Path(sys.argv[1]), [int(x) for x in sys.argv[2:]]
rng = random.Random(0)
words = ("the cat sat on a mat while dogs ran past the old red barn and birds sang softly in "
         "tall green trees near quiet water under grey skies").split()
doc = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(200, 500))) + ".\n"
docs = [doc() for _ in range(2000)]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(docs[:200], trainer=trainers.BpeTrainer(
    vocab_size=1000, special_tokens=["<|endoftext|>", "<|mask|>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tok.save(str(out / "tokenizer.json"))
for mb in sizes:
    with open(out / f"{mb}.txt", "w") as t, open(out / f"{mb}.jsonl", "w") as j:
        written, k = 0, 0
        while written < mb << 20:
            d = docs[k % len(docs)]
            t.write(d)
            j.write(json.dumps({"text": d}) + "\n")
            written += len(d)
            k += 1
PY

peak_kb() {  # peak resident set of a command, in KiB (GNU time's %M)
  /usr/bin/time -f "%M %e" -o "$out/time.txt" "$@" > /dev/null 2>&1
  cat "$out/time.txt"
}
printf '%-34s %12s %12s %8s\n' "tool" "${small} MB" "${large} MB" "ratio"
row() {
  local name=$1 a=$2 b=$3
  read -r ka sa <<<"$a"
  read -r kb sb <<<"$b"
  printf '%-34s %9.0f MiB %9.0f MiB %8.2f   (%s s, %s s)\n' "$name" "$(echo "$ka / 1024" | bc -l)" \
    "$(echo "$kb / 1024" | bc -l)" "$(echo "$kb / $ka" | bc -l)" "$sa" "$sb"
}
# What the processes hold before reading any input: LibTorch's libraries for
# the trainer, the interpreter with numpy, pyarrow and tokenizers for the script.
row "baseline: trainer --help" "$(peak_kb "$root/build/bin/trainer" --help)" \
  "$(peak_kb "$root/build/bin/trainer" --help)"
row "baseline: python imports" \
  "$(peak_kb "$python" -c 'import numpy, pyarrow.parquet, tokenizers')" \
  "$(peak_kb "$python" -c 'import numpy, pyarrow.parquet, tokenizers')"
for tool in trainer python; do
  results=()
  for mb in "$small" "$large"; do
    if [ "$tool" = trainer ]; then
      results+=("$(peak_kb "$root/build/bin/trainer" prepare --input "$out/$mb.txt" \
        --out "$out/trainer-$mb" --shard-tokens 10000000)")
    else
      results+=("$(peak_kb "$python" "$root/scripts/prepare_data.py" --input "$out/$mb.jsonl" \
        --out "$out/python-$mb" --tokenizer "$out/tokenizer.json" --shard-tokens 10000000 \
        --val-tokens 100000)")
    fi
  done
  if [ "$tool" = trainer ]; then
    row "trainer prepare (text, byte)" "${results[0]}" "${results[1]}"
  else
    row "prepare_data.py (JSONL, BPE)" "${results[0]}" "${results[1]}"
  fi
done
