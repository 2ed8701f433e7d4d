"""How finely push-t's pixels show the block near its goal: aliased against anti-aliased observations.

    python -m benchmarks.push_t_aliasing [--goals 40] [--per-goal 24]

On `benchmarks.push_t_hold`'s calibration scenes (the block moved and turned near the goals of pairs that are
not evaluation pairs), scores each scene's pixel observation against its goal image by a plain pixel L2
distance, and prints that distance's AUC at telling the scenes within success's tolerances from the rest, for
`goal/push-t-block` (`fast` frames: each pixel the colour at its centre) and `goal/push-t-block-aa` (`smooth`
frames: the mean over each pixel's area). No model is involved: it measures what the frames carry.
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402

from benchmarks.push_t_hold import auc, calibration_scenes  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.goal import observe_at  # noqa: E402

TASKS = ("goal/push-t-block", "goal/push-t-block-aa")


def pixel_distances(task: str, goals: int, per_goal: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel L2 distances `(n,)` of the scenes near the calibration goals, and whether each is within tolerance."""
    env = make_env(task, obs="pixels")  # one rendering env at a time (DESIGN.md's pitfalls)
    inner = env.unwrapped

    def pixels(qpos: np.ndarray) -> np.ndarray:
        return observe_at(inner, qpos)["pixels"].astype(np.float32)

    distances, within = [], []
    for goal_qpos, scenes, inside in calibration_scenes(env, goals, per_goal):
        goal = pixels(goal_qpos)
        distances += [float(((pixels(qpos) - goal) ** 2).sum()) for qpos in scenes]
        within += list(inside)
    env.close()
    return np.array(distances), np.array(within)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--goals", type=int, default=40)
    parser.add_argument("--per-goal", type=int, default=24)
    args = parser.parse_args()
    print("| task | scenes | within tolerance | pixel L2 AUC |")
    print("|---|---|---|---|")
    for task in TASKS:
        distances, within = pixel_distances(task, args.goals, args.per_goal)
        print(f"| {task} | {len(within)} | {int(within.sum())} | {auc(distances, within):.3f} |")


if __name__ == "__main__":
    main()
