"""The training batch every loss consumes: time-major sequences that never cross an episode boundary."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """Sequences of T transitions for B episodes.

    Attributes:
        obs: `{"state": (T+1, B, S) float32, "pixels": (T+1, B, 3, H, W) uint8}` (either or both).
        action: `(T, B, A)` in [-1, 1]; `action[t]` leads from `obs[t]` to `obs[t+1]`.
        reward: `(T, B)` or None for reward-free data.
        terminated: `(T, B)` float (1 where the episode ended at `obs[t+1]`) or None.
    """

    obs: dict[str, torch.Tensor]
    action: torch.Tensor
    reward: torch.Tensor | None = None
    terminated: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        """The batch on `device` (pixels stay uint8; they become floats inside the encoder)."""

        def move(x):
            return None if x is None else x.to(device, non_blocking=True)

        return Batch(
            {k: move(v) for k, v in self.obs.items()},
            move(self.action),
            move(self.reward),
            move(self.terminated),
        )

    @property
    def horizon(self) -> int:
        return self.action.shape[0]

    @property
    def batch_size(self) -> int:
        return self.action.shape[1]
