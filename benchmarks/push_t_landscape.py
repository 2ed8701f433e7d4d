"""Diagnostic: what a `goal/push-t` model's goal energy weighs, the block or the pusher.

    python -m benchmarks.push_t_landscape --checkpoint <run>/checkpoints/latest.pt [--pairs 8] [--grid SEED] \
        [--obs proprio+pixels]

For each of the evaluation's first seeded start/goal pairs, places the scene at the goal configuration
with the block moved (along x and y), the block turned, or the pusher moved by known amounts, renders
and encodes each placement, and prints the mean and median L2 energy to the goal image's latent (the
energy the planners minimise), beside the squared pixel distance of the 64x64 frames (values in [0, 1])
for scale: there each object counts by the area it covers. Success asks for the block within 0.03 units
and 15 degrees; a model whose energy barely changes when the block moves 0.2 units but soars when the
pusher moves 0.03 plans the pusher to its goal place and leaves the block where it is. For a model with
its own latent part for the state (`state_latent`, `--obs proprio+pixels`) the state part's share of the
energy is printed too.

`--grid SEED` prints instead, for the pair of that episode seed (an evaluation's `episodes.jsonl` lists
them), the energy with the block at its start and the pusher placed on a 9x9 grid over the arena: what
the planner sees while the pusher approaches the block. A usable energy varies smoothly there; one that
jumps by as much as the block's whole distance from its goal hides the block behind the pusher's noise.
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agent.checkpoint import load_agent  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.goal import observe_at  # noqa: E402
from envs.tasks.push_t import PUSHER_RANGE  # noqa: E402

BLOCK_SHIFTS = (0.01, 0.03, 0.06, 0.1, 0.2)  # units
BLOCK_TURNS = (5, 15, 30, 60)  # degrees
PUSHER_SHIFTS = (0.03, 0.1, 0.2)  # units


def perturbations(goal_qpos: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Named configurations near `goal_qpos` (block x, y, angle, pusher x, y)."""
    out = []
    for d in BLOCK_SHIFTS:
        for axis, name in ((0, "x"), (1, "y")):
            q = goal_qpos.copy()
            q[axis] += d
            out.append((f"block moved {d} along {name}", q))
    for deg in BLOCK_TURNS:
        q = goal_qpos.copy()
        q[2] += np.radians(deg)
        out.append((f"block turned {deg} deg", q))
    for d in PUSHER_SHIFTS:
        q = goal_qpos.copy()
        q[3] += d
        out.append((f"pusher moved {d} along x", q))
    return out


TASKS = ("goal/push-t", "goal/push-t-block", "goal/push-t-block-aa")


def scene_encoder(checkpoint: str, obs: str, task: str = "goal/push-t", **planning):
    """`(env, encode, agent)`: `encode(qpos)` renders the scene at `qpos` in `task` (`TASKS`) and returns
    the checkpoint's model's latent `(D,)` and the frame `(3, H, W)` in [0, 1]; `planning` goes to
    `load_agent` (e.g. the goal energy's weights)."""
    env = make_env(task, obs=obs)
    agent = load_agent(checkpoint, env, **planning)
    inner = env.unwrapped

    def encode(qpos: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        placed = observe_at(inner, qpos)
        z = agent.model.encode({k: torch.as_tensor(v).unsqueeze(0) for k, v in placed.items()})[0]
        return z, torch.as_tensor(placed["pixels"]).float() / 255

    return env, encode, agent


def energies(
    checkpoint: str, pairs: int, obs: str = "pixels", task: str = "goal/push-t"
) -> dict[str, list[tuple[float, float, float]]]:
    """`{perturbation: [(latent L2 energy, pixel L2, the latent's state part of the energy) per pair]}`, with
    the start configuration as `start`."""
    env, encode, agent = scene_encoder(checkpoint, obs, task)
    k = agent.model.cfg.state_latent
    inner = env.unwrapped
    rows: dict[str, list[tuple[float, float, float]]] = {}
    with torch.no_grad():
        for seed in range(pairs):
            env.reset(seed=seed)
            goal_qpos = inner.task.goal_qpos.copy()
            goal, goal_frame = encode(goal_qpos)
            named = [("start", inner.physics.data.qpos.copy()), *perturbations(goal_qpos)]
            for name, qpos in named:
                z, frame = encode(qpos)
                energy, pixels = ((z - goal) ** 2).sum(), ((frame - goal_frame) ** 2).sum()
                state_part = ((z[:k] - goal[:k]) ** 2).sum()
                rows.setdefault(name, []).append((float(energy), float(pixels), float(state_part)))
    env.close()
    return rows


def pusher_grid(
    checkpoint: str, seed: int, side: int = 9, obs: str = "pixels", task: str = "goal/push-t"
) -> tuple[np.ndarray, np.ndarray, float]:
    """Latent and pixel energies `(side, side)` (rows from the arena's top) with the pusher on a grid and
    the block at the pair's start, and the start configuration's latent energy."""
    env, encode, _ = scene_encoder(checkpoint, obs, task)
    inner = env.unwrapped
    with torch.no_grad():
        env.reset(seed=seed)
        goal, goal_frame = encode(inner.task.goal_qpos.copy())
        start = inner.physics.data.qpos.copy()
        coords = np.linspace(-PUSHER_RANGE, PUSHER_RANGE, side)
        latent, pixels = np.zeros((side, side)), np.zeros((side, side))
        for i, y in enumerate(coords[::-1]):
            for j, x in enumerate(coords):
                q = start.copy()
                q[3:5] = x, y
                z, frame = encode(q)
                latent[i, j], pixels[i, j] = ((z - goal) ** 2).sum(), ((frame - goal_frame) ** 2).sum()
        at_start = float(((encode(start)[0] - goal) ** 2).sum())
    env.close()
    return latent, pixels, at_start


def _print_grid(checkpoint: str, seed: int, obs: str, task: str) -> None:
    latent, pixels, at_start = pusher_grid(checkpoint, seed, obs=obs, task=task)
    print(f"checkpoint: {checkpoint}; pair of seed {seed}; latent energy at the start {at_start:.1f}")
    for name, grid in (("latent L2 energy", latent), ("pixel L2", pixels)):
        print(
            f"\n{name}, pusher on a grid over [-{PUSHER_RANGE}, {PUSHER_RANGE}]^2 (top row: largest y), block at start:"
        )
        for row in grid:
            print(" ".join(f"{v:6.1f}" for v in row))
        print(f"range {grid.min():.1f}-{grid.max():.1f}, std {grid.std():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--pairs", type=int, default=8, help="the evaluation's seeded pairs 0..pairs-1")
    parser.add_argument("--grid", type=int, default=None, metavar="SEED", help="the pusher grid of this pair")
    parser.add_argument("--obs", default="pixels", help="the observations the model reads, e.g. proprio+pixels")
    parser.add_argument("--task", default=TASKS[0], choices=TASKS, help="the task the model was trained on")
    args = parser.parse_args()
    if args.grid is not None:
        _print_grid(args.checkpoint, args.grid, args.obs, args.task)
        return
    print(f"checkpoint: {args.checkpoint}; {args.task}, pairs 0-{args.pairs - 1}")
    print(
        "| configuration (from the goal's) | mean L2 energy to the goal latent | median | mean pixel L2 "
        "| of the energy, the state part's |"
    )
    print("|---|---|---|---|---|")
    for name, values in energies(args.checkpoint, args.pairs, args.obs, args.task).items():
        latent, pixels, state = np.array(values).T
        print(f"| {name} | {latent.mean():.1f} | {np.median(latent):.1f} | {pixels.mean():.1f} | {state.mean():.1f} |")


if __name__ == "__main__":
    main()
