"""Anti-collapse terms and collapse measures for the JEPA latent.

Each term takes the batch statistics through `sync`, a callable that averages a tensor over every
process of a distributed run (identity in one process; `world_model.distributed.BatchSync` with N
ranks). The terms are built from batch means only, so N ranks that all-reduce them optimise exactly the
objective of one process holding the global batch. A `sync` may carry `world_size` (the global batch is
`world_size` local ones) and `shared(x)` (rank 0's tensor everywhere); plain callables mean one process.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Sync = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _global_n(n: int, sync: Sync) -> int:
    return n * getattr(sync, "world_size", 1)


def vicreg(
    z: torch.Tensor, *, std_target: float, cov_weight: float, sync: Sync = _identity
) -> tuple[torch.Tensor, dict[str, float]]:
    """Variance-covariance regulariser (VICReg/VCReg) on latents `(N, D)`.

    Variance: a hinge pushing every dimension's std up to `std_target`. Covariance: the squared
    off-diagonal covariances, summed and divided by D, pushing dimensions to decorrelate.
    """
    n, d = z.shape
    mean = sync(z.mean(0))  # (D,)
    second = sync(z.T @ z / n)  # (D, D)
    total = _global_n(n, sync)
    cov = (second - torch.outer(mean, mean)) * (total / max(total - 1, 1))
    std = torch.sqrt(torch.diagonal(cov).clamp_min(0) + 1e-4)
    var_loss = F.relu(std_target - std).mean()
    off = cov - torch.diag(torch.diagonal(cov))
    cov_loss = off.pow(2).sum() / d
    return var_loss + cov_weight * cov_loss, {"vicreg_var": var_loss.item(), "vicreg_cov": cov_loss.item()}


def sigreg(
    z: torch.Tensor, *, directions: int, knots: int, generator: torch.Generator, sync: Sync = _identity
) -> tuple[torch.Tensor, dict[str, float]]:
    """SIGReg (LeJEPA/LeWM): an Epps-Pulley test that random 1-D projections of z are N(0, 1).

    Projects latents `(N, D)` on `directions` random unit vectors (drawn from `generator`, new each
    call), and compares each projection's empirical characteristic function with the standard
    Gaussian's at `knots` points in [0, 5] (the function is symmetric), weighted by exp(-t^2/2).
    """
    n, d = z.shape
    u = torch.randn(d, directions, generator=generator, device=generator.device).to(z)
    u = u / u.norm(dim=0, keepdim=True)
    u = getattr(sync, "shared", _identity)(u)  # every rank must project on the same directions
    proj = z @ u  # (N, M)
    t = torch.linspace(0.0, 5.0, knots, device=z.device, dtype=z.dtype)
    tp = proj.unsqueeze(-1) * t  # (N, M, K)
    ecf_cos, ecf_sin = sync(torch.cos(tp).mean(0)), sync(torch.sin(tp).mean(0))  # (M, K)
    gauss = torch.exp(-0.5 * t**2)
    weights = gauss * (t[1] - t[0]) * 2  # trapezoid-free Riemann weights; x2 for t < 0
    stat = ((ecf_cos - gauss) ** 2 + ecf_sin**2) @ weights  # (M,)
    loss = stat.mean() * _global_n(n, sync)  # the statistic scales with the (global) sample count
    return loss, {"sigreg": loss.item()}


@torch.no_grad()
def collapse_metrics(z: torch.Tensor) -> dict[str, float]:
    """Per-dimension std (mean and min over dimensions) and effective rank of latents `(N, D)`.

    Effective rank = exp(entropy of the normalised singular values of the centred batch): D for
    isotropic latents, 1 when they lie on a line, and ~0 std when they have collapsed to a point.
    """
    z = z.detach().float()
    std = z.std(0)
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12)
    rank = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())
    return {"z_std": std.mean().item(), "z_std_min": std.min().item(), "z_rank": rank.item()}
