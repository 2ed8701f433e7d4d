#!/usr/bin/env bash
# Planning time per action of the goal agents on a quiet machine (issue: reward-free goal reaching).
#   bash benchmarks/goal_timing.sh
# The 50-pair evaluations ran beside training jobs, which inflates their ms/action; this re-runs the
# first 10 pairs of each configuration with nothing else running (2 workers, one core each) and keeps
# each run's summary under $OUT/<task>_<planner>_h<horizon>. ms/action is an episode's wall time per
# action: encoding, planning (waypoint choice included), physics and 64x64 rendering.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/goal/timing}
R=benchmarks/results/goal
mkdir -p "$OUT"
$PY -c "from eval.machine import machine; print(machine())" > "$OUT/machine.txt"
run() {  # task obs checkpoint planner horizon [extra...]
  local task=$1 obs=$2 ck=$3 planner=$4 horizon=$5; shift 5
  $PY -m eval.evaluate task="goal/$task" obs="$obs" checkpoint="$ck" planner="$planner" horizon="$horizon" "$@" \
    episodes=10 seeds=[0] workers=2 video=0 progress=false out="$OUT/${task}_${planner}_h${horizon}" | grep "goal/"
}
for ph in "cem 10" "cem 5" "mppi 10" "gradient 5" "hybrid 5"; do
  set -- $ph
  run reacher pixels $R/reacher-pixels/model/checkpoints/latest.pt "$1" "$2"
done
run two-rooms state+pixels "$R/two-rooms-state+pixels/model/checkpoints/latest.pt" cem 10 energy_steps=final
run two-rooms state+pixels "$R/two-rooms-state+pixels/model/checkpoints/latest.pt" mppi 10 energy_steps=final
run push-t pixels $R/push-t-pixels/model/checkpoints/latest.pt cem 10
