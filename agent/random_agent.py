"""A uniformly random agent (the baseline every evaluation is compared with)."""

from __future__ import annotations

import numpy as np


class RandomAgent:
    """Uniform actions in [-1, 1]^A from its own generator."""

    def __init__(self, action_dim: int, *, rng: np.random.Generator):
        self.action_dim, self.rng = action_dim, rng

    def reset(self) -> None:
        """Nothing to forget between episodes."""

    def act(self, obs: dict, *, goal: dict | None = None, explore: bool = False) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)

    def update(self, batch) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
