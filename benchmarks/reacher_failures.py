"""Where a trained reacher agent fails: per evaluation episode, its return, when the finger first reached
the target, and where it ended up, with what the model predicted for the reward there.

    python -m benchmarks.reacher_failures --checkpoint <run>/checkpoints/latest.pt --seed 2 --episodes 40

The episodes are `python -m train`'s evaluation episodes for the run's seed (the first 10 are the ones its
last curve point averages), run as evaluation runs them. reacher-easy's return is close to all or nothing:
an episode either reaches the target within ~40 decisions and stays (900-1000) or never reaches it (~0),
so the count of failed episodes over many episodes says more than a 10-episode mean. For a failed episode
the last 50 decisions show which part of the model is wrong: a predicted reward of ~2 away from the
target (the reward head), or ~0 while the arm sits still (the value function's false maximum).
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

TARGET_REACH = 0.06  # reacher-easy: the target's radius plus the finger's (dm_control's reward radius)
FAILED = 100.0  # an episode below this return never settled on the target


def trace_episode(agent, env, seed: int, tail: int = 50) -> dict:
    """One evaluation episode: return, first decision within reach, and the last `tail` decisions'
    mean finger-to-target distance, predicted reward and joint speed."""
    reseed(agent, seed)
    states, actions = [], []

    def on_step(t) -> None:
        states.append(np.asarray(t.obs["state"], dtype=np.float32))  # position (2), to_target (2), velocity (2)
        actions.append(np.asarray(t.action, dtype=np.float32))

    result = run_episode(env, agent, seed=seed, on_step=on_step)
    states, end_actions = np.stack(states), np.stack(actions[-tail:])  # (T, 6), (tail, 2)
    dist = np.linalg.norm(states[:, 2:4], axis=1)
    reached = np.flatnonzero(dist < TARGET_REACH)
    model = agent.model
    with torch.no_grad():
        z = model.encode({"state": torch.as_tensor(states[-tail:])})
        predicted = model.two_hot.decode(model.reward(z, torch.as_tensor(end_actions)))
    return {
        "return": result.total_return,
        "first_reach": int(reached[0]) if len(reached) else None,
        "end_dist": float(dist[-tail:].mean()),
        "end_pred_reward": float(predicted.mean()),
        "end_speed": float(np.abs(states[-tail:, 4:]).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--task", default="dmc/reacher-easy", help="a dmc/reacher-* task (the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (evaluation episode seeds)")
    parser.add_argument("--episodes", type=int, default=40)
    args = parser.parse_args()
    if not args.task.startswith("dmc/reacher-"):
        parser.error(f"--task {args.task}: this reads reacher's observation layout; give dmc/reacher-easy or -hard")
    torch.set_num_threads(1)
    env = make_env(args.task, obs="state")
    agent = load_agent(args.checkpoint, env)
    print(f"# {args.task}, {args.checkpoint}, run seed {args.seed}, {args.episodes} evaluation episodes")
    print(f"# machine: {machine()}")
    print("| episode | return | first within reach | last 50: distance | predicted reward | joint speed |")
    print("|---|---|---|---|---|---|")
    rows = []
    for i in range(args.episodes):
        row = trace_episode(agent, env, episode_seed(args.seed, i))
        rows.append(row)
        first = "never" if row["first_reach"] is None else row["first_reach"]
        print(
            f"| {i} | {row['return']:.0f} | {first} | {row['end_dist']:.3f} | {row['end_pred_reward']:.2f} "
            f"| {row['end_speed']:.2f} |",
            flush=True,
        )
    returns = np.array([r["return"] for r in rows])
    failed = returns < FAILED
    print(
        f"\nmean return {returns.mean():.1f} (first 10: {returns[:10].mean():.1f}); failed (< {FAILED:.0f}): "
        f"{failed.sum()} of {len(rows)}; of those, predicted reward > 1 at the end: "
        f"{sum(r['end_pred_reward'] > 1 for r, f in zip(rows, failed, strict=True) if f)}"
    )


if __name__ == "__main__":
    main()
