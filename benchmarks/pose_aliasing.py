"""Diagnostic: which `goal/reacher` poses a trained model's latent confuses, against the memory's reach.

    python -m benchmarks.pose_aliasing --checkpoint runs/goal/reacher/checkpoints/latest.pt [--grid 24]

Places the arm at rest on a grid of shoulder x wrist angles, encodes each placement and compares squared
latent distances with the joint-space distance (the larger of the two joints' angle differences, the
shoulder taken round the circle). Pairs far apart in joint space but within the checkpoint's reach radius
are aliases: a graph that joined latents by distance alone would let a path jump between them.
"""

from __future__ import annotations

import argparse

from envs.rendering import configure_gl

configure_gl()  # before anything imports mujoco

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agent.checkpoint import load_agent, load_checkpoint  # noqa: E402
from envs import make_env  # noqa: E402
from envs.tasks.goal import observe_at  # noqa: E402
from envs.tasks.reacher_goal import WRIST_LIMIT  # noqa: E402


def pose_grid(n: int) -> np.ndarray:
    """`(n * n, 2)` shoulder x wrist angles covering the reachable range."""
    shoulder = np.linspace(-np.pi, np.pi, n, endpoint=False)
    wrist = np.linspace(-WRIST_LIMIT, WRIST_LIMIT, n)
    return np.array([[a, b] for a in shoulder for b in wrist])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--grid", type=int, default=24)
    args = parser.parse_args()
    payload = load_checkpoint(args.checkpoint)
    if "memory" not in payload:
        raise SystemExit(f"{args.checkpoint} holds no memory graph; add one with `python -m train.memory`")
    inputs = "+".join(k for k in ("state", "pixels") if k in payload["obs_shapes"])
    env = make_env("goal/reacher", obs=inputs)
    env.reset(seed=0)
    inner = env.unwrapped
    agent = load_agent(args.checkpoint, env)
    poses = pose_grid(args.grid)
    obs = [observe_at(inner, q) for q in poses]
    batch = {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in inputs.split("+")}
    with torch.no_grad():
        z = agent.model.encode(batch)  # (n * n, D)
    latent = torch.cdist(z, z).pow(2).numpy()
    shoulder = np.abs((poses[:, None, 0] - poses[None, :, 0] + np.pi) % (2 * np.pi) - np.pi)
    joint = np.maximum(shoulder, np.abs(poses[:, None, 1] - poses[None, :, 1]))
    radius = payload["memory"]["radius"]
    near = latent <= radius
    np.fill_diagonal(near, False)
    print(f"reach radius {radius:.1f}; pose pairs within it: {near.sum() // 2}")
    print("| joint distance (rad) | median squared latent distance | 5th percentile | pairs within reach |")
    print("|---|---|---|---|")
    for lo, hi in ((0, 0.3), (0.3, 0.6), (0.6, 1.0), (1.0, 2.0), (2.0, 6.0)):
        band = (joint > lo) & (joint <= hi)
        print(
            f"| {lo:.1f}-{hi:.1f} | {np.median(latent[band]):.1f} | {np.percentile(latent[band], 5):.1f} | "
            f"{(near & band).sum() // 2} |"
        )
    far = np.argwhere(np.triu(near & (joint > 1.0)))
    for i, j in far[:8]:
        print(f"alias: {poses[i].round(2)} ~ {poses[j].round(2)} (squared latent distance {latent[i, j]:.1f})")


if __name__ == "__main__":
    main()
