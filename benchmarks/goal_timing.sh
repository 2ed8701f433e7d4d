#!/usr/bin/env bash
# Planning time per action of the goal agents on a quiet machine (issue: reward-free goal reaching).
#   bash benchmarks/goal_timing.sh
#   ONLY=pixels-history bash benchmarks/goal_timing.sh    # only the configurations whose name matches
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
run() {  # name task obs checkpoint planner horizon [extra...]
  local name=$1 task=$2 obs=$3 ck=$4 planner=$5 horizon=$6; shift 6
  [[ -z "${ONLY:-}" || "$name" == *"$ONLY"* ]] || return 0
  $PY -m eval.evaluate task="goal/$task" obs="$obs" checkpoint="$ck" planner="$planner" horizon="$horizon" "$@" \
    episodes=10 seeds=[0] workers=2 video=0 progress=false out="$OUT/$name" | grep "goal/"
}
for ph in "cem 10" "cem 5" "mppi 10" "gradient 5" "hybrid 5"; do
  set -- $ph
  run "reacher_$1_h$2" reacher pixels $R/reacher-pixels/model/checkpoints/latest.pt "$1" "$2"
done
sp="$R/two-rooms-state+pixels/model/checkpoints/latest.pt"
run two-rooms_cem_h10 two-rooms state+pixels "$sp" cem 10 energy_steps=final
run two-rooms_mppi_h10 two-rooms state+pixels "$sp" mppi 10 energy_steps=final
hist="$R/two-rooms-pixels-history/model/checkpoints/latest.pt"
run two-rooms-pixels-history_cem_h8 two-rooms pixels "$hist" cem 8 energy_steps=all
run two-rooms-pixels-history_cem_h5 two-rooms pixels "$hist" cem 5 energy_steps=all
run two-rooms-pixels-history_mppi_h8 two-rooms pixels "$hist" mppi 8 energy_steps=all
run two-rooms-pixels-history_gradient_h5 two-rooms pixels "$hist" gradient 5 energy_steps=all
run push-t_cem_h10 push-t pixels $R/push-t-pixels/model/checkpoints/latest.pt cem 10
