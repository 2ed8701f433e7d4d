"""Diagnostic: what a `goal/two-rooms` checkpoint's memory latents resolve, position or velocity.

    python -m benchmarks.memory_latents --checkpoint <run>/checkpoints/latest.pt \
        --dataset data/goal/two-rooms-state+pixels-smooth

Pairs the checkpoint's memory entries with the true states of the dataset episodes they came from (the
dataset must hold `state` = position (2) + velocity (2), as a state+pixels collection does), then prints:
the memory's joins (how far apart in position, how many cross the wall), squared latent distance against
position distance (pairs nearly at the same speed) and against speed difference (pairs nearly at the same
place), and how far the nearest entry of another episode is, in position.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from agent.checkpoint import load_checkpoint
from agent.waypoints import LandmarkGraph
from train.dataset import EpisodeStore
from train.offline import memory_indices

DOOR = 0.15  # |y| below this a straight move between the rooms is possible (door 0.2 wide each side)


def through_wall(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`(M,)` whether positions `a (M, 2)` and `b (M, 2)` lie in different rooms outside the door."""
    return (np.sign(a[:, 0]) != np.sign(b[:, 0])) & (np.abs(a[:, 1]) > DOOR) & (np.abs(b[:, 1]) > DOOR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--val-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=3000, help="entries sampled for the distance tables")
    args = parser.parse_args()
    payload = load_checkpoint(args.checkpoint)
    if "memory" not in payload:
        raise SystemExit(f"{args.checkpoint} holds no memory graph; build one with `python -m train.memory`")
    memory, cfg = payload["memory"], payload["agent_config"]
    store = EpisodeStore(args.dataset)
    indices = memory_indices(store, args.val_fraction, cfg["memory_episodes"], args.seed)
    states = np.concatenate([store.read(i)["state"] for i in indices])  # (N, 4)
    if len(states) != len(memory["latents"]) or states.shape[1] != 4:
        raise SystemExit(
            "the dataset's states do not match the memory: pass the dataset, val fraction and seed it was built from"
        )
    pos, z, episode = states[:, :2], memory["latents"].float(), memory["episode"].numpy()
    graph = LandmarkGraph(**memory)
    rows, cols, costs = graph._edges
    joins = costs != 1
    jr, jc = rows[joins], cols[joins]
    gap = np.linalg.norm(pos[jr] - pos[jc], axis=1)
    print(
        f"memory: {len(z)} entries, reach {memory['radius']:.1f}, join {memory['join']:.2f}, step {memory['step']:.2f}"
    )
    print(
        f"joins: {len(jr)}; through the wall: {int(through_wall(pos[jr], pos[jc]).sum())}; "
        f"position gap median {np.median(gap):.3f}, p90 {np.quantile(gap, 0.9):.3f}, max {gap.max():.3f}"
    )
    pick = np.random.default_rng(args.seed).choice(len(z), min(args.pairs, len(z)), replace=False)
    d2 = torch.cdist(z[pick], z[pick]).pow(2).numpy()
    apart = np.linalg.norm(pos[pick][:, None] - pos[pick][None], axis=-1)
    speed = np.linalg.norm(states[pick][:, None, 2:] - states[pick][None, :, 2:], axis=-1)
    print("| position apart | squared latent distance (speeds within 0.05) |\n|---|---|")
    for lo, hi in [(0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.4), (0.4, 0.8), (0.8, 3)]:
        sel = (apart >= lo) & (apart < hi) & (speed < 0.05)
        print(f"| {lo}-{hi} | {np.median(d2[sel]) if sel.any() else float('nan'):.1f} |")
    print("| velocity apart | squared latent distance (positions within 0.05) |\n|---|---|")
    for lo, hi in [(0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 2)]:
        sel = (speed >= lo) & (speed < hi) & (apart < 0.05)
        print(f"| {lo}-{hi} | {np.median(d2[sel]) if sel.any() else float('nan'):.1f} |")
    probe = pick[:500]
    to_all = torch.cdist(z[probe], z).pow(2)
    to_all[torch.as_tensor(episode[probe])[:, None] == torch.as_tensor(episode)[None]] = float("inf")
    nearest = to_all.argmin(1).numpy()
    err = np.linalg.norm(pos[probe] - pos[nearest], axis=1)
    print(
        f"nearest entry of another episode: position error median {np.median(err):.3f}, p90 "
        f"{np.quantile(err, 0.9):.3f}; in the other room: {int(through_wall(pos[probe], pos[nearest]).sum())}"
    )


if __name__ == "__main__":
    main()
