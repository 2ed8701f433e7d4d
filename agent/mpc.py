"""The model-predictive-control agent: plan in latent space, execute, shift the plan, replan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agent.planners.base import Objective, shift
from agent.waypoints import LandmarkGraph


class LatentDynamics:
    """The world model's predictor as a planner's `dynamics(z (N, D), a (N, A)) -> (N, D)`."""

    def __init__(self, model, action_dim: int):
        self.model, self.action_dim = model, action_dim

    def __call__(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.model.predict(z, a)


def obs_to_tensor(obs: dict, device) -> dict[str, torch.Tensor]:
    """One env observation (numpy, no batch axis) -> tensors with a batch axis of 1 on `device`.

    Pixels stay uint8 (the encoder normalises them); the goal entry is dropped.
    """
    return {k: torch.as_tensor(np.asarray(v)).unsqueeze(0).to(device) for k, v in obs.items() if k != "goal"}


@dataclass(frozen=True)
class MPCConfig:
    """Attributes:
    execute: actions executed from each plan before replanning (1 = replan every step).
    explore_std: Gaussian noise added to executed actions when `explore=True`.
    """

    execute: int = 1
    explore_std: float = 0.3


class MPCAgent:
    """Holds a world model, a planner and an objective; implements `reset` and `act`.

    Args:
        model: a `WorldModel` (or anything with `encode` and `predict`).
        planner: CEM, MPPI, gradient or hybrid.
        objective: the energy to minimise.
        action_dim: A.
        generator: randomness for planning and exploration.
        cfg: execution settings.
        waypoints: a memory graph of training trajectories; the planner then aims at the waypoint on
            its path towards the goal rather than at the goal itself while the goal is out of reach
            (agent/waypoints.py).
    """

    def __init__(
        self,
        model,
        planner,
        objective: Objective,
        action_dim: int,
        *,
        generator: torch.Generator,
        cfg: MPCConfig = MPCConfig(),
        waypoints: LandmarkGraph | None = None,
    ):
        self.model, self.planner, self.objective = model, planner, objective
        self.waypoints = waypoints
        self.dynamics = LatentDynamics(model, action_dim)
        self.generator, self.cfg = generator, cfg
        self.last_plan = None
        self.reset()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def reset(self) -> None:
        """Forget the previous plan (call at the start of each episode)."""
        self._plan: torch.Tensor | None = None  # (H, A) the current plan, from its next action on
        self._since_plan = 0
        self._route = None  # shortest paths through the memory graph to this episode's goal

    @torch.no_grad()
    def encode_goal(self, goal: dict) -> torch.Tensor:
        """The goal observation's latent `(D,)`."""
        return self.model.encode(obs_to_tensor(goal, self.device))[0]

    def act(self, obs: dict, *, goal: dict | None = None, explore: bool = False) -> np.ndarray:
        """The next action `(A,)` float32 in [-1, 1]; the goal defaults to `obs["goal"]` when present."""
        goal = goal if goal is not None else obs.get("goal")
        if self._plan is None or self._since_plan >= self.cfg.execute:
            self._replan(obs, goal)
        action = self._plan[self._since_plan]
        self._since_plan += 1
        if explore:
            noise = torch.randn(action.shape, generator=self.generator, device=self.generator.device)
            action = action + self.cfg.explore_std * noise.to(action.device)
        return action.clamp(-1, 1).float().cpu().numpy()

    def _replan(self, obs: dict, goal: dict | None) -> None:
        with torch.no_grad():
            z = self.model.encode(obs_to_tensor(obs, self.device))[0]
            g = None if goal is None else self.encode_goal(goal)
            if self.waypoints is not None and g is not None:
                if self._route is None:
                    self._route = self.waypoints.route(g)
                g = self.waypoints.waypoint(z, g, self._route)
        init = None
        if self._plan is not None:
            init = self._plan
            for _ in range(self._since_plan):
                init = shift(init)  # align the warm start with the step we are at now
        result = self.planner.plan(z, self.dynamics, self.objective, goal=g, init=init, generator=self.generator)
        self.last_plan, self._z = result, z
        self._plan, self._since_plan = result.actions.detach(), 0

    @torch.no_grad()
    def imagined_frames(self) -> np.ndarray | None:
        """The current plan's imagined future as images `(H, S, S, 3)` uint8, when the model has a probe
        decoder (for videos); None otherwise."""
        probe = getattr(self.model, "probe", None)
        if probe is None or self.last_plan is None:
            return None
        zs = self.model.rollout(self._z.unsqueeze(0), self.last_plan.actions.unsqueeze(1))[1:, 0]  # (H, D)
        images = probe(zs).clamp(0, 1).mul(255).byte()  # (H, 3, S, S)
        return images.permute(0, 2, 3, 1).cpu().numpy()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.generator.set_state(state["generator"])
