"""How far receding-horizon planning gets on goal/push-t with the true simulator as its model.

    python -m benchmarks.push_t_oracle --horizon 8 --pairs 3
    python -m benchmarks.push_t_oracle --horizon 20 --pairs 3 [--first 3] [--pusher-weight 1] [--goals offset]

CEM over action sequences whose candidates are rolled out in MuJoCo itself (`mujoco.rollout`, from the
exact current state), scored on the block's true pose: the sum over the plan's decisions of position error
/ 0.03 + angle error / 15 degrees (the success tolerances). No learned model, no image energy: what
this planner does with a perfect model and the ideal energy, which tells a planning horizon that cannot
work from a world model that is not good enough. Pairs are the evaluation's seeded start/goal pairs
(`eval.evaluate.episode_seed(0, i)`) of the task's `pushed` goals (`--goals offset`: the sixth
session's goals); an episode ends at its first success or after 100 decisions.
"""

from __future__ import annotations

import argparse
import time

import mujoco
import numpy as np
from mujoco import rollout

from benchmarks.common import machine
from envs import make_env
from envs.tasks.push_t import ANGLE_TOLERANCE, CONTROL_TIMESTEP, POSITION_TOLERANCE, wrap_angle
from eval.evaluate import episode_seed

SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS  # time, qpos (5), qvel (5)


def block_energy(qpos: np.ndarray, goal: np.ndarray, pusher_weight: float = 0.0) -> np.ndarray:
    """Energies `(N,)` of rollouts `qpos (N, H, 5)`: block pose errors in tolerances, summed over steps,
    plus `pusher_weight` times the pusher's distance to its place in the goal (in position tolerances;
    the goal image shows the pusher too, so an image energy has such a term)."""
    position = np.linalg.norm(qpos[..., :2] - goal[:2], axis=-1)
    angle = np.abs(wrap_angle(qpos[..., 2] - goal[2]))
    pusher = np.linalg.norm(qpos[..., 3:5] - goal[3:5], axis=-1)
    return (position / POSITION_TOLERANCE + angle / ANGLE_TOLERANCE + pusher_weight * pusher / POSITION_TOLERANCE).sum(
        1
    )


def plan(model, data, state: np.ndarray, goal: np.ndarray, mean: np.ndarray, args, rng, substeps: int):
    """CEM from the simulator state `state`; returns the refined mean `(H, 2)`."""
    std = np.ones_like(mean)
    for _ in range(args.iterations):
        actions = np.clip(mean + std * rng.standard_normal((args.samples, *mean.shape)), -1, 1)  # (N, H, 2)
        states, _ = rollout.rollout(model, data, state[None], np.repeat(actions, substeps, axis=1))
        qpos = states[:, substeps - 1 :: substeps, 1:6]  # after each decision
        elites = actions[np.argsort(block_energy(qpos, goal, args.pusher_weight))[: args.elites]]
        mean, std = elites.mean(0), elites.std(0) + 0.05
    return mean


def run_pair(env, pair: int, args) -> dict:
    env.reset(seed=episode_seed(0, pair))
    physics = env.unwrapped.physics
    model, data = physics.model.ptr, physics.data.ptr
    substeps = round(env.action_repeat * CONTROL_TIMESTEP / model.opt.timestep)  # per decision
    goal = env.unwrapped.task.goal_qpos.copy()
    rng = np.random.default_rng(pair)
    scratch = mujoco.MjData(model)
    mean = np.zeros((args.horizon, 2))
    state = np.empty(mujoco.mj_stateSize(model, SPEC))
    start, info, decisions, done = time.perf_counter(), {}, 0, False
    while not done:  # until the first success or the env's time limit
        mujoco.mj_getState(model, data, state, SPEC)
        mean = plan(model, scratch, state, goal, mean, args, rng, substeps)
        _, _, terminated, truncated, info = env.step(mean[0].astype(np.float32))
        mean = np.concatenate([mean[1:], np.zeros((1, 2))])  # warm start
        decisions += 1
        done = info["success"] or terminated or truncated
    return {
        "success": bool(info["success"]),
        "decisions": decisions,
        **info["goal_errors"],  # position_error, angle_error
        "s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--horizon", type=int, default=8, help="decisions planned ahead")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--first", type=int, default=0, help="the first pair (split the pairs over processes)")
    parser.add_argument("--samples", type=int, default=192)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--elites", type=int, default=24)
    parser.add_argument("--pusher-weight", type=float, default=0.0, help="weight of the pusher's goal distance")
    parser.add_argument("--goals", default="pushed", help="the task's goals: pushed or offset")
    args = parser.parse_args()
    env = make_env("goal/push-t", obs="state", goals=args.goals)
    print(
        f"# push-t oracle CEM: {args.goals} goals, horizon {args.horizon}, {args.samples} x {args.iterations}, "
        f"{args.elites} elites, pusher weight {args.pusher_weight}"
    )
    print(f"# machine: {machine()}")
    print("| pair | success | decisions | position error | angle error (rad) | s |\n|---|---|---|---|---|---|")
    successes = []
    for pair in range(args.first, args.first + args.pairs):
        r = run_pair(env, pair, args)
        successes.append(r["success"])
        print(
            f"| {pair} | {r['success']} | {r['decisions']} | {r['position_error']:.3f} | {r['angle_error']:.2f} "
            f"| {r['s']:.0f} |",
            flush=True,
        )
    print(f"success rate {np.mean(successes):.2f} on {args.pairs} pairs")


if __name__ == "__main__":
    main()
