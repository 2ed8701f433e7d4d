"""`run_episode`: the one episode loop of the project.

Training-time evaluation, the eval command, video recording and online training's interaction all run
through it (online training passes `on_step` to store transitions and update between steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Transition:
    """One agent decision, as `on_step` receives it."""

    obs: dict
    action: np.ndarray
    reward: float
    next_obs: dict
    terminated: bool
    truncated: bool
    info: dict


@dataclass
class Episode:
    """What one episode did.

    Attributes:
        seed: the env reset seed.
        length: agent decisions. env_steps: control steps (action repeat multiplied in).
        total_return: the sum of rewards.
        success: goal tasks: whether the final state is within the task's tolerance (else None).
        ever_success: goal tasks: whether any state was.
        first_success: goal tasks: how many decisions had been taken when the state was first within
            tolerance (None: never). A budget's reached rate follows from it: stable-worldmodel, whose
            Push-T numbers LeWM and DINO-WM report, ends an episode at its first success and counts it.
        final_distance: goal tasks: `info["goal_distance"]` at the end.
        final_errors: goal tasks: every error the task reports at the end (`info["goal_errors"]`, e.g.
            push-t's position and angle errors), where it reports them.
        rewards: per-decision rewards.
    """

    seed: int
    length: int = 0
    env_steps: int = 0
    total_return: float = 0.0
    success: bool | None = None
    ever_success: bool | None = None
    first_success: int | None = None
    final_distance: float | None = None
    final_errors: dict[str, float] | None = None
    rewards: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        """A JSON-able dict without the per-step rewards."""
        return {k: v for k, v in self.__dict__.items() if k != "rewards"}


def run_episode(
    env,
    agent,
    *,
    seed: int,
    goal: dict | None = None,
    recorder=None,
    explore: bool = False,
    on_step: Callable[[Transition], None] | None = None,
) -> Episode:
    """Run one episode of `agent` in `env` from `env.reset(seed=seed)`.

    Args:
        env: a Gymnasium env from `envs.make_env`.
        agent: anything with `reset()` and `act(obs, *, goal=None, explore=False)`.
        seed: the reset seed (episodes are reproducible).
        goal: a goal observation for the agent; goal tasks carry theirs in `obs["goal"]` already.
        recorder: a video recorder (`start(env, obs, info)`, `step(env, obs, reward, info, agent)`).
        explore: passed to `agent.act` (exploration noise during training).
        on_step: called with each `Transition` (online training stores it and updates the agent).

    Returns:
        The `Episode`.
    """
    obs, info = env.reset(seed=seed)
    agent.reset()
    episode = Episode(seed=seed)
    if recorder is not None:
        recorder.start(env, obs, info)
    done = False
    while not done:
        action = agent.act(obs, goal=goal, explore=explore)
        next_obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        episode.length += 1
        episode.env_steps += int(info.get("env_steps", 1))
        episode.total_return += float(reward)
        episode.rewards.append(float(reward))
        if "success" in info:
            episode.ever_success = bool(episode.ever_success) or bool(info["success"])
            if info["success"] and episode.first_success is None:
                episode.first_success = episode.length
        if on_step is not None:
            on_step(Transition(obs, action, float(reward), next_obs, terminated, truncated, info))
        if recorder is not None:
            recorder.step(env, next_obs, float(reward), info, agent)
        obs = next_obs
    if "success" in info:
        episode.success = bool(info["success"])
        episode.final_distance = float(info.get("goal_distance", float("nan")))
        if "goal_errors" in info:
            episode.final_errors = {k: float(v) for k, v in info["goal_errors"].items()}
    if recorder is not None:
        recorder.finish(episode)
    return episode
