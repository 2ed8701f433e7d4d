"""MPPI as TD-MPC2 uses it: temperature-weighted refits over elites, optional policy-prior candidates."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from agent.planners.base import (
    Dynamics,
    Generators,
    Objective,
    PlanResult,
    action_dim,
    batch_problem,
    evaluate,
    initial_mean,
    standard_normal,
    unbatch,
)

# proposal(z0 (G, D), count) -> (H, G, count, A): candidate sequences from a policy prior.
Proposal = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class MPPIConfig:
    """MPPI settings. Defaults are our CPU budget (128 samples x 3 iterations, 16 elites, 12 prior
    trajectories: under 20 ms per action on one core here); TD-MPC2's are 512 x 6, 64 elites, 24 prior
    trajectories. Both: horizon 3,
    temperature 0.5, std in [0.05, 2].

    Attributes:
        temperature: scales energies in the elite weights exp(-temperature * (E - E_min)).
        prior_samples: candidates taken from `proposal` each plan (0 without a policy prior).
        score_plan: evaluate the returned plan once more so that `PlanResult.energy` is exactly its
            energy (one more rollout: a quarter of the cost at 3 iterations). Off, the energy is the
            elites' weighted mean energy, an estimate; an agent that only acts needs no more (TD-MPC2's
            does not re-evaluate either).
    """

    horizon: int = 3
    samples: int = 128
    iterations: int = 3
    elites: int = 16
    prior_samples: int = 12
    temperature: float = 0.5
    init_std: float = 2.0
    min_std: float = 0.05
    max_std: float = 2.0
    score_plan: bool = True


class MPPI:
    """Model-predictive path integral control over a batch of problems.

    The returned plan is the weight-averaged elite of the last iteration (deterministic); with
    `score_plan` its energy is evaluated once more so that `PlanResult.energy` is the energy of what is
    returned.
    """

    def __init__(self, cfg: MPPIConfig, proposal: Proposal | None = None):
        self.cfg = cfg
        self.proposal = proposal

    def plan(
        self,
        z0: torch.Tensor,
        dynamics: Dynamics,
        objective: Objective,
        *,
        goal: torch.Tensor | None = None,
        init: torch.Tensor | None = None,
        generator: Generators = None,
    ) -> PlanResult:
        """Plan from `z0 (G, D)` (or `(D,)`); `init (H, G, A)` warm-starts the mean."""
        start = time.perf_counter()
        cfg = self.cfg
        z0, goal, single = batch_problem(z0, goal)
        G, device, A = z0.shape[0], z0.device, action_dim(init, dynamics)
        mean = initial_mean(init, cfg.horizon, G, A, device, single)
        std = torch.full_like(mean, cfg.init_std)
        prior = None
        if self.proposal is not None and cfg.prior_samples > 0:
            prior = self.proposal(z0, cfg.prior_samples).clamp(-1, 1)  # (H, G, P, A)
        n_random = cfg.samples - (0 if prior is None else prior.shape[2])
        info: dict[str, float] = {}
        for it in range(cfg.iterations):
            noise = standard_normal(generator, G, (n_random, cfg.horizon, A), device).permute(2, 0, 1, 3)
            cand = (mean.unsqueeze(2) + std.unsqueeze(2) * noise).clamp(-1, 1)  # (H, G, N, A)
            if prior is not None:
                cand = torch.cat([prior, cand], dim=2)
            energy = evaluate(z0, cand, dynamics, objective, goal)  # (G, N)
            elite_e, idx = torch.topk(energy, cfg.elites, dim=1, largest=False)  # (G, K)
            elites = torch.gather(cand, 2, idx[None, :, :, None].expand(cfg.horizon, G, cfg.elites, A))
            weights = torch.softmax(-cfg.temperature * (elite_e - elite_e[:, :1]), dim=1)  # (G, K)
            w = weights[None, :, :, None]
            mean = (w * elites).sum(2)
            std = ((w * (elites - mean.unsqueeze(2)) ** 2).sum(2)).sqrt().clamp(cfg.min_std, cfg.max_std)
            info[f"energy_it{it}"] = elite_e[:, 0].mean().item()
        if cfg.score_plan:
            final = evaluate(z0, mean.unsqueeze(2), dynamics, objective, goal)[:, 0]  # (G,)
        else:
            final = (weights * elite_e).sum(1)  # (G,) an estimate of the mean's energy
        info["energy"] = final.mean().item()
        info["time_ms"] = (time.perf_counter() - start) * 1e3
        return unbatch(PlanResult(mean, final, info, elites, std, weights), single)
