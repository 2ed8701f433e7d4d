"""Objectives (energies, lower is better) over world-model rollouts.

Contract: `objective(zs (H+1, N, D), actions (H, N, A), goal (N, D) | None) -> energy (N,)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from agent.planners.base import rollout

Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


class GoalEnergy:
    """Distance between predicted latents and the goal latent.

    Args:
        metric: `l2` (squared Euclidean, as DINO-WM), `l1` (as V-JEPA 2-AC) or `cosine` (1 - cos).
        steps: `final` (the last predicted latent) or `all` (mean over predicted steps 1..H).
        weights: `(D,)` per-dimension weights of the `l2` or `l1` terms (None: all 1).
    """

    def __init__(self, metric: str = "l2", steps: str = "final", weights: torch.Tensor | None = None):
        if metric not in ("l1", "l2", "cosine"):
            raise ValueError(f"goal metric {metric!r}; choose l1, l2 or cosine")
        if steps not in ("final", "all"):
            raise ValueError(f"goal steps {steps!r}; choose final or all")
        if weights is not None and metric == "cosine":
            raise ValueError("per-dimension goal weights apply to the l2 and l1 metrics, not cosine")
        self.metric, self.steps, self.weights = metric, steps, weights

    def distance(self, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """`(..., N, D)` against `(N, D)` -> `(..., N)`."""
        if self.metric == "cosine":
            return 1 - F.cosine_similarity(z, goal.expand_as(z), dim=-1)
        terms = (z - goal).pow(2) if self.metric == "l2" else (z - goal).abs()
        return (terms if self.weights is None else terms * self.weights).sum(-1)

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None) -> torch.Tensor:
        if goal is None:
            raise ValueError("a goal energy needs goal= (the goal's latent)")
        pred = zs[-1] if self.steps == "final" else zs[1:]
        d = self.distance(pred, goal)
        return d if self.steps == "final" else d.mean(0)


class RewardEnergy:
    """Minus (discounted predicted rewards + discounted terminal value).

    Args:
        reward: `(z (N, D), a (N, A)) -> r (N,)`.
        value: `(z (N, D)) -> V (N,)` at the final latent, or None.
        discount: gamma.
    """

    def __init__(self, reward: Callable, value: Callable | None = None, discount: float = 0.99):
        self.reward, self.value, self.discount = reward, value, discount

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        H, N = actions.shape[:2]
        # One call over all H steps: the same arithmetic as H calls, without H-1 rounds of op overhead.
        rewards = self.reward(zs[:-1].reshape(H * N, -1), actions.reshape(H * N, -1)).view(H, N)
        discounts = self.discount ** torch.arange(H, device=zs.device, dtype=zs.dtype)
        ret = (discounts[:, None] * rewards).sum(0)
        if self.value is not None:
            ret = ret + self.discount**H * self.value(zs[H])
        return -ret


class PriorDeviation:
    """Mean squared distance of a plan's actions from a policy prior's mean actions along the plan's own
    predicted latents, in units of `scale()` (e.g. the running spread of values).

    Why: a reward-driven plan is scored mostly by its terminal value. Where a few steps of reward cannot
    tell plans apart, the planner picks by the value's errors, which are largest in states the agent never
    visited, and can drive it there for good (a cheetah-run agent at 100k walked backwards in every
    evaluation while its prior alone returned 355). This term asks a plan that leaves the prior to earn it.

    Args:
        prior_mean: `(z (N, D)) -> a (N, A)`, the prior's deterministic action.
        scale: `() -> float`, energy units per unit of mean squared action distance.
    """

    def __init__(self, prior_mean: Callable, scale: Callable[[], float]):
        self.prior_mean, self.scale = prior_mean, scale

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        H, N = actions.shape[:2]
        mean = self.prior_mean(zs[:-1].reshape(H * N, -1)).view(H, N, -1)  # (H, N, A)
        return self.scale() * (actions - mean).pow(2).mean(-1).mean(0)


class ActionPenalty:
    """Penalises large actions and, with `smoothness`, large changes between consecutive actions."""

    def __init__(self, magnitude: float = 1.0, smoothness: float = 0.0):
        self.magnitude, self.smoothness = magnitude, smoothness

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        energy = self.magnitude * actions.pow(2).sum(-1).mean(0)  # (N,)
        if self.smoothness and actions.shape[0] > 1:
            energy = energy + self.smoothness * (actions[1:] - actions[:-1]).pow(2).sum(-1).mean(0)
        return energy


class WeightedSum:
    """`sum_i w_i * objective_i`: e.g. a goal energy plus a small action penalty."""

    def __init__(self, terms: Sequence[tuple[float, Objective]]):
        self.terms = list(terms)

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None) -> torch.Tensor:
        return sum(w * f(zs, actions, goal) for w, f in self.terms)


class DriftCorrected:
    """An objective on rollouts less the model's own drift: `objective(zs - drift, actions, goal)`, with
    `drift (H+1, 1, D)` the displacement of the model's zero-action rollout from the plan's start `z0 (D,)`,
    `z_null_t - z0` (`zero_action_drift`, computed once per horizon H asked for, without gradients).

    Why: where nothing moves unless pushed (push-t's block stays where a push leaves it), a zero-action
    rollout should stand still, and what it moves is the predictor's bias. On push-t that bias walks the
    moments towards the goal: a stalled block 0.033 units off scored 16.8 observed and 9.3 after 20 steps of
    doing nothing, so every plan looked like progress, the pusher stood still, and episodes ran out
    stalled. Less the drift, a plan earns only what its actions change.
    """

    def __init__(self, objective: Objective, dynamics: Callable, z0: torch.Tensor, action_dim: int):
        self.objective, self.dynamics, self.z0, self.action_dim = objective, dynamics, z0, action_dim
        self._drift: torch.Tensor | None = None

    def drift(self, horizon: int) -> torch.Tensor:
        """`(H+1, 1, D)` the zero-action rollout's displacement over `horizon` steps."""
        if self._drift is None or self._drift.shape[0] != horizon + 1:
            with torch.no_grad():
                self._drift = zero_action_drift(self.dynamics, self.z0, horizon, self.action_dim)
        return self._drift

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None) -> torch.Tensor:
        return self.objective(zs - self.drift(zs.shape[0] - 1), actions, goal)


def zero_action_drift(dynamics: Callable, z0: torch.Tensor, horizon: int, action_dim: int) -> torch.Tensor:
    """`(H+1, 1, D)`: the zero-action rollout of `dynamics` from `z0 (D,)`, less `z0` (row 0 is zeros)."""
    z = z0.unsqueeze(0)  # (1, D)
    return rollout(z, z.new_zeros(horizon, 1, action_dim), dynamics) - z  # (H+1, 1, D)


class GoalReached:
    """`reached(z (D,), goal (D,)) -> bool`: the latent's goal energy (`energy.distance`) is at most
    `threshold`. The agent's own test that it stands at the goal, calibrated per model
    (`benchmarks.push_t_hold`); the environment's success is never read."""

    def __init__(self, energy: GoalEnergy, threshold: float):
        if threshold <= 0:
            raise ValueError(f"a goal-reached threshold must be > 0, got {threshold}")
        self.energy, self.threshold = energy, threshold

    def __call__(self, z: torch.Tensor, goal: torch.Tensor) -> bool:
        return bool(self.energy.distance(z.unsqueeze(0), goal.unsqueeze(0))[0] <= self.threshold)


class PoseReached:
    """`reached(z (D,), goal (D,)) -> bool`: the glimpse's moments in the two latents place the object within
    `position` and `turn` of the goal's pose, the way success's tolerances do (a box, not a weighted sum).

    The latent's last `2 + 2 * len(orders)` dimensions are `gain` times the foreground's centroid and, per
    orientation order n, a pair whose phase is n times the object's angle (`world_model.encoders.Glimpse`).
    The turn is read from the highest order (the finest: 1 degree rms on push-t) as its phase difference over
    n; each lower order must agree within half the highest one's period (an n-fold moment cannot tell a
    turn from its 360/n-degree aliases, the first order can).

    Why: near the goal the goal energy mixes the learned dimensions' noise into a weighted sum, and its hold
    threshold trades early holds against missed ones (precision 0.95 at recall 0.70-0.76 on push-t's
    calibration scenes); the moments' own box tells the same scenes at precision 0.99 and recall 0.82
    (`python -m benchmarks.push_t_hold --pose`). The environment's success is never read.

    Args:
        orders: the model's `moment_orders`. gain: its `moment_gain`.
        position: the largest centroid shift, in the glimpse's frame coordinates ([-1, 1] across the frame).
        turn: the largest turn, in degrees.
    """

    def __init__(self, orders: Sequence[int], gain: float, position: float, turn: float):
        if position <= 0 or turn <= 0:
            raise ValueError(f"a pose hold needs a position and a turn > 0, got {position} and {turn}")
        if not orders or gain <= 0:
            raise ValueError("a pose hold reads the glimpse's moments: train with moment_gain > 0")
        self.orders, self.gain = tuple(orders), gain
        self.position, self.turn = position, math.radians(turn)
        self.dims = 2 + 2 * len(self.orders)

    def errors(self, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """`(..., D)` latents against goals -> `(..., 1 + len(orders))`: the centroid's shift, then per order
        the turn its phase reads (radians, in [0, pi / n])."""
        here, there = z[..., -self.dims :] / self.gain, goal[..., -self.dims :] / self.gain
        columns = [(here[..., :2] - there[..., :2]).norm(dim=-1)]
        for i, n in enumerate(self.orders):
            a = torch.complex(here[..., 2 + 2 * i], here[..., 3 + 2 * i])
            b = torch.complex(there[..., 2 + 2 * i], there[..., 3 + 2 * i])
            columns.append(torch.angle(a * b.conj()).abs() / n)
        return torch.stack(columns, dim=-1)

    def within(self, errors: torch.Tensor, position: float, turn: float) -> torch.Tensor:
        """`(...)` whether `errors` (as `errors` gives them) are within `position` and `turn` (radians), the
        lower orders agreeing with the finest."""
        finest = self.orders.index(max(self.orders))
        inside = (errors[..., 0] <= position) & (errors[..., 1 + finest] <= turn)
        for i in range(len(self.orders)):
            if i != finest:
                inside &= errors[..., 1 + i] <= math.pi / max(self.orders)
        return inside

    def __call__(self, z: torch.Tensor, goal: torch.Tensor) -> bool:
        return bool(self.within(self.errors(z, goal), self.position, self.turn))
