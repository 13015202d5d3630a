#!/usr/bin/env bash
# The checks and measurements a machine with a CUDA GPU is for, in order of priority, inside one
# deadline: a smoke profile, the torch-cuda profile of conv2d (fp32) and 200 held-out networks,
# the test suite (CUDA is the default device of training there), a differentiable search on
# CUDA, then an fp16 profile with what time is left. Each step is stopped by Ctrl-C at its
# limit, so a cut profile keeps its rows (the same command resumes it). Run from the repository
# root; what ran on an NVIDIA H200 on 2026-12-04 is in docs/benchmarks.md ("On a CUDA GPU").
#
#   benchmarks/cuda_checks.sh OUT_DIR [BUDGET_SECONDS]
#
# PYTHON (default python3) must have hwnas importable and a CUDA build of torch.
set -u
OUT=${1:?usage: benchmarks/cuda_checks.sh OUT_DIR [BUDGET_SECONDS]}
BUDGET=${2:-560}
PY=${PYTHON:-python3}
T0=$(date +%s)
mkdir -p "$OUT/logs"
left() { echo $((T0 + BUDGET - $(date +%s))); }
step() { # step NAME CAP COMMAND...: run it for at most CAP seconds and what the deadline leaves
  local name=$1 cap=$2 l lim t0 rc
  shift 2
  l=$(left)
  lim=$((cap < l ? cap : l))
  if [ "$lim" -lt 15 ]; then echo "=== $name skipped: ${l}s left"; return 1; fi
  echo "=== $name (limit ${lim}s) $(date +%T)"
  t0=$(date +%s)
  timeout --signal=INT --kill-after=20 "$lim" "$@" > "$OUT/logs/$name.txt" 2>&1
  rc=$?
  tr '\r' '\n' < "$OUT/logs/$name.txt" | grep -v -E '^\s*$' | tail -12
  echo "=== $name rc=$rc $(($(date +%s) - t0)) s"
  return $rc
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
PROFILE=("$PY" benchmarks/latency_profile.py --space conv2d --backend torch-cuda)
if step smoke 45 "$PY" -m hwnas latency profile --space conv2d --backend torch-cuda \
    --precision fp32 --precision fp16 --samples 0 --limit 6 --out "$OUT/smoke.csv"; then
  step profile 200 "${PROFILE[@]}" --precision fp32 --samples 100 --out "$OUT/conv2d_cuda_fp32.csv"
  step holdout 120 "${PROFILE[@]}" --precision fp32 --samples 200 --seed 1 --archs-only \
    --out "$OUT/conv2d_cuda_fp32_holdout.csv"
fi
step tests 100 "$PY" -m pytest -q -p no:cacheprovider -n 14 -rfE --basetemp="$OUT/pytest" tests
sed -e 's/latency_targets_ms: \[0.16, 0.2, 0.3\].*/latency_targets_ms: [0.2]/' \
  -e 's/^evaluations: 3/evaluations: 1/' -e "s#^run_dir: .*#run_dir: $OUT/differentiable#" \
  examples/differentiable.yaml > "$OUT/differentiable.yaml"
step differentiable 110 "$PY" -m hwnas search "$OUT/differentiable.yaml" --quiet &&
  step differentiable_result 20 "$PY" -m hwnas pareto "$OUT/differentiable" --json
step profile_fp16 400 "${PROFILE[@]}" --precision fp16 --samples 100 --out "$OUT/conv2d_cuda_fp16.csv"
echo "=== done in $(($(date +%s) - T0)) s"
