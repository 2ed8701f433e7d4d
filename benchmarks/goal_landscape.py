"""Diagnostic: the goal energy a trained goal model sees along one joint of `goal/reacher`.

    python -m benchmarks.goal_landscape --checkpoint runs/goal/reacher/checkpoints/latest.pt [--seed 3]

Resets one episode, then places the arm at the goal pose with the shoulder turned by offsets from -pi to
pi (the wrist at its goal angle), encodes each placement as an observation and prints the L2 energy to
the goal's latent. A planner can only descend what this shows: a basin a few tenths of a radian wide in
a flat plateau means a model whose latent distances saturate away from the goal.
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agent.checkpoint import load_agent, load_checkpoint  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.goal import observe_at  # noqa: E402


def energies(checkpoint: str, seed: int, points: int) -> list[tuple[float, float]]:
    inputs = "+".join(k for k in ("state", "pixels") if k in load_checkpoint(checkpoint)["obs_shapes"])
    env = make_env("goal/reacher", obs=inputs)
    agent = load_agent(checkpoint, env)
    obs, _ = env.reset(seed=seed)
    inner = env.unwrapped
    goal_qpos = inner.task.goal_qpos
    out = []
    with torch.no_grad():
        goal = agent.encode_goal(obs["goal"])
        for offset in np.linspace(-np.pi, np.pi, points):
            qpos = np.array([goal_qpos[0] + offset, goal_qpos[1]])
            placed = observe_at(inner, qpos)
            z = agent.model.encode({k: torch.as_tensor(v).unsqueeze(0) for k, v in placed.items()})[0]
            out.append((float(offset), float(((z - goal) ** 2).sum())))
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--points", type=int, default=25)
    args = parser.parse_args()
    print("| shoulder offset from the goal (rad) | L2 energy to the goal latent |")
    print("|---|---|")
    for offset, energy in energies(args.checkpoint, args.seed, args.points):
        print(f"| {offset:+.2f} | {energy:.2f} |")


if __name__ == "__main__":
    main()
