"""Return of a trained reward agent by how it executes its plans: the elites' mean, a sampled elite, or
the mean with the training-time exploration noise; or with its policy prior alone, or a bigger planner.

    python -m benchmarks.execute_modes --checkpoint runs/dmc/reacher-easy/seed0/checkpoints/latest.pt \
        --task dmc/reacher-easy --episodes 10

Every mode runs the same evaluation episodes (the env seeds of `python -m train`'s evaluations) from the
same checkpoint. Why it exists: the online runs' training episodes (with exploration noise) returned far
more than their evaluations (reacher-easy 970 against 395 around 80k steps), so the way an action is taken
from a plan is measured on its own here.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from agent.checkpoint import load_agent
from benchmarks.common import machine
from envs import make_env
from eval.episode import run_episode
from eval.evaluate import episode_seed, reseed

# mode: (agent.execute, exploration noise, plan); `policy` acts with the policy prior alone.
MODES = {
    "mean": ("mean", False, True),
    "elite": ("elite", False, True),
    "mean+noise": ("mean", True, True),
    "policy": ("mean", False, False),
}


def evaluate_mode(
    checkpoint: str,
    env,
    mode: str,
    episodes: int,
    run_seed: int,
    planner: dict | None = None,
    prior_weight: float | None = None,
) -> tuple[list[float], float]:
    """Returns of `episodes` evaluation episodes with `mode` (a key of MODES), and seconds per episode.
    `planner` replaces MPPI settings of the saved agent (e.g. `samples`, `iterations`); `prior_weight` its
    `agent.prior_weight` (the planning term that keeps plans near the policy prior)."""
    execute, explore, plan = MODES[mode]
    agent = load_agent(checkpoint, env)
    changes = dict(execute=execute, plan=plan, planner=dataclasses.replace(agent.cfg.planner, **(planner or {})))
    if prior_weight is not None:
        changes["prior_weight"] = prior_weight
    agent.cfg = dataclasses.replace(agent.cfg, **changes)
    agent._build_planner()  # the planner and its energy read the settings just replaced
    returns = []
    start = time.perf_counter()
    for i in range(episodes):
        seed = episode_seed(run_seed, i)
        reseed(agent, seed)  # as the evaluation workers do: the episode's randomness from its seed alone
        returns.append(run_episode(env, agent, seed=seed, explore=explore).total_return)
    return returns, (time.perf_counter() - start) / episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--task", required=True, help="e.g. dmc/reacher-easy (the checkpoint's task)")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (evaluation episode seeds)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--planner", nargs="*", default=[], metavar="KEY=INT", help="MPPI overrides, e.g. samples=512 iterations=6"
    )
    parser.add_argument(
        "--prior-weight", type=float, nargs="*", default=[None], help="agent.prior_weight values to compare"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = make_env(args.task, obs="state")
    planner = {k: int(v) for k, v in (item.split("=", 1) for item in args.planner)}
    print(f"# {args.task}, {args.checkpoint}, {args.episodes} episodes, planner overrides {planner or 'none'}")
    print(f"# machine: {machine()}")
    print("| execute | prior_weight | mean return | std | episodes | s per episode |\n|---|---|---|---|---|---|")
    for mode in args.modes:
        for weight in args.prior_weight if MODES[mode][2] else [None]:  # the term only changes planning
            returns, seconds = evaluate_mode(args.checkpoint, env, mode, args.episodes, args.seed, planner, weight)
            row = " ".join(f"{r:.0f}" for r in returns)
            shown = "saved" if weight is None else weight
            print(
                f"| {mode} | {shown} | {np.mean(returns):.1f} | {np.std(returns):.1f} | {row} | {seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
