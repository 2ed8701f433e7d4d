#!/usr/bin/env bash
# Goal reaching from 64x64 pixels, reward-free (issue: reward-free goal reaching).
#   bash benchmarks/goal_tasks.sh [task ...]        default: reacher two-rooms push-t (also: push-t-block)
# For each task: collect 1,000 random-policy episodes (push-t: the scripted `push` policy), train the world
# model offline for at most 30 minutes, then evaluate 50 seeded start/goal pairs with each planner.
# EPISODES, MINUTES and PLANNERS override the protocol for shorter runs; INPUTS=state+pixels adds
# proprioception to the 64x64 pixels (model input and goal), HORIZON and ENERGY override the planning
# horizon and the goal energy's steps (final/all) at evaluation, STATE_WEIGHT the weight of a split
# latent's state part in the goal energy, SAMPLES and ITERATIONS the sampling planner's budget, THREADS the
# training's torch threads,
# POLICY the collection policy (default: random; push-t: push, train/policies.py), WAYPOINTS=false plans straight at the
# goal instead of through the checkpoint's landmark graph (agent/waypoints.py). TRAIN_ARGS adds overrides to the
# offline training (e.g. "agent.horizon=5 +agent.model.overrides.history=2"), MEMORY_ARGS rebuilds the
# checkpoint's memory graph with other settings before evaluating (e.g. "landmark_steps=10"), DATA_INPUTS
# collects other observations than the model reads (a state+pixels dataset serves a pixels model too), and
# RUN names the results folder (default: <task>-<INPUTS>).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-benchmarks/results/goal}
EPISODES=${EPISODES:-1000}
MINUTES=${MINUTES:-30}
PLANNERS=${PLANNERS:-cem mppi gradient hybrid}
INPUTS=${INPUTS:-pixels}
PLAN_ARGS=()
[ -n "${HORIZON:-}" ] && PLAN_ARGS+=("horizon=$HORIZON")
[ -n "${ENERGY:-}" ] && PLAN_ARGS+=("energy_steps=$ENERGY")
[ -n "${WAYPOINTS:-}" ] && PLAN_ARGS+=("waypoints=$WAYPOINTS")
[ -n "${STATE_WEIGHT:-}" ] && PLAN_ARGS+=("state_weight=$STATE_WEIGHT")
[ -n "${SAMPLES:-}" ] && PLAN_ARGS+=("samples=$SAMPLES")
[ -n "${ITERATIONS:-}" ] && PLAN_ARGS+=("iterations=$ITERATIONS")
THREAD_ARGS=()
[ -n "${THREADS:-}" ] && THREAD_ARGS+=("threads=$THREADS")
TASKS=("${@:-reacher two-rooms push-t}")
mkdir -p "$OUT"
$PY -c "from eval.machine import machine; print(machine())" > "$OUT/machine.txt"
for task in ${TASKS[@]}; do
  policy=${POLICY:-random}
  case $task in push-t*) policy=${POLICY:-push} ;; esac  # push-t and push-t-block
  data_inputs=${DATA_INPUTS:-$INPUTS}
  data="data/goal/$task-$data_inputs-$policy"
  $PY -m train.collect task="goal/$task" episodes="$EPISODES" obs=$data_inputs policy=$policy workers=2 out="$data" \
    progress=false
  folder="$OUT/${RUN:-$task-$INPUTS}"
  run="$folder/model"
  # shellcheck disable=SC2086  # TRAIN_ARGS and MEMORY_ARGS are lists of overrides
  $PY -m train.offline dataset="$data" agent.inputs=$INPUTS updates=1000000 time_limit_s=$((MINUTES * 60)) checkpoint_every=2000 \
    run_dir="$run" progress=false "${THREAD_ARGS[@]}" ${TRAIN_ARGS:-}
  if [ -n "${MEMORY_ARGS:-}" ]; then
    # shellcheck disable=SC2086
    $PY -m train.memory checkpoint="$run/checkpoints/latest.pt" dataset="$data" ${MEMORY_ARGS}
  fi
  for planner in $PLANNERS; do
    # The environment serves what was collected (e.g. proprio+pixels for a state+pixels model).
    $PY -m eval.evaluate task="goal/$task" obs=$data_inputs checkpoint="$run/checkpoints/latest.pt" planner=$planner \
      "${PLAN_ARGS[@]}" episodes=50 seeds=[0] workers=2 video=2 out="$folder/eval_$planner" progress=false
  done
done
