"""Calibrate `hold_energy` for a push-t model: how well its goal energy tells a block within tolerance.

    python -m benchmarks.push_t_hold --checkpoint <run>/checkpoints/latest.pt [--task goal/push-t-block] \
        [--obs proprio+pixels] [--goals 40] [--per-goal 24] [--state-weight 0] [--glimpse-weight 1] \
        [--moment-weight W] [--first-order-weight S] [--out F.md] [--threshold-out F --precision 0.9] \
        [--scenes F.npz] [--scenes-out F.npz]

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

`--pose` calibrates the pose hold instead (`eval.evaluate ... hold_pose=[position,turn]`, a model with the glimpse's
moments): for each precision, the centroid shift and turn (a box, as success's tolerances) that catch the most
scenes within tolerance at that precision; `--threshold-out` then writes `position,turn`.

`--scenes-out F.npz` writes the rendered scenes and their labels (with no `--checkpoint`, that alone), and
`--scenes F.npz` scores a written set instead of rendering it again (seconds instead of a minute).
`python -m train.offline ... select_scenes=F.npz` freezes the encoder that scores best on them
(train/selection.py).
"""

from __future__ import annotations

import argparse
import pathlib

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agent.checkpoint import load_agent  # noqa: E402
from agent.objectives import PoseReached  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.goal import observe_at  # noqa: E402
from envs.tasks.push_t import ANGLE_TOLERANCE, POSITION_TOLERANCE  # noqa: E402
from train.selection import GoalScenes, auc, scene_energies  # noqa: E402

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


def render_scenes(task: str, obs: str, goals: int, per_goal: int) -> GoalScenes:
    """The calibration scenes of `task` (`calibration_scenes`) rendered as the env observes them, with their
    goals' observations: the file `--scenes-out` writes, which `train.offline select_scenes=` scores
    encoders on (train/selection.py)."""
    env = make_env(task, obs=obs)
    inner = env.unwrapped
    goal_obs, scene_obs, goal_index, within = [], [], [], []
    for i, (goal_qpos, scenes, inside) in enumerate(calibration_scenes(env, goals, per_goal)):
        goal_obs.append(observe_at(inner, goal_qpos))
        scene_obs += [observe_at(inner, qpos) for qpos in scenes]
        goal_index += [i] * len(scenes)
        within += list(inside)
    env.close()
    return GoalScenes(
        scenes={k: np.stack([o[k] for o in scene_obs]) for k in scene_obs[0]},
        goals={k: np.stack([o[k] for o in goal_obs]) for k in goal_obs[0]},
        goal_index=np.array(goal_index),
        within=np.array(within, dtype=bool),
    )


def holding_agent(args):
    """The checkpoint's agent with a hold (whose energy, `agent.hold.energy`, is what is used) and the goal weights
    `args` give (`state_weight`, `glimpse_weight`, `moment_weight`, `first_order_weight`; None keeps the saved
    ones), checked against the task's observations."""
    env = make_env(args.task, obs=args.obs)
    agent = load_agent(
        args.checkpoint,
        env,
        waypoints=False,
        state_weight=args.state_weight,
        glimpse_weight=args.glimpse_weight,
        moment_weight=args.moment_weight,
        first_order_weight=args.first_order_weight,
        hold_energy=1.0,  # any threshold: the energy is what is used
    )
    env.close()
    return agent


def calibrate(args, scenes: GoalScenes) -> np.ndarray:
    """`(n,)` energies of the checkpoint's agent's hold for `scenes` against their goals."""
    agent = holding_agent(args)
    keys = agent.model.encoder.keys
    return scene_energies(agent.model.encode, agent.hold.energy.distance, scenes, keys, torch.device("cpu"))


POSE_POSITIONS = np.round(np.arange(0.002, 0.1001, 0.002), 3)  # the centroid shifts tried (frame coordinates)
POSE_TURNS = np.arange(2.0, 30.01, 0.5)  # the turns tried (degrees)


def pose_errors(args, scenes: GoalScenes) -> tuple[PoseReached, np.ndarray]:
    """The checkpoint's pose reader and `(n, 1 + orders)` pose errors of `scenes` against their goals."""
    agent = holding_agent(args)
    cfg = agent.model.cfg
    if not cfg.moment_gain:
        raise ValueError(f"{args.checkpoint} has no glimpse moments (moment_gain): --pose reads them")
    pose = PoseReached(cfg.moment_orders, cfg.moment_gain, 1.0, 1.0)
    errors = scene_energies(agent.model.encode, pose.errors, scenes, agent.model.encoder.keys, torch.device("cpu"))
    return pose, errors


def pose_thresholds(pose: PoseReached, errors: np.ndarray, positive: np.ndarray, precisions=PRECISIONS):
    """`[(precision asked, position, turn in degrees, recall, precision reached)]`: of the grid's boxes whose
    scenes are positive at least that often, the one that catches the most positives (then the most precise);
    `(p, 0.0, 0.0, 0.0, 0.0)` where none is."""
    errors, positive = torch.as_tensor(errors), np.asarray(positive, bool)
    found = {p: (0.0, 0.0, 0.0, 0.0) for p in precisions}  # position, turn, recall, precision
    for position in POSE_POSITIONS:
        for turn in POSE_TURNS:
            held = pose.within(errors, float(position), np.radians(turn)).numpy()
            if not held.any():
                continue
            precision, recall = positive[held].mean(), held[positive].mean() if positive.any() else 0.0
            for p in precisions:
                if precision >= p - 1e-12 and (recall, precision) > found[p][2:]:
                    found[p] = (float(position), float(turn), float(recall), float(precision))
    return [(p, *found[p]) for p in precisions]


def report_pose(rows) -> str:
    lines = [
        "| precision | position (frame coordinates) | turn (degrees) | recall | precision reached |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {p:.2f} | {x:.3f} | {t:.1f} | {r:.2f} | {q:.3f} |" for p, x, t, r, q in rows]
    return "\n".join(lines)


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
    parser.add_argument("--checkpoint", default=None, help="the model to calibrate (needed unless --scenes-out only)")
    parser.add_argument("--task", default="goal/push-t-block")
    parser.add_argument("--obs", default="proprio+pixels")
    parser.add_argument("--goals", type=int, default=40)
    parser.add_argument("--per-goal", type=int, default=24)
    parser.add_argument("--state-weight", type=float, default=None)
    parser.add_argument("--glimpse-weight", type=float, default=None)
    parser.add_argument("--moment-weight", type=float, default=None, help="a moment model's moment weight")
    parser.add_argument("--first-order-weight", type=float, default=None, help="its first-order pair's share")
    parser.add_argument("--scenes", default=None, help="score the scenes of this file instead of rendering them")
    parser.add_argument("--scenes-out", default=None, help="write the scenes to this .npz (select_scenes=)")
    parser.add_argument("--out", default=None, help="also write the report to this Markdown file")
    parser.add_argument("--threshold-out", default=None, help="write the threshold of --precision to this file")
    parser.add_argument("--precision", type=precision_arg, default=0.9, help="the precision --threshold-out's keeps")
    parser.add_argument("--pose", action="store_true", help="calibrate the moments' pose hold (hold_pose=)")
    args = parser.parse_args()
    if args.checkpoint is None and args.scenes_out is None:
        parser.error("give --checkpoint to calibrate, or --scenes-out to write the scenes alone")
    if args.scenes:
        scenes = GoalScenes.load(args.scenes)
    else:
        scenes = render_scenes(args.task, args.obs, args.goals, args.per_goal)
    if args.scenes_out:
        scenes.save(args.scenes_out)
    if args.checkpoint is None:
        return
    if args.pose:
        pose, errors = pose_errors(args, scenes)
        rows = pose_thresholds(pose, errors, scenes.within, sorted({*PRECISIONS, args.precision}))
        text = f"{len(errors)} scenes near goals, {int(scenes.within.sum())} within tolerance; pose hold\n\n"
        text += report_pose(rows)
        print(text)
        if args.out:
            pathlib.Path(args.out).write_text(text + "\n")
        if args.threshold_out:
            ((_, position, turn, _, _),) = [row for row in rows if row[0] == args.precision]
            pathlib.Path(args.threshold_out).write_text(f"{position:.3f},{turn:.1f}\n")
        return
    energy, within = calibrate(args, scenes), scenes.within
    text = report(energy, within)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")
    if args.threshold_out:
        threshold = threshold_at(energy, within, args.precision)
        pathlib.Path(args.threshold_out).write_text(f"{threshold:.3f}\n")


if __name__ == "__main__":
    main()
