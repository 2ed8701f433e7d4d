"""Heads for reward-driven tasks: reward, a value ensemble, termination; two-hot regression."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from world_model.config import WorldModelConfig
from world_model.layers import EnsembleMLP, mlp


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


class TwoHot(nn.Module):
    """Two-hot encoding over `num_bins` bins evenly spaced in symlog space on `[vmin, vmax]`.

    Regression as classification (DreamerV3, TD-MPC2): robust to the scale of returns.
    """

    def __init__(self, num_bins: int, vmin: float, vmax: float):
        super().__init__()
        self.register_buffer("bins", torch.linspace(vmin, vmax, num_bins), persistent=False)
        self.vmin, self.vmax, self.num_bins = vmin, vmax, num_bins

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Scalars `(...)` -> two-hot targets `(..., num_bins)`."""
        x = symlog(x).clamp(self.vmin, self.vmax)
        pos = (x - self.vmin) / (self.vmax - self.vmin) * (self.num_bins - 1)
        low = pos.floor().long().clamp(max=self.num_bins - 2)
        frac = (pos - low).unsqueeze(-1)
        target = torch.zeros(*x.shape, self.num_bins, device=x.device, dtype=x.dtype)
        target.scatter_(-1, low.unsqueeze(-1), 1 - frac)
        target.scatter_add_(-1, (low + 1).unsqueeze(-1), frac)
        return target

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits `(..., num_bins)` -> expected scalars `(...)`, in fp32 even under autocast (bf16 keeps ~3
        significant digits: a value of 200 would be off by up to 1, reward-sized differences lost)."""
        with torch.autocast(logits.device.type, enabled=False):
            return symexp(F.softmax(logits.float(), dim=-1) @ self.bins)

    def loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of logits `(..., num_bins)` against scalars `(...)`, per element `(...)`."""
        return -(self.encode(x) * F.log_softmax(logits, dim=-1)).sum(-1)


class RewardHead(nn.Module):
    """r(z, a): `(B, D)`, `(B, A)` -> logits `(B, num_bins)`."""

    def __init__(self, cfg: WorldModelConfig, action_dim: int):
        super().__init__()
        self.net = mlp(cfg.latent_dim + action_dim, cfg.hidden_dim, cfg.num_bins, cfg.mlp_layers)
        nn.init.zeros_(self.net[-1].weight)  # start by predicting 0 reward

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, a], dim=-1))


class ValueEnsemble(nn.Module):
    """K action-value functions Q_k(z, a), vectorised.

    `(B, D)`, `(B, A)` -> logits `(K, B, num_bins)`, or `(K', B, num_bins)` for the index tensor
    `members` (planning evaluates 2 random members, as TD-MPC2 does, at 2/K of the cost).
    """

    def __init__(self, cfg: WorldModelConfig, action_dim: int):
        super().__init__()
        self.k = cfg.num_values
        self.net = EnsembleMLP(self.k, cfg.latent_dim + action_dim, cfg.hidden_dim, cfg.num_bins, cfg.mlp_layers)
        nn.init.zeros_(self.net.out.weight)

    def forward(self, z: torch.Tensor, a: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        k = self.k if members is None else len(members)
        x = torch.cat([z, a], dim=-1).unsqueeze(0).expand(k, -1, -1)  # (K', B, D+A)
        return self.net(x, members)


class TerminationHead(nn.Module):
    """P(episode ends at z): `(B, D)` -> logits `(B,)`."""

    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        self.net = mlp(cfg.latent_dim, cfg.hidden_dim, 1, cfg.mlp_layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)
