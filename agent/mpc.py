"""The model-predictive-control agent: plan in latent space, execute, shift the plan, replan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agent.adaptation import PredictorAdaptation
from agent.objectives import DriftCorrected
from agent.planners.base import Objective, shift
from agent.rng import restore_generator
from agent.waypoints import LandmarkGraph


class LatentDynamics:
    """The world model's predictor as a planner's `dynamics(z (N, D), a (N, A)) -> (N, D)`."""

    def __init__(self, model, action_dim: int):
        self.model, self.action_dim = model, action_dim

    def __call__(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.model.predict(z, a)


class HistoryDynamics:
    """A predictor that sees `history` latents, as Markov dynamics over windows for the planners.

    The planner's state is the window of the last h latents flattened, `s (N, h*D)` (oldest first);
    one step predicts the next latent from the newest with the others as its past and slides the
    window. `LastLatent` lets objectives see only the newest latent of each window.
    """

    def __init__(self, model, action_dim: int, history: int, latent_dim: int):
        self.model, self.action_dim, self.history, self.latent_dim = model, action_dim, history, latent_dim

    def __call__(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        window = s.view(s.shape[0], self.history, self.latent_dim)  # (N, h, D)
        z_next = self.model.predict(window[:, -1], a, window[:, :-1].transpose(0, 1))
        return torch.cat([s[:, self.latent_dim :], z_next], dim=-1)


class LastLatent:
    """An objective on the newest latent of planner states that are windows `(..., h*D)`."""

    def __init__(self, objective: Objective, latent_dim: int):
        self.objective, self.latent_dim = objective, latent_dim

    def __call__(self, zs: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor | None) -> torch.Tensor:
        return self.objective(zs[..., -self.latent_dim :], actions, goal)


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
        model: a `WorldModel` (or anything with `encode` and `predict`). When its `cfg.history` h is
            above 1, the planners plan over windows of h latents (`HistoryDynamics`), the objective
            sees the newest latent of each (`LastLatent`), and the planner's start is a window `(h*D,)`.
        planner: CEM, MPPI, gradient or hybrid.
        objective: the energy to minimise.
        action_dim: A.
        generator: randomness for planning and exploration.
        cfg: execution settings.
        waypoints: a memory graph of training trajectories; the planner then aims at the waypoint on
            its path towards the goal rather than at the goal itself while the goal is out of reach
            (agent/waypoints.py).
        hold: `hold(z (D,), goal (D,)) -> bool`, the agent's own test that the observation stands at the
            goal (`agent.objectives.GoalReached`); while it holds, the agent executes the zero action instead
            of planning. None: always plan.
        drift_correction: score each plan's rollout less the model's zero-action rollout from the same start
            (`agent.objectives.DriftCorrected`), for tasks where nothing moves unless acted on.
        adaptation: fits the predictor to the episode's own transitions before each plan
            (`agent.adaptation.PredictorAdaptation`); `reset` puts the trained weights back. None: never.
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
        hold: Callable[[torch.Tensor, torch.Tensor], bool] | None = None,
        drift_correction: bool = False,
        adaptation: PredictorAdaptation | None = None,
    ):
        self.model, self.planner, self.objective = model, planner, objective
        self.adaptation = adaptation
        self.waypoints, self.hold, self.drift_correction = waypoints, hold, drift_correction
        self.history = getattr(getattr(model, "cfg", None), "history", 1)
        self.dynamics = LatentDynamics(model, action_dim)
        if self.history > 1:  # plan over windows of latents; the energy sees the newest of each
            latent_dim = model.cfg.latent_dim
            self.dynamics = HistoryDynamics(model, action_dim, self.history, latent_dim)
            self.objective = LastLatent(objective, latent_dim)
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
        self._past: list[torch.Tensor] = []  # latents (D,) of the last history-1 observations, oldest first
        if self.adaptation is not None:
            self.adaptation.reset()

    @torch.no_grad()
    def encode_goal(self, goal: dict) -> torch.Tensor:
        """The goal observation's latent `(D,)`."""
        return self.model.encode(obs_to_tensor(goal, self.device))[0]

    def act(self, obs: dict, *, goal: dict | None = None, explore: bool = False) -> np.ndarray:
        """The next action `(A,)` float32 in [-1, 1]; the goal defaults to `obs["goal"]` when present."""
        goal = goal if goal is not None else obs.get("goal")
        z = None
        check = self.hold is not None and goal is not None
        due = self._plan is None or self._since_plan >= self.cfg.execute
        if check or self.history > 1 or due or self.adaptation is not None:
            with torch.no_grad():
                z = self.model.encode(obs_to_tensor(obs, self.device))[0]  # (D,)
        g = self.encode_goal(goal) if goal is not None and (check or due) else None  # (D,), encoded once
        holding = check and self.hold(z, g)
        if self.adaptation is not None:
            self.adaptation.observe(z)
        if holding:
            self._plan = None  # the next plan starts afresh from wherever the hold ends
        elif due:
            if self.adaptation is not None:
                self.adaptation.update()  # the plan then comes from the model corrected by what happened
            self._replan(z, g)
        if self.history > 1:  # every observation enters the predictor's past, planned on or not
            self._past = [*self._past, z][-(self.history - 1) :]
        if holding:
            action = torch.zeros(self.dynamics.action_dim, device=z.device)
        else:
            action = self._plan[self._since_plan]
            self._since_plan += 1
            if explore:
                noise = torch.randn(action.shape, generator=self.generator, device=self.generator.device)
                action = action + self.cfg.explore_std * noise.to(action.device)
        action = action.clamp(-1, 1).float()
        if self.adaptation is not None:
            self.adaptation.acted(action)
        return action.cpu().numpy()

    def _state(self, z: torch.Tensor) -> torch.Tensor:
        """The planner's start: `z (D,)`, or with a history the window `(h*D,)` of the past latents and
        `z` (before h-1 observations exist, the first one stands in for the missing ones, as in training
        sequences' contexts the predictor learnt from)."""
        if self.history == 1:
            return z
        past = self._past or [z]
        past = [past[0]] * (self.history - 1 - len(past)) + past
        return torch.cat([*past, z])

    def _replan(self, z: torch.Tensor, g: torch.Tensor | None) -> None:
        """Plan from the observation's latent `z (D,)` towards the goal's latent `g (D,)` (None: no goal)."""
        with torch.no_grad():
            if self.waypoints is not None and g is not None:
                if self._route is None:
                    self._route = self.waypoints.route(g)
                g = self.waypoints.waypoint(z, g, self._route)
        init = None
        if self._plan is not None:
            init = self._plan
            for _ in range(self._since_plan):
                init = shift(init)  # align the warm start with the step we are at now
        start = self._state(z)
        objective = self.objective
        if self.drift_correction:
            objective = DriftCorrected(objective, self.dynamics, start, self.dynamics.action_dim)
        result = self.planner.plan(start, self.dynamics, objective, goal=g, init=init, generator=self.generator)
        self.last_plan, self._z = result, start
        self._plan, self._since_plan = result.actions.detach(), 0

    @torch.no_grad()
    def imagined_frames(self) -> np.ndarray | None:
        """The current plan's imagined future as images `(H, S, S, 3)` uint8, when the model has a probe
        decoder (for videos); None otherwise."""
        probe = getattr(self.model, "probe", None)
        if probe is None or self.last_plan is None:
            return None
        window = self._z.view(self.history, -1).unsqueeze(1)  # (h, 1, D), oldest first
        past = window[:-1] if self.history > 1 else None
        zs = self.model.rollout(window[-1], self.last_plan.actions.unsqueeze(1), past)[1:, 0]  # (H, D)
        images = probe(zs).clamp(0, 1).mul(255).byte()  # (H, 3, S, S)
        return images.permute(0, 2, 3, 1).cpu().numpy()

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        restore_generator(self.generator, state["generator"])
