"""How finely the foreground's moments, and a model's goal energy, tell push-t scenes near a goal.

    python -m benchmarks.push_t_moments --checkpoint <run>/checkpoints/latest.pt [--task goal/push-t-block-aa] \
        [--scenes data/goal/push-t-block-aa-scenes.npz] [--state-weight 0] [--glimpse-weight 1] [--moment-weight W] \
        [--first-order-weight S] [--out F.md]

On the hold calibration's scenes (`benchmarks.push_t_hold`: 960 scenes near 40 goals no evaluation uses, the
block moved up to 0.08 units and turned up to 0.6 rad), with each scene's true offset from its goal pose
recomputed from the same seeds, it prints:
- how well the glimpse's moments (`world_model.encoders.Glimpse.moments`, on the checkpoint's fitted background)
  measure the offset: the centroid's least-squares fit to the block's move (rms residual, units) and each
  order n's turn (its phase difference over n) against the true turn (rms and largest residual, degrees);
- AUCs at telling scenes within success's tolerance (0.03 units and 15 degrees), for the true pose errors,
  the moments, the model's goal energy (`agent.factory.observation_energy`, the agent's saved weights with
  `--state-weight`, `--glimpse-weight` and `--moment-weight`), and its learned and moment parts; also on
  position alone (scenes turned under 7 degrees) and on the turn alone (scenes within 0.02 units).
"""

from __future__ import annotations

import argparse
import pathlib

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.push_t_hold import calibration_scenes, holding_agent  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.push_t import ANGLE_TOLERANCE, POSITION_TOLERANCE  # noqa: E402
from train.selection import GoalScenes, auc, scene_energies  # noqa: E402

UNITS_PER_COORD = 0.58  # the camera sees 1.16 units across the frame's [-1, 1]


def offsets(task: str, goals: int, per_goal: int) -> tuple[np.ndarray, np.ndarray]:
    """`(N, 2)` block moves and `(N,)` turns (rad) of the calibration scenes from their goals, in their order."""
    env = make_env(task, obs="proprio")
    moves, turns = [], []
    for goal_qpos, scenes, _ in calibration_scenes(env, goals, per_goal):
        moves.append(scenes[:, :2] - goal_qpos[:2])
        turns.append(scenes[:, 2] - goal_qpos[2])
    env.close()
    return np.concatenate(moves), np.concatenate(turns)


def measure(args) -> str:
    scenes = GoalScenes.load(args.scenes)
    move, turn = offsets(args.task, args.goals, args.per_goal)
    if len(move) != len(scenes.within):
        raise ValueError(f"{args.scenes} holds {len(scenes.within)} scenes, {args.goals} x {args.per_goal} expected")
    agent = holding_agent(args)
    model, glimpse = agent.model, getattr(agent.model.encoder, "glimpse", None)
    if glimpse is None:
        raise ValueError(f"{args.checkpoint} has no glimpse: the moments need its fitted background")
    with torch.no_grad():
        here = glimpse.moments(torch.as_tensor(scenes.scenes["pixels"])).numpy()
        goal = glimpse.moments(torch.as_tensor(scenes.goals["pixels"])).numpy()[scenes.goal_index]
    shift = here[:, :2] - goal[:, :2]
    fit = np.c_[shift, np.ones(len(shift))]
    residual = [move[:, i] - fit @ np.linalg.lstsq(fit, move[:, i], rcond=None)[0] for i in range(2)]
    turn_errors = {}  # per orientation order n, the turn's residual (rad) modulo its period 2 pi / n
    for i, order in enumerate(glimpse.orders):
        pair = slice(2 + 2 * i, 4 + 2 * i)
        phase = np.angle((here[:, pair] @ [1, 1j]) / (goal[:, pair] @ [1, 1j])) / order
        # Image rows grow downwards, so the image's turn is the block's with its sign flipped.
        turn_errors[order] = (-phase - turn + np.pi / order) % (2 * np.pi / order) - np.pi / order
    within = scenes.within
    distance, moved = ((here - goal) ** 2), np.linalg.norm(move, axis=1)
    # One encoding pass: each scene's weighted squared latent differences `(N, D)`, the terms of the goal energy.
    energy = agent.hold.energy
    if energy.metric != "l2":
        raise ValueError(f"{args.checkpoint} plans on a {energy.metric} energy; this benchmark splits an l2 one")
    weights = torch.ones(model.cfg.latent_dim) if energy.weights is None else energy.weights
    terms = scene_energies(
        model.encode, lambda z, g: (z - g).pow(2) * weights, scenes, model.encoder.keys, torch.device("cpu")
    )
    rows = [
        (
            "true pose errors (in tolerances, squared)",
            (moved / POSITION_TOLERANCE) ** 2 + (turn / ANGLE_TOLERANCE) ** 2,
        ),
        ("moments: centroid + turn (squared distance)", distance.sum(1)),
        ("moments: centroid alone", distance[:, :2].sum(1)),
        ("model's goal energy", terms.sum(1)),
    ]
    if model.cfg.moment_gain:  # the energy's two parts
        rows.append(("its learned part", terms[:, : -model.cfg.moment_dims].sum(1)))
        rows.append(("its moment part", terms[:, -model.cfg.moment_dims :].sum(1)))
    still, near = np.degrees(np.abs(turn)) < 7, moved < 0.02
    lines = [
        f"{len(within)} scenes near {args.goals} goals, {int(within.sum())} within tolerance; {args.checkpoint}",
        "",
        f"- centroid -> block move: rms residual {np.sqrt(np.mean(np.square(residual))):.4f} units "
        f"(moves {np.sqrt(np.mean(move**2)):.4f} rms; the frame's scale {UNITS_PER_COORD} units per unit of x)",
        *(
            f"- order-{n} phase / {n} -> block turn: rms residual {np.degrees(np.sqrt(np.mean(e**2))):.2f} deg, "
            f"largest {np.degrees(np.abs(e).max()):.1f}"
            for n, e in turn_errors.items()
        ),
        "",
        "| score | AUC, all scenes | position alone (turned < 7 deg) | turn alone (moved < 0.02) |",
        "|---|---|---|---|",
    ]
    for name, score in rows:
        lines.append(
            f"| {name} | {auc(score, within):.3f} | {auc(score[still], moved[still] <= POSITION_TOLERANCE):.3f} | "
            f"{auc(score[near], np.abs(turn[near]) <= ANGLE_TOLERANCE):.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--task", default="goal/push-t-block-aa")
    parser.add_argument("--scenes", default="data/goal/push-t-block-aa-scenes.npz")
    parser.add_argument("--goals", type=int, default=40)
    parser.add_argument("--per-goal", type=int, default=24)
    parser.add_argument("--obs", default="proprio+pixels")
    parser.add_argument("--state-weight", type=float, default=0.0)
    parser.add_argument("--glimpse-weight", type=float, default=None)
    parser.add_argument("--moment-weight", type=float, default=None, help="a moment model's moment weight")
    parser.add_argument("--first-order-weight", type=float, default=None, help="its first-order pair's share")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    text = measure(args)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
