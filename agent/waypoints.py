"""Waypoints through a graph of latent landmarks, for goals beyond a goal energy's reach.

A goal energy in a learned latent space is informative only near the goal: in goal/reacher the L2
distance rises over a few tenths of a radian and then sits on a plateau (benchmarks/results/goal), and
in goal/two-rooms the straight line to the goal runs into the wall. Distances between latents are
trustworthy where they are small, though. So: take the latents of observations from the training data
as landmarks, join two landmarks when their distance is at most `radius` (what the data reaches in a
few steps), and measure along the graph; its shortest paths approximate distances along the data
manifold (as in Isomap; SoRB plans over such a graph of replay states). The planner then aims at the
landmark within reach that is closest to the goal along the graph, and at the goal itself once the goal
is within reach.

Shapes: N landmarks, latent size D.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


class LandmarkGraph:
    """Landmark latents `(N, D)` joined where their squared L2 distance is at most `radius`.

    Edge lengths are the (unsquared) L2 distances, so a path's length adds up small steps.
    """

    def __init__(self, latents: torch.Tensor, radius: float):
        if latents.dim() != 2 or len(latents) < 2:
            raise ValueError(f"landmarks must be (N >= 2, D) latents, got {tuple(latents.shape)}")
        self.latents = latents.float()
        self.radius = float(radius)
        d2 = torch.cdist(self.latents, self.latents).pow(2).cpu().numpy()
        np.fill_diagonal(d2, np.inf)
        rows, cols = np.nonzero(d2 <= self.radius)
        self._edges = (rows, cols, np.sqrt(d2[rows, cols]))

    def to_goal(self, goal: torch.Tensor) -> np.ndarray:
        """Path length from every landmark to the latent `goal (D,)` along the graph `(N,)` (inf where
        no path exists). The goal joins the graph at the landmarks within `radius` of it."""
        n = len(self.latents)
        d2 = self._sq_distances(goal)
        near = np.nonzero(d2 <= self.radius)[0]
        if len(near) == 0:  # a goal away from the data: join it to its nearest landmark
            near = np.array([int(np.argmin(d2))])
        rows, cols, lengths = self._edges
        rows = np.concatenate([rows, np.full(len(near), n), near])
        cols = np.concatenate([cols, near, np.full(len(near), n)])
        lengths = np.concatenate([lengths, np.sqrt(d2[near]), np.sqrt(d2[near])])
        graph = csr_matrix((np.maximum(lengths, 1e-9), (rows, cols)), shape=(n + 1, n + 1))
        return dijkstra(graph, directed=False, indices=n)[:n]

    def waypoint(self, z: torch.Tensor, goal: torch.Tensor, to_goal: np.ndarray) -> torch.Tensor:
        """Where to aim from `z (D,)`: `goal (D,)` when within `radius`, else the landmark within `radius`
        of `z` with the shortest path to the goal (the nearest landmark when none is within reach)."""
        if float((z - goal).pow(2).sum()) <= self.radius:
            return goal
        d2 = self._sq_distances(z)
        reach = np.nonzero(d2 <= self.radius)[0]
        if len(reach) == 0:
            reach = np.array([int(np.argmin(d2))])
        best = reach[np.argmin(to_goal[reach] + np.sqrt(d2[reach]))]
        if not np.isfinite(to_goal[best]):
            return goal  # no route known: fall back to the goal energy alone
        return self.latents[best].to(goal)

    def _sq_distances(self, z: torch.Tensor) -> np.ndarray:
        return (self.latents - z.to(self.latents)).pow(2).sum(-1).cpu().numpy()


def reach_radius(episodes: list[torch.Tensor], steps: int, quantile: float = 0.5) -> float:
    """The `quantile` of squared latent distances between observations `steps` apart in the data: how
    far the data goes in that many steps. `episodes`: latents `(T_i + 1, D)` per episode."""
    gaps = [(z[steps:] - z[:-steps]).pow(2).sum(-1) for z in episodes if len(z) > steps]
    if not gaps:
        raise ValueError(f"no episode is longer than {steps} steps; lower landmark_steps")
    return float(torch.quantile(torch.cat(gaps), quantile))


@torch.no_grad()
def landmarks_from_episodes(
    model,
    episodes: list[dict],
    count: int,
    steps: int,
    rng: np.random.Generator,
    device,
    quantile: float = 0.5,
    batch: int = 512,
) -> tuple[torch.Tensor, float]:
    """Landmark latents `(count, D)` drawn from the observations of `episodes` (dataset episodes: arrays
    with a leading time axis under `state` and/or `pixels`), and the reach radius for `steps` steps."""
    latents = []
    for episode in episodes:
        obs = {k: torch.as_tensor(episode[k]) for k in ("state", "pixels") if k in episode}
        length = len(next(iter(obs.values())))
        parts = [
            model.encode({k: v[i : i + batch].to(device) for k, v in obs.items()}) for i in range(0, length, batch)
        ]
        latents.append(torch.cat(parts).cpu())
    pool = torch.cat(latents)
    return spread_out(pool, count, rng), reach_radius(latents, steps, quantile)


def spread_out(pool: torch.Tensor, count: int, rng: np.random.Generator) -> torch.Tensor:
    """`count` of the latents `pool (M, D)` chosen to cover it (greedy k-center: each pick is the latent
    farthest from those already picked), so that rarely visited places, such as a door that few random
    episodes pass through, get landmarks as well as the common ones."""
    if count >= len(pool):
        return pool.clone()
    if len(pool) > 10 * count:  # cover a random tenth-sized sample: the cost grows with count x pool
        pool = pool[torch.as_tensor(rng.choice(len(pool), 10 * count, replace=False))]
    picks = [int(rng.integers(len(pool)))]
    nearest = (pool - pool[picks[0]]).pow(2).sum(-1)  # (M,) squared distance to the nearest pick
    for _ in range(count - 1):
        picks.append(int(nearest.argmax()))
        nearest = torch.minimum(nearest, (pool - pool[picks[-1]]).pow(2).sum(-1))
    return pool[torch.as_tensor(picks)]
