#!/usr/bin/env bash
# The CUDA paths end to end on a machine with a GPU: goal collection, offline training and evaluation on
# cuda; online reward-driven training on cuda; a committed push-t checkpoint planned on cuda and on the
# CPU; the device benchmark; the test suite (its training tests take device=auto, so they train on the GPU).
#   bash benchmarks/cuda_check.sh [out_dir]      (the project's packages importable, MUJOCO_GL=egl)
# Results: benchmarks/results/cuda.md.
set -u
OUT=${1:-cuda_check}
PY=${PY:-python3}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export OMP_NUM_THREADS=1
step() { echo; echo "=== $1 ($(date +%T))"; }
step env
nvidia-smi -L
$PY -c "import torch, mujoco; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'mujoco', mujoco.__version__)"
tmp=$(mktemp -d)
step "goal: collect, offline training and evaluation on cuda"
timeout 60 $PY -m train.collect task=goal/reacher episodes=24 workers=8 out="$tmp/d" progress=false | tail -1
timeout 60 $PY -m train.offline dataset="$tmp/d" updates=300 eval_every=100 checkpoint_every=300 device=cuda \
  run_dir="$tmp/r" progress=false | tail -1
timeout 60 $PY -m eval.evaluate task=goal/reacher obs=pixels checkpoint="$tmp/r/checkpoints/latest.pt" episodes=4 \
  workers=4 device=cuda progress=false out="$tmp/e" | tail -3
step "online reward-driven training on cuda"
timeout 120 $PY -m train task=dmc/cartpole-swingup steps=3000 seed_steps=1000 eval_every=3000 checkpoint_every=3000 \
  eval_episodes=1 video=false device=cuda run_dir="$tmp/o" progress=false 2>&1 | tail -4
step "push-t checkpoint: 8 episodes, cuda then cpu (4 workers)"
F=benchmarks/results/goal/push-t-aa-glimpse-turn3-moments13-select-2threads
for dev in cuda cpu; do
  timeout 60 $PY -m eval.evaluate task=goal/push-t-block-aa obs=proprio+pixels checkpoint=$F/model/checkpoints/latest.pt \
    planner=cem horizon=20 energy_steps=all waypoints=false state_weight=0 noise_beta=2 moment_weight=10 \
    hold_energy="$(cat $F/hold_energy_p95.txt)" budget=40 episodes=8 seeds=[0] workers=4 device=$dev progress=false \
    out="$OUT/pusht_$dev" | tail -3
done
step "devices benchmark"
timeout 100 $PY -m benchmarks.devices --repeats 10
step "tests"
timeout 300 $PY -m pytest -q -n 14 -p no:cacheprovider -rf --tb=short tests ${PYTEST_ARGS:-} > "$OUT/pytest.txt" 2>&1
tail -5 "$OUT/pytest.txt"
step done
