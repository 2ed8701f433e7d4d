"""dm_control as Gymnasium envs: the whole control suite, and the base of our own goal tasks."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
from dm_env import StepType

from envs.registry import TaskSpec, register
from envs.rendering import RendererCache
from envs.spaces import ActionScaler, observation_space, unit_action_space

# Names as TD-MPC2 writes them (cup-catch, not ball_in_cup-catch).
DOMAIN_ALIASES = {"ball_in_cup": "cup"}
LOCOMOTION = {
    "walker",
    "cheetah",
    "hopper",
    "quadruped",
    "humanoid",
    "humanoid_CMU",
    "swimmer",
    "fish",
    "dog",
}
MANIPULATION = {"manipulator", "finger", "ball_in_cup", "reacher", "stacker"}
# The quadruped is only framed well by its third camera (as in DrQ and TD-MPC2).
CAMERAS = {"quadruped": 2}
DMC_ACTION_REPEAT = 2
LAST = StepType.LAST


def state_keys(dm_env, obs_mode: list[str]) -> tuple[str, ...]:
    """The dm_control observation entries, in order, that make up `obs["state"]` (none without state).

    `state` takes every entry; `proprio` the task's `PROPRIO_KEYS`, e.g. push-t's pusher without the block,
    so that pixels alone tell where the block is (as DINO-WM's proprioception does).
    """
    if "state" in obs_mode:
        return tuple(dm_env.observation_spec())
    if "proprio" not in obs_mode:
        return ()
    keys = getattr(dm_env.task, "PROPRIO_KEYS", None)
    if keys is None:
        raise ValueError(
            f"{type(dm_env.task).__name__} declares no proprioceptive observations (PROPRIO_KEYS); "
            "use obs=state or obs=state+pixels"
        )
    return tuple(keys)


class DMCEnv(gym.Env):
    """A dm_control `control.Environment` behind the Gymnasium API with dict observations.

    Args:
        dm_env: the dm_control environment.
        obs: observation mode (`state`, `pixels`, `state+pixels`, `proprio`, `proprio+pixels`). `proprio`
            fills `obs["state"]` with the task's `PROPRIO_KEYS` entries only (its agent's own body, not the
            objects it acts on); tasks without that attribute refuse it.
        size: side of pixel observations.
        action_repeat: control steps per `step`; rewards are summed over them.
        camera: camera id or name for observations and `render()`.
        render_size: side of `render()` frames (for videos).
        render_quality: `video` (default) or `full` for `render()`.
        obs_quality: `fast` (default) or `smooth` (anti-aliased) for pixel observations.
        obs_hidden_groups: MuJoCo geom groups that pixel observations leave out (`render()` shows them).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        dm_env,
        *,
        obs: str,
        size: int,
        action_repeat: int,
        camera=0,
        render_size: int = 256,
        render_quality: str = "video",
        obs_hidden_groups: tuple[int, ...] = (),
        obs_quality: str = "fast",
    ):
        self._env = dm_env
        self._obs_mode = obs.split("+")
        self._state_keys = state_keys(dm_env, self._obs_mode)
        self._size = size
        self._repeat = action_repeat
        self._camera = camera
        self._render_size = render_size
        self._renderers = RendererCache(render_quality, obs_hidden_groups, obs_quality)
        spec = dm_env.action_spec()
        self._scale = ActionScaler(spec.minimum, spec.maximum)
        self.action_space = unit_action_space(spec.shape[0])
        self.observation_space = self._make_observation_space(obs, size)
        self.render_mode = "rgb_array"
        self.action_repeat = action_repeat

    def _make_observation_space(self, obs: str, size: int) -> gym.spaces.Dict:
        return observation_space(obs, self._state_dim(), size)

    def _state_dim(self) -> int:
        spec = self._env.observation_spec()
        return sum(int(np.prod(spec[k].shape)) for k in self._state_keys)

    @property
    def max_decisions(self) -> int | None:
        """Agent decisions in a full-length episode (None for episodes without a time limit)."""
        limit = self._env._step_limit
        return None if not np.isfinite(limit) else int(np.ceil(limit / self._repeat))

    @property
    def physics(self):
        """The dm_control physics (for tasks, tests and tools that place states)."""
        return self._env.physics

    @property
    def task(self):
        return self._env.task

    def _frame(self, kind: str, size: int) -> np.ndarray:
        return self._renderers.frame(kind, self.physics.model.ptr, self.physics.data.ptr, size, self._camera)

    def _observe(self, dm_obs) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self._state_keys:
            # One flattening, casting concatenate: the cheapest path on the per-step hot path.
            out["state"] = np.concatenate([dm_obs[k] for k in self._state_keys], axis=None, dtype=np.float32)
        if "pixels" in self._obs_mode:
            # (H, W, 3) -> (3, H, W), copied so that observations never share memory.
            out["pixels"] = np.ascontiguousarray(self._frame("obs", self._size).transpose(2, 0, 1))
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            # dm_control draws initial states from the task's RandomState.
            self._env.task._random = np.random.RandomState(seed)
        time_step = self._env.reset()
        self._episode_started()
        return self._observe(time_step.observation), self._reset_info()

    def _episode_started(self) -> None:
        """Hook after each dm_control reset, before the first observation (goal tasks render the goal)."""

    def _reset_info(self) -> dict:
        return {}

    def step(self, action):
        native = self._scale(action)
        time_step = self._env.step(native)
        reward, steps = time_step.reward or 0.0, 1  # reward is None only on an auto-reset step
        while steps < self._repeat and time_step.step_type is not LAST:
            time_step = self._env.step(native)
            reward += time_step.reward or 0.0
            steps += 1
        # dm_control ends episodes with discount 0 on termination and 1 on its time limit.
        last = time_step.step_type is LAST
        terminated = bool(last and time_step.discount == 0)
        obs = self._observe(time_step.observation)
        return obs, float(reward), terminated, last and not terminated, {"env_steps": steps}

    def render(self) -> np.ndarray:
        """A `(render_size, render_size, 3)` uint8 frame at `render_quality` (for videos)."""
        return self._frame("render", self._render_size)

    def close(self) -> None:
        self._renderers.close()


def _make_suite_env(domain: str, task: str, *, obs: str, size: int, action_repeat: int, **kwargs) -> DMCEnv:
    from dm_control import suite

    camera = kwargs.pop("camera", CAMERAS.get(domain, 0))
    render_size = kwargs.pop("render_size", 256)
    render_quality = kwargs.pop("render_quality", "video")
    # A fixed seed at load: some domains (lqr) draw their *model* from it, and a model that changes from
    # one env to the next would break seeded determinism. Episodes are still drawn from fresh entropy
    # until `reset(seed=...)` reseeds the task.
    dm_env = suite.load(domain, task, task_kwargs={"random": 0}, environment_kwargs=kwargs or None)
    dm_env.task._random = np.random.RandomState()
    return DMCEnv(
        dm_env,
        obs=obs,
        size=size,
        action_repeat=action_repeat,
        camera=camera,
        render_size=render_size,
        render_quality=render_quality,
    )


def _tags(domain: str) -> frozenset[str]:
    if domain in LOCOMOTION:
        family = "locomotion"
    elif domain in MANIPULATION:
        family = "manipulation"
    else:
        family = "control"
    return frozenset({"dmc", family})


def register_suite() -> None:
    """Register every task of dm_control's suite as `dmc/<domain>-<task>`."""
    from dm_control import suite

    for domain, task in suite.ALL_TASKS:
        name = f"dmc/{DOMAIN_ALIASES.get(domain, domain)}-{task}"
        factory = functools.partial(_make_suite_env, domain, task)
        register(TaskSpec(name, factory, _tags(domain), DMC_ACTION_REPEAT, f"dm_control {domain} {task}"))
