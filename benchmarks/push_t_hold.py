"""Calibrate `hold_energy` for a push-t model: how well its goal energy tells a block within tolerance.

    python -m benchmarks.push_t_hold --checkpoint <run>/checkpoints/latest.pt [--task goal/push-t-block] \
        [--obs proprio+pixels] [--goals 40] [--per-goal 24] [--state-weight 0] [--glimpse-weight 1] [--out F.md] \
        [--threshold-out F --precision 0.9]

Around the goals of `--goals` start/goal pairs (env seeds from `CALIBRATION_SEED`, never an evaluation's),
places the block near its goal pose (moved up to 0.04 or 0.08 units, turned up to 0.3 or 0.6 rad; the
pusher where the goal has it), renders and encodes each scene, and scores its latent against the goal's
with the goal energy the agent would hold on (`GoalReached`: the final-step energy with the agent's
weights). It prints the energy's AUC at telling scenes within success's tolerances (0.03 units and 15
degrees) from the rest, and for each precision the largest threshold whose scenes at or below it are
that often within tolerance, with the share of within-tolerance scenes it catches (recall). Pass the
threshold as `eval.evaluate ... hold_energy=<t>`; `--threshold-out` writes the one of `--precision` alone to a
file, for scripts (benchmarks/push_t_pixels.sh). The scenes all lie near the goal, where holding too early
costs most, so along an episode the precision is at least this.
"""

from __future__ import annotations

import argparse
import pathlib

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.push_t_landscape import scene_encoder  # noqa: E402
from envs.tasks.push_t import ANGLE_TOLERANCE, POSITION_TOLERANCE  # noqa: E402

CALIBRATION_SEED = 10_000  # env seeds of the calibration goals (evaluations hash theirs: `episode_seed`)
PRECISIONS = (0.9, 0.95, 0.98, 1.0)


def near_goal(goal_qpos: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`(count, 5)` configurations with the block moved and turned near its goal pose, the pusher kept;
    every other one reaches twice as far (0.08 units, 0.6 rad) as the rest."""
    out = np.repeat(goal_qpos[None], count, 0).astype(np.float64)
    far = np.arange(count) % 2 == 1
    radius = rng.uniform(0, 1, count) * np.where(far, 0.08, 0.04)
    heading = rng.uniform(0, 2 * np.pi, count)
    out[:, 0] += radius * np.cos(heading)
    out[:, 1] += radius * np.sin(heading)
    out[:, 2] += rng.uniform(-1, 1, count) * np.where(far, 0.6, 0.3)
    return out


def auc(energy: np.ndarray, positive: np.ndarray) -> float:
    """The chance that a positive scores a lower energy than a negative (ties count half)."""
    pos, neg = energy[positive], energy[~positive]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs scenes both within and outside tolerance")
    lower = (pos[:, None] < neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(lower / (len(pos) * len(neg)))


def thresholds(energy: np.ndarray, positive: np.ndarray, precisions=PRECISIONS) -> list[tuple[float, float, float]]:
    """`[(precision asked, threshold, recall)]`: the largest threshold at which the scenes with energy at or
    below it are positive at least that often (0.0 and recall 0 where none is)."""
    order = np.argsort(energy, kind="stable")
    e, hits = energy[order], positive[order].astype(float)
    precision = np.cumsum(hits) / np.arange(1, len(e) + 1)
    last = np.r_[e[1:] != e[:-1], True]  # a threshold takes every scene of its energy
    rows = []
    for p in precisions:
        ok = np.flatnonzero(last & (precision >= p - 1e-12))
        if len(ok) == 0:
            rows.append((p, 0.0, 0.0))
            continue
        i = ok[-1]
        rows.append((p, float(e[i]), float(hits[: i + 1].sum() / max(hits.sum(), 1))))
    return rows


def threshold_at(energy: np.ndarray, positive: np.ndarray, precision: float) -> float:
    """The largest threshold whose scenes at or below it are positive at least `precision` often (0.0, which
    never holds, where none is)."""
    if not 0 < precision <= 1:
        raise ValueError(f"precision {precision}: must be in (0, 1]")
    ((_, threshold, _),) = thresholds(energy, positive, (precision,))
    return threshold


def calibration_scenes(env, goals: int, per_goal: int):
    """Yields, for each of `goals` calibration pairs of the (push-t) `env`, its goal configuration `(5,)`, the
    scenes placed near it `(per_goal, 5)` (`near_goal`) and whether each is within success's tolerances
    `(per_goal,)`. The env is left reset to that pair while its scenes are used."""
    inner, rng = env.unwrapped, np.random.default_rng(0)
    for i in range(goals):
        env.reset(seed=CALIBRATION_SEED + i)
        goal_qpos = inner.task.goal_qpos.copy()
        scenes = near_goal(goal_qpos, per_goal, rng)
        moved = np.linalg.norm(scenes[:, :2] - goal_qpos[:2], axis=1)
        yield (
            goal_qpos,
            scenes,
            (moved <= POSITION_TOLERANCE) & (np.abs(scenes[:, 2] - goal_qpos[2]) <= ANGLE_TOLERANCE),
        )


def calibrate(args) -> tuple[np.ndarray, np.ndarray]:
    """Energies `(n,)` of the scenes near the calibration goals and whether each is within tolerance."""
    env, encode, agent = scene_encoder(
        args.checkpoint,
        args.obs,
        args.task,
        waypoints=False,
        state_weight=args.state_weight,
        glimpse_weight=args.glimpse_weight,
        hold_energy=1.0,  # any threshold: the energy is what is used
    )
    energy = agent.hold.energy
    energies, within = [], []
    with torch.no_grad():
        for goal_qpos, scenes, inside in calibration_scenes(env, args.goals, args.per_goal):
            goal = encode(goal_qpos)[0]
            energies += [float(energy.distance(encode(qpos)[0][None], goal[None])[0]) for qpos in scenes]
            within += list(inside)
    env.close()
    return np.array(energies), np.array(within)


def report(energy: np.ndarray, within: np.ndarray) -> str:
    lines = [
        f"{len(energy)} scenes near goals, {int(within.sum())} within tolerance; energy AUC {auc(energy, within):.3f}",
        "",
        "| precision | hold_energy | recall |",
        "|---|---|---|",
    ]
    lines += [f"| {p:.2f} | {t:.3f} | {r:.2f} |" for p, t, r in thresholds(energy, within)]
    return "\n".join(lines)


def precision_arg(text: str) -> float:
    """`--precision`, refused before the calibration's minute of rendering when outside (0, 1]."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: a precision must be in (0, 1], e.g. 0.9")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--task", default="goal/push-t-block")
    parser.add_argument("--obs", default="proprio+pixels")
    parser.add_argument("--goals", type=int, default=40)
    parser.add_argument("--per-goal", type=int, default=24)
    parser.add_argument("--state-weight", type=float, default=None)
    parser.add_argument("--glimpse-weight", type=float, default=None)
    parser.add_argument("--out", default=None, help="also write the report to this Markdown file")
    parser.add_argument("--threshold-out", default=None, help="write the threshold of --precision to this file")
    parser.add_argument("--precision", type=precision_arg, default=0.9, help="the precision --threshold-out's keeps")
    args = parser.parse_args()
    energy, within = calibrate(args)
    text = report(energy, within)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")
    if args.threshold_out:
        threshold = threshold_at(energy, within, args.precision)
        pathlib.Path(args.threshold_out).write_text(f"{threshold:.3f}\n")


if __name__ == "__main__":
    main()
