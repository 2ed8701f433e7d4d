"""Goal-conditioned tasks in dm_control's Physics/Task style, and their Gymnasium env.

Each episode samples a start and a goal configuration. The observation carries the goal under
`obs["goal"]` with the same keys as the observation itself (state and/or pixels of the goal
configuration), and every step reports `info["success"]`, `info["goal_distance"]` and
`info["goal_errors"]` (every error the task judges success by), judged from the simulator's state
with the task's documented tolerance, never from a model.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np
from dm_control.rl import control
from dm_control.suite import base

from envs.dmc import DMCEnv
from envs.spaces import observation_space


def with_configuration(physics, qpos: np.ndarray, fn: Callable):
    """Call `fn(physics)` with the joints at `qpos` and at rest, then restore the previous state."""
    saved = physics.get_state().copy()
    physics.data.qpos[:] = qpos
    physics.data.qvel[:] = 0.0
    physics.forward()
    try:
        return fn(physics)
    finally:
        physics.set_state(saved)
        physics.forward()


def observe_at(env: DMCEnv, qpos: np.ndarray) -> dict[str, np.ndarray]:
    """The observation the (unwrapped) goal env `env` gives with its joints at `qpos`, at rest; the
    simulation's state is restored afterwards (for probes that render chosen configurations)."""
    return with_configuration(env.physics, qpos, lambda p: DMCEnv._observe(env, env.task.get_observation(p)))


class GoalTask(base.Task):
    """A task with a start and a goal configuration per episode.

    Subclasses implement `sample_start`, `sample_goal_qpos`, `get_observation`, `goal_errors` and
    `within_tolerance`. The reward is 1 on success, else 0 (reward-free learning ignores it).
    """

    def __init__(self, random=None):
        super().__init__(random=random)
        self.goal_qpos: np.ndarray | None = None

    @abc.abstractmethod
    def sample_start(self, physics) -> None:
        """Place the simulator in a random start state."""

    @abc.abstractmethod
    def sample_goal_qpos(self, physics) -> np.ndarray:
        """A random goal configuration `(nq,)` (velocities are zero at the goal)."""

    @abc.abstractmethod
    def goal_errors(self, physics) -> dict[str, float]:
        """Errors to the goal; the first entry is reported as `goal_distance`."""

    @abc.abstractmethod
    def within_tolerance(self, errors: dict[str, float]) -> bool:
        """The task's success criterion on `goal_errors`."""

    def initialize_episode(self, physics) -> None:
        self.goal_qpos = self.sample_goal_qpos(physics)
        self.sample_start(physics)
        super().initialize_episode(physics)

    def success(self, physics) -> bool:
        return self.within_tolerance(self.goal_errors(physics))

    def get_reward(self, physics) -> float:
        return float(self.success(physics))


class GoalEnv(DMCEnv):
    """A `GoalTask` as a Gymnasium env; `obs["goal"]` holds the goal's state and/or pixels."""

    def _make_observation_space(self, obs: str, size: int):
        return observation_space(obs, self._state_dim(), size, goal=True)

    def _observe(self, dm_obs) -> dict:
        out = super()._observe(dm_obs)
        out["goal"] = {k: v.copy() for k, v in self._goal_obs.items()}
        return out

    def _goal_info(self) -> dict:
        errors = self.task.goal_errors(self.physics)
        first = next(iter(errors.values()))
        return {
            "success": self.task.within_tolerance(errors),
            "goal_distance": float(first),
            "goal_errors": {k: float(v) for k, v in errors.items()},
        }

    def _episode_started(self) -> None:
        # The goal's own observation (state and/or pixels), taken with the joints placed at the goal.
        self._goal_obs = with_configuration(
            self.physics, self.task.goal_qpos, lambda p: DMCEnv._observe(self, self.task.get_observation(p))
        )

    def _reset_info(self) -> dict:
        return self._goal_info()

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, **self._goal_info()}

    def success(self) -> bool:
        """Whether the current simulator state is within the task's tolerance of the goal."""
        return self.task.success(self.physics)

    def set_configuration(self, qpos: np.ndarray) -> None:
        """Place the joints at `qpos`, at rest (for tests and scripted demonstrations)."""
        self.physics.data.qpos[:] = qpos
        self.physics.data.qvel[:] = 0.0
        self.physics.forward()

    def goal_frame(self) -> np.ndarray:
        """A `render()` frame of the goal configuration (for videos)."""
        return with_configuration(self.physics, self.task.goal_qpos, lambda p: self.render())


def make_goal_env(
    physics,
    task: GoalTask,
    *,
    obs: str,
    size: int,
    action_repeat: int,
    time_limit: float,
    control_timestep: float,
    camera,
    render_size: int = 256,
    render_quality: str = "video",
    obs_hidden_groups: tuple[int, ...] = (),
    obs_quality: str = "fast",
) -> GoalEnv:
    """Assemble a goal env from a physics, a task and the episode's time budget (`obs_hidden_groups`:
    MuJoCo geom groups the pixel observations and goal images leave out, videos show them;
    `obs_quality`: `fast` or `smooth`, anti-aliased, pixel observations and goal images)."""
    dm_env = control.Environment(physics, task, time_limit=time_limit, control_timestep=control_timestep)
    return GoalEnv(
        dm_env,
        obs=obs,
        size=size,
        action_repeat=action_repeat,
        camera=camera,
        render_size=render_size,
        render_quality=render_quality,
        obs_hidden_groups=obs_hidden_groups,
        obs_quality=obs_quality,
    )
