"""Data-collection policies for reward-free datasets. None of them ever looks at the goal.

Each policy is `policy(rng, previous_action (A,), obs) -> action (A,)` in [-1, 1].
- `random`: uniform actions, independent across steps (DINO-WM's and PLDM's reacher/two-rooms data).
- `smooth`: temporally correlated noise (AR(1), coefficient 0.8), which travels further than `random`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Policy = Callable[[np.random.Generator, np.ndarray, dict], np.ndarray]
SMOOTH_BETA = 0.8


def random_policy(rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, previous.shape).astype(np.float32)


def smooth_policy(rng: np.random.Generator, previous: np.ndarray, obs: dict) -> np.ndarray:
    noise = rng.uniform(-1.0, 1.0, previous.shape)
    action = SMOOTH_BETA * previous + np.sqrt(1 - SMOOTH_BETA**2) * noise * np.sqrt(3.0)
    return np.clip(action, -1.0, 1.0).astype(np.float32)


POLICIES: dict[str, Policy] = {"random": random_policy, "smooth": smooth_policy}


def get_policy(name: str) -> Policy:
    if name not in POLICIES:
        raise ValueError(f"unknown collection policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name]
