#!/usr/bin/env bash
# Approach 3 on Chinchilla's points: scipy's 4,500-start L-BFGS-B fit
# (bench/surface_fit_scipy.py, Debian's python3-scipy) against scalebed's
# (build/bin/bench_surface_fit) and the whole `analyze` (fit, 1,000 bootstrap
# refits per approach, guide), interleaved scipy / scalebed / scipy so that
# machine drift hits both; prints the ratios.
#   bench/bench_surface_fit.sh [POINTS.csv]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
points=${1:-$root/../shared/data/chinchilla_epoch_svg_extracted.csv}
out=$(mktemp -d)
python=${PYTHON:-/usr/bin/python3}  # Debian's, with python3-scipy
scipy_s=()
cxx_fit_s=()
analyze_s=()
for round in 1 2; do
  line=$("$python" "$root/bench/surface_fit_scipy.py" "$points" --drop-highest 5)
  echo "$line"
  scipy_s+=("$(sed -E 's/.* in ([0-9.]+) s.*/\1/' <<< "$line")")
  bench=$("$root/build/bin/bench_surface_fit" "$points" --drop-highest 5 --bootstrap 1000 --threads 2)
  echo "$bench" | grep -E "^(fit|law|screened)"
  cxx_fit_s+=("$(grep '^fit' <<< "$bench" | sed -E 's/.* in ([0-9.]+) s.*/\1/')")
  start=$EPOCHREALTIME
  "$root/build/bin/analyze" "$points" --drop-highest 5 --out "$out/guide" > /dev/null 2>&1
  analyze_s+=("$(python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')")")
  echo "analyze       whole guide (fit, 3 x 1,000 bootstrap refits, plots) in ${analyze_s[-1]} s"
done
python3 - "${scipy_s[@]}" "${cxx_fit_s[@]}" "${analyze_s[@]}" <<'PY'
import sys
v = [float(x) for x in sys.argv[1:]]
scipy, fit, whole = v[0:2], v[2:4], v[4:6]
ms, mf, mw = sum(scipy) / 2, sum(fit) / 2, sum(whole) / 2
print(f"mean: scipy fit {ms:.2f} s | scalebed fit {mf:.2f} s ({ms / mf:.1f}x faster) | "
      f"scalebed whole analyze {mw:.2f} s ({ms / mw:.1f}x faster than the scipy fit alone)")
PY
rm -rf "$out"
