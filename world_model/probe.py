"""A probe decoder from latents to small images, only to *show* what the model imagines.

It is trained on detached latents, so it never shapes the encoder or the predictor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProbeDecoder(nn.Module):
    """z `(B, D)` -> image `(B, 3, S, S)` in [0, 1]."""

    def __init__(self, latent_dim: int, hidden_dim: int, size: int):
        super().__init__()
        self.size = size
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, 3 * size * size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z.detach())).view(-1, 3, self.size, self.size)

    def target(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 `(B, C, H, W)` (the last 3 channels are the newest frame) -> `(B, 3, S, S)` in [0, 1]."""
        return F.adaptive_avg_pool2d(pixels[:, -3:].float() / 255.0, self.size)

    def loss(self, z: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self(z), self.target(pixels))
