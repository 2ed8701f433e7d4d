"""Sampling first, then gradient refinement of the best candidates."""

from __future__ import annotations

import time

import torch

from agent.planners.base import Dynamics, Generators, Objective, PlanResult, batch_problem, unbatch
from agent.planners.gradient import GradientPlanner


class HybridPlanner:
    """Runs a sampling planner (CEM or MPPI), then refines its `top_k` elites with gradient steps.

    The sampler's result is kept as a candidate, so refinement can only lower the energy.
    """

    def __init__(self, sampler, refiner: GradientPlanner, top_k: int = 4):
        self.sampler, self.refiner, self.top_k = sampler, refiner, top_k

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
        start = time.perf_counter()
        z0b, goalb, single = batch_problem(z0, goal)
        initb = init.unsqueeze(1) if single and init is not None and init.dim() == 2 else init
        sampled = self.sampler.plan(z0b, dynamics, objective, goal=goalb, init=initb, generator=generator)
        starts = torch.cat([sampled.actions.unsqueeze(2), sampled.elites[:, :, : self.top_k - 1]], dim=2)
        refined = self.refiner.refine(z0b, dynamics, objective, starts, goal=goalb)
        better = refined.energy < sampled.energy
        actions = torch.where(better[None, :, None], refined.actions, sampled.actions)
        energy = torch.minimum(refined.energy, sampled.energy)
        info = {f"sample_{k}": v for k, v in sampled.info.items()}
        info.update({f"refine_{k}": v for k, v in refined.info.items()})
        info["energy"] = energy.mean().item()
        info["time_ms"] = (time.perf_counter() - start) * 1e3
        return unbatch(PlanResult(actions, energy, info, None, sampled.std), single)
