"""Planning with several independently trained world models at once (a model ensemble).

Why: on push-t the planner finds plans that its one model scores better than the push that made the goal,
and that miss in the simulator (`benchmarks/push_t_plan_check.py`): it exploits the model's errors. Models
trained from other seeds err elsewhere, so a plan that fools one rarely fools the others. Planning against
the mean of the members' goal energies (as PETS plans through an ensemble) asks a plan to look right to
every member.

To the MPC agent and the planners the ensemble is one model: its latent is the members' latents side by
side, `(N, D_1 + ... + D_K)`, and each member predicts its own part from its own part and the action. The
members must see the same observations and the same history length; their latent sizes may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EnsembleShape:
    """What the MPC agent reads of a model's config: the (summed) latent size and the history length."""

    latent_dim: int
    history: int


class ModelEnsemble(nn.Module):
    """K world models as one: `encode` and `predict` on concatenated latents (math only, no planning).

    Args:
        members: the world models (K >= 2), each with `encode`, `predict` and `cfg.latent_dim`/`cfg.history`.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 models, got {len(members)}")
        histories = sorted({m.cfg.history for m in members})
        if len(histories) > 1:
            raise ValueError(
                f"the ensemble's models see different history lengths {histories}; the planner keeps one window "
                "of past latents for all, so train the members with the same agent.model.overrides.history"
            )
        self.members = nn.ModuleList(members)
        self.dims = [m.cfg.latent_dim for m in members]
        self.cfg = EnsembleShape(latent_dim=sum(self.dims), history=histories[0])

    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """obs (each member's inputs, batch B) -> `(B, sum D_k)`, member 1's latent first."""
        return torch.cat([m.encode(obs) for m in self.members], dim=-1)

    def predict(self, z: torch.Tensor, a: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        """z `(B, sum D_k)`, a `(B, A)` [, past `(h-1, B, sum D_k)`] -> `(B, sum D_k)`: each member steps its part."""
        parts = z.split(self.dims, dim=-1)
        pasts = [None] * len(self.dims) if past is None else past.split(self.dims, dim=-1)
        return torch.cat([m.predict(p, a, q) for m, p, q in zip(self.members, parts, pasts, strict=True)], dim=-1)
