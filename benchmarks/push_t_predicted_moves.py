"""How well a push-t model predicts whether, and how far, the block moves: phantom pushes and missed ones.

    python -m benchmarks.push_t_predicted_moves --checkpoint <run>/checkpoints/latest.pt \
        [--dataset data/goal/push-t-block-aa-push-turn3-qs] [--val-fraction 0.05] [--steps 1 4] [--out F.md]

On the dataset's held-out episodes (the last `--val-fraction`, as training held them out), every frame is encoded
and, from each decision with a past, the predictor is rolled `k` decisions ahead on the actions taken. The block's
pose is read from the glimpse's moments (`agent.objectives.PoseReached.errors`: the centroid, and the finest
orientation order's turn) in the encoded frames and in the predictions, which gives per start:
- the true move: the centroid's shift (units) between the frame now and the frame k decisions later;
- the predicted move: between the frame now and the prediction;
- the error: between the prediction and the frame k decisions later.
Starts split by the true move: `still` (the block's pixels did not change, under 0.001 units) and `moved` (over
0.005). A phantom push is a still start predicted to move over 0.005 units; a missed push a moved one predicted to
move under half its true move.

Why: planning fails on push-t where the model believes a push that never happens (forty-third and forty-fourth
sessions), and the validation loss weighs that rare error with everything else: a lower loss need not mean fewer
phantom pushes. This table counts them.
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
from benchmarks.push_t_moments import UNITS_PER_COORD  # noqa: E402
from envs import make_env  # noqa: E402
from train.dataset import EpisodeStore  # noqa: E402
from train.offline import split_indices  # noqa: E402

STILL = 0.001  # units: below this the block did not move (its pixels, so its moments, are unchanged)
MOVED = 0.005  # units: above this it moved; also the predicted move that counts as a (phantom) push
MISSED = 0.5  # a moved start is missed when predicted to move under this share of its true move


def move_stats(true_move: np.ndarray, predicted_move: np.ndarray, error: np.ndarray) -> dict[str, float]:
    """Per-start arrays `(n,)` in units -> the table's figures: counts, phantom and missed shares, errors."""
    still, moved = true_move < STILL, true_move > MOVED
    stats = {"starts": len(true_move), "still": int(still.sum()), "moved": int(moved.sum())}
    stats["phantom"] = float((predicted_move[still] > MOVED).mean()) if still.any() else float("nan")
    stats["still_predicted_median"] = float(np.median(predicted_move[still])) if still.any() else float("nan")
    stats["missed"] = float((predicted_move[moved] < MISSED * true_move[moved]).mean()) if moved.any() else float("nan")
    stats["moved_rms_error"] = float(np.sqrt((error[moved] ** 2).mean())) if moved.any() else float("nan")
    stats["rms_error"] = float(np.sqrt((error**2).mean()))
    return stats


@torch.no_grad()
def episode_moves(model, pose: PoseReached, episode: dict, steps: int) -> tuple[np.ndarray, ...]:
    """One episode's `(n,)` true moves, predicted moves, errors (units) and turn errors (degrees) at `steps` ahead,
    from every decision t with a past (t >= history - 1) and t + steps within the episode."""
    keys = model.encoder.keys
    z = model.encode({k: torch.as_tensor(episode[k]) for k in keys})  # (T+1, D)
    actions = torch.as_tensor(episode["action"])  # (T, A)
    h = model.cfg.history
    starts = np.arange(h - 1, len(actions) - steps + 1)
    past = torch.stack([z[starts - j] for j in range(h - 1, 0, -1)]) if h > 1 else None  # (h-1, n, D)
    acts = torch.stack([actions[starts + i] for i in range(steps)])  # (k, n, A)
    predicted = model.rollout(z[starts], acts, past)[-1]  # (n, D)
    now, later = z[starts], z[starts + steps]
    finest = 1 + pose.orders.index(max(pose.orders))
    true_move = pose.errors(later, now)[:, 0] * UNITS_PER_COORD
    predicted_move = pose.errors(predicted, now)[:, 0] * UNITS_PER_COORD
    err = pose.errors(predicted, later)
    return (
        true_move.numpy(),
        predicted_move.numpy(),
        (err[:, 0] * UNITS_PER_COORD).numpy(),
        np.degrees(err[:, finest].numpy()),
    )


def measure(args) -> str:
    store = EpisodeStore(args.dataset)
    env = make_env(store.meta["task"], obs=store.meta["obs"], size=store.meta["size"])
    model = load_agent(args.checkpoint, env, waypoints=False).model.eval()
    env.close()
    if not getattr(model.cfg, "moment_gain", 0):
        raise ValueError(f"{args.checkpoint} has no moments in its latent (train with moment_gain > 0)")
    pose = PoseReached(model.cfg.moment_orders, model.cfg.moment_gain, 1.0, 1.0)
    _, val = split_indices(store.indices(), args.val_fraction)
    lines = [
        f"{len(val)} held-out episodes of {args.dataset}; {args.checkpoint}",
        "",
        "| decisions ahead | starts | still | moved | phantom pushes (still, predicted > 0.005) | still: median "
        "predicted move | missed pushes (moved, predicted < half) | moved: rms error | all: rms error | all: rms "
        "turn error (deg) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in args.steps:
        parts = [episode_moves(model, pose, store.read(i), k) for i in val]
        true_move, predicted_move, error, turn = (np.concatenate(p) for p in zip(*parts, strict=True))
        s = move_stats(true_move, predicted_move, error)
        lines.append(
            f"| {k} | {s['starts']} | {s['still']} | {s['moved']} | {s['phantom']:.3f} | "
            f"{s['still_predicted_median']:.4f} | {s['missed']:.3f} | {s['moved_rms_error']:.4f} | "
            f"{s['rms_error']:.4f} | {float(np.sqrt((turn**2).mean())):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", default="data/goal/push-t-block-aa-push-turn3-qs")
    p.add_argument("--val-fraction", type=float, default=0.05, help="as the training held out")
    p.add_argument("--steps", type=int, nargs="+", default=[1, 4], help="decisions ahead")
    p.add_argument("--out", help="also write the table to this markdown file")
    args = p.parse_args()
    torch.set_num_threads(1)
    table = measure(args)
    print(table)
    if args.out:
        pathlib.Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
