"""The policy prior: a tanh-squashed Gaussian policy over latents (as in TD-MPC2).

It proposes candidate plans to MPPI, supplies the action at which the value bootstraps, and is trained
to maximise the value with an entropy bonus.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from world_model.layers import mlp

LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0


class GaussianPolicy(nn.Module):
    """pi(a | z): `(N, D)` -> actions `(N, A)` in (-1, 1)."""

    def __init__(self, latent_dim: int, hidden_dim: int, action_dim: int, layers: int = 2):
        super().__init__()
        self.net = mlp(latent_dim, hidden_dim, 2 * action_dim, layers)
        self.action_dim = action_dim

    def forward(
        self,
        z: torch.Tensor,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
        squashed: bool = True,
    ):
        """Sample (or take the mean when `deterministic`).

        Returns:
            `(action (N, A), log_prob (N,))`; the log-probability is the action's, with the tanh
            correction, or with `squashed=False` the Gaussian sample's before the tanh (the one TD-MPC2's
            entropy bonus reads).
        """
        # The distribution's math in fp32 even under bf16 autocast: bf16 rounds tanh(u) to exactly +-1 for
        # |u| > ~3, and log(1 - 1) is -inf (a NaN policy within a few updates).
        mean, log_std = self.net(z).float().chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        if deterministic:
            u = mean
            eps = torch.zeros_like(mean)
        else:
            eps = torch.randn(mean.shape, generator=generator, device=generator.device if generator else None).to(mean)
            u = mean + eps * log_std.exp()
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        action = torch.tanh(u)
        if squashed:
            log_prob = log_prob - torch.log1p(-action.pow(2) + 1e-6).sum(-1)  # change of variables through tanh
        return action, log_prob


def policy_proposal(policy: GaussianPolicy, dynamics, horizon: int, generator: torch.Generator):
    """MPPI's `proposal(z0 (G, D), count) -> (H, G, count, A)`: sequences from rolling the policy out."""

    @torch.no_grad()
    def propose(z0: torch.Tensor, count: int) -> torch.Tensor:
        G = z0.shape[0]
        z = z0.repeat_interleave(count, dim=0)  # (G*count, D)
        actions = []
        for _ in range(horizon):
            a, _ = policy(z, generator)
            actions.append(a)
            z = dynamics(z, a)
        return torch.stack(actions).view(horizon, G, count, -1)

    return propose
