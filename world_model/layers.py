"""Small building blocks: MLPs, latent normalisations, a vectorised ensemble of linear layers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SimNorm(nn.Module):
    """Simplicial normalisation (TD-MPC2): softmax over consecutive groups of `group` dimensions."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        shape = z.shape
        z = z.reshape(*shape[:-1], -1, self.group)  # (..., D/g, g)
        return F.softmax(z, dim=-1).reshape(shape)


class MapNorm(nn.Module):
    """LayerNorm (no affine) over the channels of each location of a flat, location-major feature map.

    `(..., L * C) -> (..., L * C)`: every location's C-vector gets zero mean and unit variance, so every
    location weighs alike in an L2 distance between maps.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        shape = z.shape
        x = z.reshape(*shape[:-1], -1, self.channels)  # (..., L, C)
        return F.layer_norm(x, (self.channels,)).reshape(shape)


class SplitNorm(nn.Module):
    """LayerNorm (no affine) over the leading `split` dimensions and over the rest, each on its own.

    `(..., D) -> (..., D)`: for a latent made of two parts (the state's and the pixels'), so that neither
    part's scale depends on the other's and an L2 distance weighs each by its number of dimensions. With
    `map_channels` C > 0 the rest is a flat, location-major feature map, normalised per location (`MapNorm`).
    """

    def __init__(self, split: int, map_channels: int = 0):
        super().__init__()
        self.split = split
        self.tail_norm = MapNorm(map_channels) if map_channels else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k = self.split
        head, tail = z[..., :k], z[..., k:]
        tail = self.tail_norm(tail) if self.tail_norm is not None else F.layer_norm(tail, (tail.shape[-1],))
        return torch.cat([F.layer_norm(head, (k,)), tail], dim=-1)


def latent_norm(kind: str, dim: int, group: int, map_channels: int = 0, split: int = 0) -> nn.Module:
    """The normalisation applied to every latent the model emits (per location for a feature map, per
    part for a latent split into `split` state dimensions and the pixels' rest)."""
    if kind == "layernorm" and split:
        return SplitNorm(split, map_channels)
    if kind == "layernorm" and map_channels:
        return MapNorm(map_channels)
    if kind == "simnorm":
        return SimNorm(group)
    if kind == "layernorm":
        return nn.LayerNorm(dim, elementwise_affine=False)
    return nn.Identity()


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int, *, out_norm: nn.Module | None = None) -> nn.Sequential:
    """`layers` hidden layers of Linear -> LayerNorm -> SiLU, then a Linear to `out_dim`.

    SiLU rather than TD-MPC2's Mish: as smooth (gradient planning needs that) and 5x cheaper on a CPU.
    """
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.SiLU()]
        dim = hidden
    mods.append(nn.Linear(dim, out_dim))
    if out_norm is not None:
        mods.append(out_norm)
    return nn.Sequential(*mods)


class EnsembleLinear(nn.Module):
    """K independent linear layers applied in one batched matmul: `(K, N, in) -> (K, N, out)`."""

    def __init__(self, k: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(k, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """`(K', N, in) -> (K', N, out)` for all members, or for the index tensor `members` (K',)."""
        if members is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(self.bias[members], x, self.weight[members])


class EnsembleMLP(nn.Module):
    """An ensemble of K MLPs (as `mlp`), vectorised: input `(K', N, in)` for all or some members."""

    def __init__(self, k: int, in_dim: int, hidden: int, out_dim: int, layers: int):
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.hidden = nn.ModuleList(EnsembleLinear(k, i, o) for i, o in zip(dims[:-1], dims[1:], strict=True))
        self.out = EnsembleLinear(k, dims[-1], out_dim)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.hidden:
            h = layer(x, members)
            x = F.silu(F.layer_norm(h, h.shape[-1:]))
        return self.out(x, members)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
