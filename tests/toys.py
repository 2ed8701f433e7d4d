"""Toy systems with known structure, shared by the world-model and planner tests."""

from __future__ import annotations

import torch

from world_model import Batch


class LinearToy:
    """x' = A x + B u, observed as o = P x through a fixed random projection.

    Args:
        state_dim, action_dim, obs_dim: sizes of x, u and o.
        generator: fixes A, B and P.
    """

    def __init__(self, state_dim: int = 4, action_dim: int = 2, obs_dim: int = 12, *, generator: torch.Generator):
        g = generator
        q, _ = torch.linalg.qr(torch.randn(state_dim, state_dim, generator=g))
        self.A = 0.9 * q  # a stable rotation-like map
        self.B = torch.randn(state_dim, action_dim, generator=g) * 0.5
        self.P = torch.randn(obs_dim, state_dim, generator=g) / state_dim**0.5
        self.state_dim, self.action_dim = state_dim, action_dim

    def batch(self, batch_size: int, horizon: int, generator: torch.Generator) -> tuple[Batch, torch.Tensor]:
        """A batch of sequences and the true states `(T+1, B, state_dim)`."""
        x = torch.randn(batch_size, self.state_dim, generator=generator)
        u = torch.rand(horizon, batch_size, self.action_dim, generator=generator) * 2 - 1
        xs = [x]
        for t in range(horizon):
            xs.append(xs[-1] @ self.A.T + u[t] @ self.B.T)
        states = torch.stack(xs)
        return Batch({"state": states @ self.P.T}, u), states
