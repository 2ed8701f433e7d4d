"""Gradient-based planning: Adam on action sequences through the differentiable rollout."""

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
    evaluate,
    initial_mean,
    standard_normal,
    unbatch,
)


@dataclass(frozen=True)
class GradientConfig:
    """Gradient planner settings.

    Attributes:
        restarts: sequences optimised in parallel per problem; the first starts at `init` (or zeros),
            the others at tanh-squashed Gaussian actions scaled by `init_scale`.
        iterations: Adam steps. lr: Adam's step size.
    """

    horizon: int = 5
    restarts: int = 8
    iterations: int = 50
    lr: float = 0.1
    init_scale: float = 1.0


class GradientPlanner:
    """Minimises the energy by projected Adam: after each step, actions are clipped to [-1, 1].

    Problems and restarts are independent, so one backward pass of the summed energy gives every
    sequence its own gradient. Gradients are taken with `torch.autograd.grad`, so the world model's
    parameters never accumulate any.
    """

    def __init__(self, cfg: GradientConfig):
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
        """Plan from `z0 (G, D)` (or `(D,)`); `init (H, G, A)` is the first restart."""
        cfg = self.cfg
        z0b, goalb, single = batch_problem(z0, goal)
        G, device, A = z0b.shape[0], z0b.device, action_dim(init, dynamics)
        first = initial_mean(init, cfg.horizon, G, A, device, single).unsqueeze(2)  # (H, G, 1, A)
        others = standard_normal(generator, G, (cfg.restarts - 1, cfg.horizon, A), device).permute(2, 0, 1, 3)
        others = others.tanh() * cfg.init_scale  # squashed into the box
        starts = torch.cat([first, others], dim=2)  # (H, G, R, A)
        return unbatch(self.refine(z0b, dynamics, objective, starts, goal=goalb), single)

    def refine(
        self,
        z0: torch.Tensor,
        dynamics: Dynamics,
        objective: Objective,
        starts: torch.Tensor,
        *,
        goal: torch.Tensor | None = None,
    ) -> PlanResult:
        """Optimise the sequences `starts (H, G, R, A)` from `z0 (G, D)`; return each problem's best."""
        start = time.perf_counter()
        H, G, R, A = starts.shape
        actions = starts.detach().clone().clamp(-1, 1).requires_grad_(True)
        opt = torch.optim.Adam([actions], lr=self.cfg.lr)
        best_e = torch.full((G,), float("inf"), device=z0.device)
        best_a = starts[:, :, 0].detach().clone()
        info: dict[str, float] = {}
        with torch.enable_grad():
            for it in range(self.cfg.iterations + 1):
                energy = evaluate(z0, actions, dynamics, objective, goal)  # (G, R)
                self._keep_best(energy.detach(), actions.detach(), best_e, best_a)
                info[f"energy_it{it}"] = best_e.mean().item()
                if it == self.cfg.iterations:
                    break
                (grad,) = torch.autograd.grad(energy.sum(), [actions])
                actions.grad = grad
                opt.step()
                with torch.no_grad():
                    actions.clamp_(-1, 1)
        info["energy"] = best_e.mean().item()
        info["time_ms"] = (time.perf_counter() - start) * 1e3
        return PlanResult(best_a, best_e, info, actions.detach())

    @staticmethod
    def _keep_best(energy, actions, best_e, best_a) -> None:
        e, idx = energy.min(dim=1)  # (G,)
        better = e < best_e
        chosen = torch.gather(actions, 2, idx[None, :, None, None].expand(actions.shape[0], -1, 1, actions.shape[3]))
        best_a.copy_(torch.where(better[None, :, None], chosen[:, :, 0], best_a))
        best_e.copy_(torch.where(better, e, best_e))
