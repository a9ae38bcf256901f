#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer, with AddressSanitizer and UBSan) into
# build-fuzz/ and, given a target and seconds, runs it on a corpus seeded from
# the repository's own configs, sweeps and recorded tables:
#
#   tests/fuzz/build.sh                        # build all six targets
#   tests/fuzz/build.sh fuzz_sweep_file 300    # build, then fuzz for 300 s
#
# Needs clang with its runtime (Debian's clang and libclang-rt-14-dev). Not
# part of CI: a finding becomes a regression test in the gtest suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build-fuzz
mkdir -p "$out/obj"
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
       -fno-sanitize-recover=undefined
       -I"$root/src" -I"$root/analysis" -I/usr/include/eigen3 -DSPDLOG_FMT_EXTERNAL)
sources=(src/util/log.cpp src/util/fs.cpp src/util/parse.cpp src/config/flat_config.cpp src/config/config.cpp
         src/model/accounting.cpp src/data/token_files.cpp src/data/tokenizer.cpp
         src/data/synthetic_hmm.cpp src/data/zipf_markov.cpp src/data/data.cpp src/data/prepare.cpp src/train/run_dir.cpp
         src/sweep/expression.cpp src/sweep/sweep.cpp src/sweep/registry.cpp
         analysis/points.cpp analysis/runs.cpp analysis/budgets.cpp analysis/lbfgs.cpp)
objects=()
for s in "${sources[@]}"; do  # compiled when the source is newer than its object
  obj=$out/obj/$(echo "$s" | tr / _).o
  [ "$obj" -nt "$root/$s" ] || clang++ "${flags[@]}" -c "$root/$s" -o "$obj"
  objects+=("$obj")
done
libs=(-lyaml-cpp -lspdlog -lfmt -lsentencepiece -lsentencepiece_train -lpthread)
for target in fuzz_expression fuzz_run_config fuzz_sweep_file fuzz_points_csv fuzz_run_directory \
              fuzz_token_file; do
  [ "$out/$target" -nt "$root/tests/fuzz/$target.cpp" ] && [ "$out/$target" -nt "$out/obj" ] && continue
  clang++ "${flags[@]/fuzzer-no-link/fuzzer}" "$root/tests/fuzz/$target.cpp" "${objects[@]}" \
    "${libs[@]}" -o "$out/$target"
done
echo "built: $out/fuzz_*"

[ $# -ge 1 ] || exit 0
target=$1 seconds=${2:-60}
corpus=$out/corpus/$target
mkdir -p "$corpus"
case $target in  # seeds: the repository's own files of that kind
  fuzz_expression) grep -rhoE '(derive|exclude):.*|^ +[a-z_.]+: .*[()].*' "$root/sweeps" |
                     sed 's/^[^:]*: //' | while read -r line; do
                       printf '%s' "$line" > "$corpus/seed-$(echo "$line" | md5sum | cut -c1-8)"
                     done ;;
  fuzz_run_config) cp "$root"/configs/*.yaml "$root"/configs/paper/L8-D512.yaml "$corpus/" ;;
  fuzz_sweep_file) cp "$root"/sweeps/*.yaml "$corpus/" ;;
  fuzz_points_csv) cp /dev/null "$corpus/empty"; for f in "$root"/../shared/data/*.csv; do
                     [ -f "$f" ] && head -c 4000 "$f" > "$corpus/$(basename "$f")"; done ;;
  fuzz_token_file) python3 -c 'import struct, sys; h = [20240520, 1, 20] + [0] * 253
sys.stdout.buffer.write(struct.pack("<256i", *h) + struct.pack("<20H", *range(20)))' > "$corpus/shard" ;;
  fuzz_run_directory) printf '{"status":"done"}\0{"step":1,"train_metric":2.0}\n' > "$corpus/seed" ;;
esac
cd "$out"
"$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$out/$target-" "$corpus"
