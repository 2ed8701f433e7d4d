"""Observation spaces and action scaling shared by every adapter."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


def observation_space(obs: str, state_dim: int, size: int, *, goal: bool = False) -> spaces.Dict:
    """The dict space of an observation mode.

    `"state"` is float32 `(state_dim,)` (for `state` and `proprio` modes alike); `"pixels"` is uint8
    `(3, size, size)`. Goal tasks add a `"goal"` entry holding the same keys for the goal.
    """
    parts: dict[str, spaces.Space] = {}
    if {"state", "proprio"} & set(obs.split("+")):
        parts["state"] = spaces.Box(-np.inf, np.inf, (state_dim,), np.float32)
    if "pixels" in obs.split("+"):
        parts["pixels"] = spaces.Box(0, 255, (3, size, size), np.uint8)
    if goal:
        parts["goal"] = spaces.Dict(dict(parts))
    return spaces.Dict(parts)


def unit_action_space(dim: int) -> spaces.Box:
    """Every task acts in `[-1, 1]^dim`, float32."""
    return spaces.Box(-1.0, 1.0, (dim,), np.float32)


class ActionScaler:
    """Maps actions from `[-1, 1]` to a task's native bounds `[low, high]`.

    Out-of-range actions are clipped (as TD-MPC2 does); NaN raises, since it means a bug upstream that
    clipping would hide. This runs every env step and actions are short, so the in-range check works on
    a Python list (min, max and a NaN-propagating sum: under 1 us, against 8 us for numpy's calls), and
    an in-range action for a task whose bounds are already [-1, 1] passes through without a copy.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray):
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.shape = low.shape
        self.identity = bool(np.all(low == -1.0) and np.all(high == 1.0))
        self.center, self.half_range = (high + low) / 2, (high - low) / 2
        self._affine = list(zip(self.center.tolist(), self.half_range.tolist(), strict=True))

    def __call__(self, action: np.ndarray) -> np.ndarray:
        flat = isinstance(action, np.ndarray) and action.ndim == 1
        values = action.tolist() if flat else np.asarray(action, dtype=np.float64).ravel().tolist()
        if len(values) != self.shape[0]:
            raise ValueError(f"action has {len(values)} entries, the task takes {self.shape[0]}")
        total = sum(values)
        if total != total:  # NaN (or inf - inf) somewhere
            raise ValueError(f"action must not be NaN, got {action}")
        if min(values) >= -1.0 and max(values) <= 1.0:
            if self.identity and flat:
                return action  # in range and already native: no copy (the simulator copies it)
        else:
            values = [-1.0 if v < -1.0 else 1.0 if v > 1.0 else v for v in values]
        if self.identity:
            return np.array(values)
        return np.array([c + v * h for v, (c, h) in zip(values, self._affine, strict=True)])
