"""Waypoints through a memory of training trajectories, for goals beyond a goal energy's reach.

A goal energy in a learned latent space is informative only near the goal: in goal/reacher the L2
distance rises over a few tenths of a radian and then sits on a plateau (benchmarks/results/goal), and
in goal/two-rooms the straight line to the goal runs into the wall. Latent distance can also alias: at
64x64 pixels the reacher folded one way looks much like the reacher folded the other way, although the
arm must unfold to get from one to the other.

So the agent keeps a memory: the latents of every observation of some training episodes, in order. It is
a graph whose edges are known to be traversable, as in SPTM (Savinov et al. 2018) and SoRB (Eysenbach
et al. 2019): consecutive observations of an episode (one step, cost 1), plus joins between observations
of different moments whose latents nearly coincide (cost: their distance in units of a typical step).
Path lengths are then counted in steps along the data, not in latent distance, and a join needs two
latents closer than one typical step, which aliased poses are not. The agent finds the memory entry
nearest its own latent, follows the shortest path from there towards the goal for as far as its latent
reach (`radius`, what the data covers in a few steps), and plans to that waypoint; at the end of the
path it plans to the goal itself.

Shapes: N memory entries, latent size D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

GOAL = -1  # `Route.toward` of an entry whose next stop is the goal itself
NOWHERE = -2  # `Route.toward` of an entry with no path to the goal


@dataclass(frozen=True)
class Route:
    """Shortest paths from every memory entry to one goal.

    Attributes:
        steps: `(N,)` path length to the goal in steps (inf where no path exists).
        toward: `(N,)` the next entry on the path (`GOAL` when the goal comes next, `NOWHERE` without one).
    """

    steps: np.ndarray
    toward: np.ndarray


class LandmarkGraph:
    """The memory graph of training trajectories.

    Args:
        latents: `(N, D)` latents of observations, each episode's in time order.
        episode: `(N,)` integer episode ids: consecutive entries with the same id are one step apart.
        radius: squared latent distance the agent is trusted to cover by planning (its reach).
        join: entries of different moments are joined when their squared distance is at most this.
        step: the typical latent length of one step; a join of length d costs d / step steps.
    """

    def __init__(self, latents: torch.Tensor, episode, radius: float, join: float, step: float, chunk: int = 2048):
        episode = np.asarray(episode.cpu() if torch.is_tensor(episode) else episode).reshape(-1)
        if latents.dim() != 2 or len(latents) < 2 or len(episode) != len(latents):
            raise ValueError(
                f"the memory needs (N >= 2, D) latents and (N,) episode ids, got {tuple(latents.shape)} "
                f"and {episode.shape}"
            )
        if step <= 0 or join < 0 or radius <= 0:
            raise ValueError(f"radius and step must be > 0 and join >= 0, got {radius}, {step}, {join}")
        self.latents = latents.float()
        self._sq_norms = self.latents.pow(2).sum(-1)  # (N,) for distances without an (N, D) temporary
        self.episode = episode
        self.radius, self.join, self.step = float(radius), float(join), float(step)
        self._edges = self._build_edges(chunk)

    def __len__(self) -> int:
        return len(self.latents)

    def _build_edges(self, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.latents)
        timed = np.nonzero(self.episode[1:] == self.episode[:-1])[0]
        rows, cols, costs = [timed], [timed + 1], [np.ones(len(timed))]
        for start in range(0, n, chunk):  # all pairs, a block of rows at a time: N x N would not fit
            d2 = torch.cdist(self.latents[start : start + chunk], self.latents).pow(2).cpu().numpy()
            r, c = np.nonzero(d2 <= self.join)
            keep = r + start < c  # each pair once; the graph is undirected
            r, c = r[keep], c[keep]
            rows.append(r + start), cols.append(c), costs.append(np.sqrt(d2[r, c]) / self.step)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(costs)

    @property
    def edge_count(self) -> int:
        return len(self._edges[0])

    def route(self, goal: torch.Tensor) -> Route:
        """Shortest paths from every entry to the latent `goal (D,)`. The goal joins the graph at the
        entries within `join` of it, or at its nearest entry when none is that close."""
        n = len(self.latents)
        d2 = self._sq_distances(goal)
        near = np.nonzero(d2 <= self.join)[0]
        if len(near) == 0:
            near = np.array([int(np.argmin(d2))])
        rows, cols, costs = self._edges
        rows = np.concatenate([rows, np.full(len(near), n)])
        cols = np.concatenate([cols, near])
        costs = np.concatenate([costs, np.sqrt(d2[near]) / self.step])
        # Zero-cost edges would vanish from a sparse matrix: identical latents cost a hair above zero.
        graph = csr_matrix((np.maximum(costs, 1e-6), (rows, cols)), shape=(n + 1, n + 1))
        steps, before = dijkstra(graph, directed=False, indices=n, return_predecessors=True)
        toward = np.where(before[:n] == n, GOAL, np.where(before[:n] < 0, NOWHERE, before[:n]))
        return Route(steps=steps[:n], toward=toward)

    def nearest(self, z: torch.Tensor) -> int:
        """The memory entry whose latent is nearest `z (D,)`."""
        return int(np.argmin(self._sq_distances(z)))

    def waypoint(self, z: torch.Tensor, goal: torch.Tensor, route: Route) -> torch.Tensor:
        """Where to aim from `z (D,)`: the farthest entry along the path from `z`'s nearest entry that
        is still within `radius` of `z` (stopping at the first one beyond it), or `goal (D,)` itself when
        the path has reached the goal within reach (or when no path to it exists)."""
        d2 = self._sq_distances(z)
        here = int(np.argmin(d2))
        if route.toward[here] == NOWHERE:
            return goal  # no route known: fall back to the goal energy alone
        target = here
        for _ in range(len(self.latents)):  # a path visits each entry at most once
            after = int(route.toward[target])
            if after == GOAL:
                if float((z - goal).pow(2).sum()) <= self.radius:
                    return goal
                break
            if d2[after] > self.radius:
                break
            target = after
        return self.latents[target].to(goal)

    def _sq_distances(self, z: torch.Tensor) -> np.ndarray:
        """`(N,)` squared distances from `z (D,)` to every entry, as |m|^2 - 2 m.z + |z|^2: one matrix-vector
        product. The direct (N, D) difference cost 53 of a push-t decision's 112 ms (20,200 x 528 latents)."""
        z = z.to(self.latents)
        return (self._sq_norms - 2 * (self.latents @ z) + z.pow(2).sum()).clamp_min(0).cpu().numpy()


def reach_radius(episodes: list[torch.Tensor], steps: int, quantile: float = 0.5) -> float:
    """The `quantile` of squared latent distances between observations `steps` apart in the data: how
    far the data goes in that many steps. `episodes`: latents `(T_i + 1, D)` per episode."""
    gaps = [(z[steps:] - z[:-steps]).pow(2).sum(-1) for z in episodes if len(z) > steps]
    if not gaps:
        raise ValueError(f"no episode is longer than {steps} steps; lower landmark_steps")
    return float(torch.quantile(torch.cat(gaps), quantile))


@torch.no_grad()
def memory_from_episodes(
    model,
    episodes: list[dict],
    steps: int,
    device,
    quantile: float = 0.5,
    join_quantile: float = 0.5,
    batch: int = 512,
) -> dict:
    """The memory of `episodes` (dataset episodes: arrays with a leading time axis under `state` and/or
    `pixels`) for `LandmarkGraph(**memory)`: `latents (N, D)`, `episode (N,)`, the reach `radius` for
    `steps` steps at `quantile`, the `join` distance (the `join_quantile` of one-step squared distances)
    and the median one-step latent length `step`."""
    latents = []
    for episode in episodes:
        obs = {k: torch.as_tensor(episode[k]) for k in ("state", "pixels") if k in episode}
        length = len(next(iter(obs.values())))
        parts = [
            model.encode({k: v[i : i + batch].to(device) for k, v in obs.items()}) for i in range(0, length, batch)
        ]
        latents.append(torch.cat(parts).float().cpu())
    one_step = torch.cat([(z[1:] - z[:-1]).pow(2).sum(-1) for z in latents if len(z) > 1])
    if len(one_step) == 0:
        raise ValueError("the memory needs episodes with at least two observations")
    return {
        "latents": torch.cat(latents),
        "episode": torch.cat([torch.full((len(z),), i, dtype=torch.long) for i, z in enumerate(latents)]),
        "radius": reach_radius(latents, steps, quantile),
        "join": float(torch.quantile(one_step, join_quantile)),
        "step": float(one_step.sqrt().median()),
    }
