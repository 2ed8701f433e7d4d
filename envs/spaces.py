"""Observation spaces and action scaling shared by every adapter."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


def observation_space(obs: str, state_dim: int, size: int, *, goal: bool = False) -> spaces.Dict:
    """The dict space of an observation mode.

    `"state"` is float32 `(state_dim,)`; `"pixels"` is uint8 `(3, size, size)`. Goal tasks add a
    `"goal"` entry holding the same keys for the goal.
    """
    parts: dict[str, spaces.Space] = {}
    if "state" in obs.split("+"):
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

    Out-of-range actions are clipped (as TD-MPC2 does); non-finite ones raise, since they mean a bug
    upstream that clipping would hide. This runs every env step, so the common case costs two reductions.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray):
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.shape = low.shape
        self.identity = bool(np.all(low == -1.0) and np.all(high == 1.0))
        self.center, self.half_range = (high + low) / 2, (high - low) / 2

    def __call__(self, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64).reshape(self.shape)
        lo, hi = action.min(), action.max()
        if not (lo >= -1.0 and hi <= 1.0):  # NaN fails both comparisons and lands here too
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError(f"action must be finite, got {action}")
            action = np.clip(action, -1.0, 1.0)
        return action if self.identity else self.center + action * self.half_range
