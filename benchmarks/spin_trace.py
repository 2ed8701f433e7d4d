"""How a finger-spin agent spins: the spinner's hinge velocity through its evaluation episodes.

    python -m benchmarks.spin_trace --checkpoint runs/dmc/finger-spin/seed1/checkpoints/latest.pt --seed 1
    python -m benchmarks.spin_trace            # only the free decay of a spun spinner, no agent

Why it exists: our online runs plateau near 650 on finger-spin where TD-MPC2 reaches 948 at 100k steps. The
task pays 1 for every control step with hinge velocity <= -15 rad/s, so the trace shows whether an agent
loses reward by spinning too slowly, by spinning the wrong way, or by starting late. The free decay (the
spinner set to -30 rad/s, the finger held still) says how often the finger must strike to keep it spinning.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from agent.checkpoint import load_agent
from benchmarks.common import machine
from envs import make_env
from eval.episode import run_episode
from eval.evaluate import episode_seed, reseed

SPIN = -15.0  # dm_control's finger-spin threshold (rad/s); the reward is 1 at or below it


def free_decay(start: float = -30.0, steps: int = 60) -> np.ndarray:
    """Hinge velocity `(steps,)` per control step after setting the spinner to `start` rad/s and
    holding the finger's actuators at zero."""
    env = make_env("dmc/finger-spin", obs="state", action_repeat=1)
    env.reset(seed=0)
    physics = env.unwrapped.physics
    with physics.reset_context():
        physics.named.data.qvel["hinge"] = start
    velocities = []
    for _ in range(steps):
        env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        velocities.append(float(physics.hinge_velocity()))
    env.close()
    return np.array(velocities)


def trace_episode(env, agent, seed: int) -> tuple[float, np.ndarray]:
    """One evaluation episode (no exploration noise, the agent reseeded as the evaluation workers do):
    its return and the hinge velocity `(decisions,)` after each decision."""
    reseed(agent, seed)
    velocities: list[float] = []
    episode = run_episode(
        env, agent, seed=seed, on_step=lambda _: velocities.append(float(env.unwrapped.physics.hinge_velocity()))
    )
    return episode.total_return, np.array(velocities)


def describe(velocities: np.ndarray) -> str:
    """A table row's figures for one trace: first decision at the threshold, quantiles, wrong-way share."""
    spinning = np.flatnonzero(velocities <= SPIN)
    first = int(spinning[0]) if spinning.size else -1
    q = np.percentile(velocities, [5, 25, 50, 75, 95])
    quantiles = " / ".join(f"{v:.1f}" for v in q)
    return f"{first} | {quantiles} | {np.mean(velocities <= SPIN):.2f} | {np.mean(velocities > 0):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a finger-spin reward agent's checkpoint; none: the free decay only")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (evaluation episode seeds)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# machine: {machine()}")
    decay = free_decay()
    print(
        f"free decay from -30 rad/s, finger still: {int(np.sum(decay <= SPIN))} control steps at or below "
        f"{SPIN:.0f}; velocity after 5, 10, 20, 40 steps: {', '.join(f'{decay[i]:.1f}' for i in (4, 9, 19, 39))}"
    )
    if not args.checkpoint:
        return
    env = make_env("dmc/finger-spin", obs="state")
    agent = load_agent(args.checkpoint, env)
    print(f"\n# {args.checkpoint}: hinge velocity (rad/s) after each decision of the evaluation episodes")
    print("| episode | return | first decision <= -15 | velocity 5/25/50/75/95% | share <= -15 | share > 0 |")
    print("|---|---|---|---|---|---|")
    for i in range(args.episodes):
        total, velocities = trace_episode(env, agent, episode_seed(args.seed, i))
        print(f"| {i} | {total:.0f} | {describe(velocities)} |", flush=True)


if __name__ == "__main__":
    main()
