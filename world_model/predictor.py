"""The action-conditioned latent predictor: z_{t+1} = f(z_t, a_t) (optionally given past latents)."""

from __future__ import annotations

import torch
from torch import nn

from world_model.config import WorldModelConfig
from world_model.layers import latent_norm, mlp


class Predictor(nn.Module):
    """A (residual) MLP over the latent, optionally a short history of latents, and the action.

    Args:
        cfg: the world model config (`history`, `residual`, sizes).
        action_dim: A.
    """

    def __init__(self, cfg: WorldModelConfig, action_dim: int):
        super().__init__()
        self.history, self.residual = cfg.history, cfg.residual
        self.net = mlp(cfg.latent_dim * cfg.history + action_dim, cfg.hidden_dim, cfg.latent_dim, cfg.mlp_layers)
        self.norm = latent_norm(cfg.latent_norm, cfg.latent_dim, cfg.simnorm_group)

    def forward(self, z: torch.Tensor, a: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """Next latent.

        Args:
            z: `(B, D)` the current latent.
            a: `(B, A)` the action.
            past: `(history-1, B, D)` earlier latents, oldest first; missing ones repeat `z`.

        Returns:
            `(B, D)`.
        """
        context = [z]
        if self.history > 1:
            have = [] if past is None else list(past[-(self.history - 1) :])
            context = [z] * (self.history - 1 - len(have)) + have + [z]
        delta = self.net(torch.cat([*context, a], dim=-1))
        return self.norm(z + delta if self.residual else delta)
