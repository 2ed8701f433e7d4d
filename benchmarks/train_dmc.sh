#!/usr/bin/env bash
# Sample-efficiency benchmark against TD-MPC2 (issue: training agents online).
#   bash benchmarks/train_dmc.sh [seeds...]        default seed: 0
#   TASKS="reacher-easy finger-spin" bash benchmarks/train_dmc.sh 0   # a subset of the tasks
#   ARGS="agent.model.size=medium" bash benchmarks/train_dmc.sh 1      # extra overrides for every run
#   KEEP_CHECKPOINTS=1 bash benchmarks/train_dmc.sh 1   # keep each run's checkpoints (e.g. for spin_trace)
# Trains from state for 100k environment steps (action repeat counted) on the five headline DMControl
# tasks, one run per task and seed, then writes per-task plots and comparison tables beside the runs.
# Each run's folder keeps its curve.csv, metrics.jsonl (with time/elapsed_s) and config.yaml.
# Runs use the defaults for speed on a 2-core CPU: overlap=true (the world-model step in a background
# thread, one torch thread each) and evaluation in 2 worker processes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/dmc}
SEEDS=("${@:-0}")
read -r -a TASKS <<< "${TASKS:-cartpole-swingup reacher-easy walker-walk cheetah-run finger-spin}"
read -r -a EXTRA <<< "${ARGS:-}"
mkdir -p "$OUT"
$PY -c "from eval.machine import machine; print(machine())" > "$OUT/machine.txt"
for task in "${TASKS[@]}"; do
  for seed in "${SEEDS[@]}"; do
    run="$OUT/$task/seed$seed"
    start=$(date +%s)
    $PY -m train task="dmc/$task" seed="$seed" steps=100000 seed_steps=null updates_per_decision=1 \
      eval_every=10000 eval_episodes=10 eval_workers=2 checkpoint_every=10000 video=false run_dir="$run" progress=false \
      ${EXTRA[@]+"${EXTRA[@]}"}
    echo "$task seed $seed${ARGS:+ ($ARGS)}: $(( $(date +%s) - start )) s wall" >> "$OUT/wall_times.txt"
    rm -rf "$run/replay" "$run/tb"   # keep the results, not the bulk
    [ "${KEEP_CHECKPOINTS:-0}" = 1 ] || rm -rf "$run/checkpoints"   # git ignores them either way
  done
  $PY -m eval.curves "csv=[$(ls "$OUT/$task"/seed*/curve.csv | paste -sd, -)]" task="dmc/$task" \
    out="$OUT/$task.png" steps=[100000] > "$OUT/$task.md"
done
