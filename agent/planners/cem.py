"""The cross-entropy method, with momentum and optional iCEM-style coloured noise."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from agent.planners.base import (
    Dynamics,
    Generators,
    Objective,
    PlanResult,
    action_dim,
    batch_problem,
    colored_normal,
    evaluate,
    initial_mean,
    smoothed_evaluate,
    unbatch,
)


@dataclass(frozen=True)
class CEMConfig:
    """CEM settings.

    Attributes:
        horizon: H. samples: candidates per iteration. iterations: refits. elites: candidates refitted to.
        init_std, min_std, max_std: the sampling std at start and its bounds.
        momentum: weight of the previous mean/std in each refit (0 = plain CEM).
        noise_beta: power-law exponent of the noise over time (0 white; iCEM uses 2-2.5).
        result: the plan returned: `best`, the lowest-energy candidate seen (default), or `mean`, the last
            refit's mean (scored once more). Why `mean`: the best of hundreds of candidates is also the one
            that most exploits the model's errors; the mean of the elites is what many of them agree on.
        perturbations: P; with P > 0 each candidate's energy is its mean over itself and P pairs of copies
            whose actions are perturbed by plus and minus noise of the same colour at `perturbation_std`, drawn
            once per plan and shared by all its candidates (so that energies compare across iterations).
            Why: a plan that wins only if executed exactly (a push that barely reaches the block's edge)
            scores what its neighbours score, so CEM prefers plans whose predicted outcome survives small
            errors. The pairs are antithetic so that the noise's first-order effect cancels and does not tilt
            the ranking. It costs 2P + 1 times the rollouts.
        perturbation_std: the copies' noise std, in action units.
    """

    horizon: int = 5
    samples: int = 256
    iterations: int = 6
    elites: int = 32
    init_std: float = 1.0
    min_std: float = 0.05
    max_std: float = 2.0
    momentum: float = 0.1
    noise_beta: float = 0.0
    result: str = "best"
    perturbations: int = 0
    perturbation_std: float = 0.1

    def __post_init__(self) -> None:
        if self.result not in ("best", "mean"):
            raise ValueError(f"CEM result={self.result!r}; choose best (the best candidate) or mean (the elites' mean)")
        if self.perturbations < 0:
            raise ValueError(f"CEM perturbations={self.perturbations}: pairs of perturbed copies per candidate, >= 0")
        if self.perturbations and self.perturbation_std <= 0:
            raise ValueError(f"CEM perturbation_std={self.perturbation_std}: perturbed copies need a std > 0")


class CEM:
    """Samples Gaussian action sequences, refits mean and std to the lowest-energy elites.

    The mean of the previous iteration is always one of the candidates, and the returned plan is the
    best candidate seen (`result="best"`), so the energy never gets worse across iterations; `result="mean"`
    returns the last refit's mean instead, whatever its energy.
    """

    def __init__(self, cfg: CEMConfig):
        self.cfg = cfg

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
        best_actions, best_energy = mean.clone(), torch.full((G,), float("inf"), device=device)
        info: dict[str, float] = {}
        offsets = self._offsets(generator, G, A, device)
        for it in range(cfg.iterations):
            noise = colored_normal(generator, G, (cfg.samples - 1, A, cfg.horizon), cfg.noise_beta, device)
            noise = noise.permute(3, 0, 1, 2)  # (H, G, N-1, A)
            cand = (mean.unsqueeze(2) + std.unsqueeze(2) * noise).clamp(-1, 1)
            cand = torch.cat([mean.unsqueeze(2), cand], dim=2)  # (H, G, N, A)
            energy = self._score(z0, cand, dynamics, objective, goal, offsets)  # (G, N)
            elite_e, idx = torch.topk(energy, cfg.elites, dim=1, largest=False)  # (G, K)
            elites = torch.gather(cand, 2, idx[None, :, :, None].expand(cfg.horizon, G, cfg.elites, A))
            better = elite_e[:, 0] < best_energy
            best_energy = torch.where(better, elite_e[:, 0], best_energy)
            best_actions = torch.where(better[None, :, None], elites[:, :, 0], best_actions)
            m = cfg.momentum
            mean = m * mean + (1 - m) * elites.mean(2)
            std = (m * std + (1 - m) * elites.std(2)).clamp(cfg.min_std, cfg.max_std)
            info[f"energy_it{it}"] = best_energy.mean().item()
        if cfg.result == "mean":
            best_actions = mean
            best_energy = self._score(z0, mean.unsqueeze(2), dynamics, objective, goal, offsets)[:, 0]
        info["energy"] = best_energy.mean().item()
        info["time_ms"] = (time.perf_counter() - start) * 1e3
        return unbatch(PlanResult(best_actions, best_energy, info, elites, std), single)

    def _offsets(self, generator: Generators, G: int, A: int, device) -> torch.Tensor | None:
        """`(H, G, 2P, A)` the perturbed copies' antithetic offsets, or None without perturbations."""
        cfg = self.cfg
        if not cfg.perturbations:
            return None
        noise = colored_normal(generator, G, (cfg.perturbations, A, cfg.horizon), cfg.noise_beta, device)
        offsets = cfg.perturbation_std * noise.permute(3, 0, 1, 2)  # (H, G, P, A)
        return torch.cat([offsets, -offsets], dim=2)

    @staticmethod
    def _score(z0, cand, dynamics, objective, goal, offsets) -> torch.Tensor:
        """`(G, N)` energies of `cand (H, G, N, A)`: plain, or their mean with the copies at `offsets`."""
        if offsets is None:
            return evaluate(z0, cand, dynamics, objective, goal)
        return smoothed_evaluate(z0, cand, offsets, dynamics, objective, goal)
