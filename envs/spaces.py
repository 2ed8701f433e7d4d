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

    Out-of-range actions are clipped (as TD-MPC2 does); NaN raises, since it means a bug upstream that
    clipping would hide. This runs every env step and actions are short, so plain Python floats beat
    numpy's per-call overhead here (2 us against 8 us).
    """

    def __init__(self, low: np.ndarray, high: np.ndarray):
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.shape = low.shape
        self.identity = bool(np.all(low == -1.0) and np.all(high == 1.0))
        self.center, self.half_range = (high + low) / 2, (high - low) / 2

    def __call__(self, action: np.ndarray) -> np.ndarray:
        values = np.asarray(action).ravel().tolist()
        if len(values) != self.shape[0]:
            raise ValueError(f"action has {len(values)} entries, the task takes {self.shape[0]}")
        out = []
        for v in values:
            if not -1.0 <= v <= 1.0:
                if v != v:
                    raise ValueError(f"action must not be NaN, got {action}")
                v = -1.0 if v < 0 else 1.0
            out.append(v)
        native = np.array(out)
        return native if self.identity else self.center + native * self.half_range
