"""Diagnostic: what a `goal/push-t` model's goal energy weighs, the block or the pusher.

    python -m benchmarks.push_t_landscape --checkpoint <run>/checkpoints/latest.pt [--pairs 8]

For each of the evaluation's first seeded start/goal pairs, places the scene at the goal configuration
with the block moved (along x and y), the block turned, or the pusher moved by known amounts, renders
and encodes each placement, and prints the mean and median L2 energy to the goal image's latent (the
energy the planners minimise), beside the squared pixel distance of the 64x64 frames (values in [0, 1])
for scale: there each object counts by the area it covers. Success asks for the block within 0.03 units
and 15 degrees; a model whose energy barely changes when the block moves 0.2 units but soars when the
pusher moves 0.03 plans the pusher to its goal place and leaves the block where it is.
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agent.checkpoint import load_agent  # noqa: E402
from envs import make_env  # noqa: E402
from envs.dmc import DMCEnv  # noqa: E402
from envs.tasks.goal import with_configuration  # noqa: E402

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


def energies(checkpoint: str, pairs: int) -> dict[str, list[tuple[float, float]]]:
    """`{perturbation: [(latent L2 energy, pixel L2) per pair]}`, with the start configuration as `start`."""
    env = make_env("goal/push-t", obs="pixels")
    agent = load_agent(checkpoint, env)
    inner = env.unwrapped

    def encode(qpos: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent `(D,)` and the frame `(3, H, W)` in [0, 1] of the scene at `qpos`."""
        placed = with_configuration(
            inner.physics, qpos, lambda p: DMCEnv._observe(inner, inner.task.get_observation(p))
        )
        pixels = torch.as_tensor(placed["pixels"])
        return agent.model.encode({"pixels": pixels.unsqueeze(0)})[0], pixels.float() / 255

    rows: dict[str, list[tuple[float, float]]] = {}
    with torch.no_grad():
        for seed in range(pairs):
            env.reset(seed=seed)
            goal_qpos = inner.task.goal_qpos.copy()
            goal, goal_frame = encode(goal_qpos)
            named = [("start", inner.physics.data.qpos.copy()), *perturbations(goal_qpos)]
            for name, qpos in named:
                z, frame = encode(qpos)
                energy, pixels = ((z - goal) ** 2).sum(), ((frame - goal_frame) ** 2).sum()
                rows.setdefault(name, []).append((float(energy), float(pixels)))
    env.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--pairs", type=int, default=8, help="the evaluation's seeded pairs 0..pairs-1")
    args = parser.parse_args()
    print(f"checkpoint: {args.checkpoint}; pairs 0-{args.pairs - 1}")
    print("| configuration (from the goal's) | mean L2 energy to the goal latent | median | mean pixel L2 |")
    print("|---|---|---|---|")
    for name, values in energies(args.checkpoint, args.pairs).items():
        latent, pixels = np.array(values).T
        print(f"| {name} | {latent.mean():.1f} | {np.median(latent):.1f} | {pixels.mean():.1f} |")


if __name__ == "__main__":
    main()
