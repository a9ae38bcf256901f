#!/usr/bin/env bash
# CPU memory allocator: ms/step of bench_train under glibc's malloc, tcmalloc
# (Debian's libtcmalloc-minimal4, which the trainer links when it is found)
# and jemalloc (libjemalloc2). Small models make thousands of small tensor
# allocations per step, and glibc hands large buffers back to the kernel on
# free, so steps keep page-faulting them in again. bench_train_glibc is
# bench_train linked without tcmalloc; the others are it with LD_PRELOAD, and
# `linked` is bench_train as built. Rounds interleave the allocators; the
# median of the rounds is printed. Usage: bench/cpu_allocator.sh [build-dir] [rounds]
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
lib=/usr/lib/x86_64-linux-gnu
allocators=(glibc tcmalloc jemalloc linked)
# The ladder on the HMM source its recorded results used (the ladder now defaults to zipf_markov).
configs=("configs/ladder/L2-D64.yaml --set data.source=synthetic --set train.batch_size=1"
         "configs/ladder/L2-D64.yaml --set data.source=synthetic --set train.batch_size=32"
         "configs/ladder/L4-D128.yaml --set data.source=synthetic --set train.batch_size=32"
         "configs/tiny_diffusion.yaml --set train.batch_size=32")
ms_per_step() {  # allocator, config words...
  local alloc=$1 bin=$build/bin/bench_train_glibc env=()
  shift
  case $alloc in
    tcmalloc) env=(LD_PRELOAD=$lib/libtcmalloc_minimal.so.4) ;;
    jemalloc) env=(LD_PRELOAD=$lib/libjemalloc.so.2) ;;
    linked) bin=$build/bin/bench_train ;;
  esac
  local report
  # shellcheck disable=SC2048,SC2086
  report=$(env "${env[@]}" "$bin" --config $* --set threads=1 --steps 60)
  # bench_train names the malloc it ran on: a preload that did not take is an error.
  local used
  used=$(sed -n 's/^allocator *//p' <<< "$report")
  case $alloc in glibc) [ "$used" = "glibc malloc" ] ;; linked) true ;; *) [ "$used" = "$alloc" ] ;; esac ||
    { echo "$alloc: bench_train ran on '$used'" >&2; exit 1; }
  sed -n 's/^steps.*(\([0-9.]*\) ms\/step).*/\1/p' <<< "$report"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "# linked into bench_train: $(ldd "$build/bin/bench_train" | awk '/(tc|je)malloc/ {print $1}' | grep . || echo none)"
printf '%-54s' "ms/step (threads=1, 60 steps, median of $rounds)"
printf '%12s' "${allocators[@]}"; echo
for cfg in "${configs[@]}"; do
  declare -A runs=()
  for ((r = 0; r < rounds; ++r)); do
    for a in "${allocators[@]}"; do runs[$a]+="$(ms_per_step "$a" $cfg) "; done
  done
  printf '%-54s' "$cfg"
  for a in "${allocators[@]}"; do printf '%12s' "$(echo "${runs[$a]}" | median)"; done
  echo
  unset runs
done
