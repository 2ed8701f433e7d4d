"""Gymnasium environments (MuJoCo v5 tasks and any user-registered id) behind our dict-observation API."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np

from envs.registry import TaskSpec, register
from envs.rendering import RendererCache, resize_nearest
from envs.spaces import ActionScaler, observation_space, unit_action_space

MUJOCO_V5 = {
    "Ant-v5": "locomotion",
    "HalfCheetah-v5": "locomotion",
    "Hopper-v5": "locomotion",
    "Humanoid-v5": "locomotion",
    "HumanoidStandup-v5": "locomotion",
    "Swimmer-v5": "locomotion",
    "Walker2d-v5": "locomotion",
    "Pusher-v5": "manipulation",
    "Reacher-v5": "manipulation",
    "InvertedPendulum-v5": "control",
    "InvertedDoublePendulum-v5": "control",
}


class GymEnv(gym.Env):
    """Wraps `gym.make(gym_id)`: flattened float32 state, rendered pixels, actions in [-1, 1].

    MuJoCo envs are rendered with our own `FrameRenderer` (cheap settings for observations, the env's
    default camera); other envs through their `rgb_array` render, resized to the requested size.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        gym_id: str,
        *,
        obs: str,
        size: int,
        action_repeat: int,
        render_size: int = 256,
        render_quality: str = "video",
        **kwargs,
    ):
        env = gym.make(gym_id, **kwargs)
        self._mujoco = hasattr(env.unwrapped, "model") and hasattr(env.unwrapped, "data")
        if not self._mujoco and "rgb_array" in env.metadata.get("render_modes", []):
            env.close()
            env = gym.make(gym_id, render_mode="rgb_array", **kwargs)
        if not isinstance(env.action_space, gym.spaces.Box):
            raise ValueError(f"gym/{gym_id}: only continuous (Box) action spaces are supported")
        if "proprio" in obs.split("+"):
            env.close()
            raise ValueError(f"gym/{gym_id} declares no proprioceptive observations; use obs=state or state+pixels")
        self._env = env
        self._obs_mode = obs.split("+")
        self._size = size
        self._repeat = action_repeat
        self._render_size = render_size
        self._renderers = RendererCache(render_quality)
        self._scale = ActionScaler(env.action_space.low, env.action_space.high)
        self.action_space = unit_action_space(env.action_space.shape[0])
        state_dim = gym.spaces.flatdim(env.observation_space)
        self.observation_space = observation_space(obs, state_dim, size)
        self.render_mode = "rgb_array"
        self.action_repeat = action_repeat
        self._camera = self._default_camera() if self._mujoco else None

    @property
    def max_decisions(self) -> int | None:
        """Agent decisions in a full-length episode (None without a time limit)."""
        limit = self._env.spec.max_episode_steps if self._env.spec else None
        return None if limit is None else -(-limit // self._repeat)

    def _default_camera(self):
        import mujoco

        model = self._env.unwrapped.model
        config = getattr(getattr(self._env.unwrapped, "mujoco_renderer", None), "default_cam_config", None)
        camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(model, camera)
        for key, value in (config or {}).items():
            if key == "lookat":
                camera.lookat[:] = value
            else:
                setattr(camera, key, value)
        return camera

    def _frame(self, kind: str, size: int) -> np.ndarray:
        if not self._mujoco:
            frame = self._env.render()
            if frame is None:
                raise RuntimeError(f"{self._env.spec.id} cannot render rgb_array frames")
            return resize_nearest(np.asarray(frame, dtype=np.uint8), size, size)
        unwrapped = self._env.unwrapped
        return self._renderers.frame(kind, unwrapped.model, unwrapped.data, size, self._camera)

    def _observe(self, raw) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if "state" in self._obs_mode:
            out["state"] = np.array(gym.spaces.flatten(self._env.observation_space, raw), dtype=np.float32)
        if "pixels" in self._obs_mode:
            out["pixels"] = np.ascontiguousarray(self._frame("obs", self._size).transpose(2, 0, 1))
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        raw, info = self._env.reset(seed=seed, options=options)
        return self._observe(raw), dict(info)

    def step(self, action):
        native = self._scale(action).astype(self._env.action_space.dtype)
        reward, steps, info = 0.0, 0, {}
        terminated = truncated = False
        for _ in range(self._repeat):
            raw, r, terminated, truncated, info = self._env.step(native)
            reward += float(r)
            steps += 1
            if terminated or truncated:
                break
        return self._observe(raw), reward, bool(terminated), bool(truncated), {**info, "env_steps": steps}

    def render(self) -> np.ndarray:
        """A `(render_size, render_size, 3)` uint8 frame at `render_quality` (for videos)."""
        return self._frame("render", self._render_size)

    def close(self) -> None:
        self._renderers.close()
        self._env.close()


def _factory(gym_id: str, **kwargs) -> GymEnv:
    return GymEnv(gym_id, **kwargs)


def make_gym_spec(gym_id: str, family: str | None = None) -> TaskSpec:
    """A spec for any Gymnasium id (action repeat 1, as Gymnasium's own step)."""
    tags = {"gym"} | ({family} if family else set())
    return TaskSpec(f"gym/{gym_id}", functools.partial(_factory, gym_id), frozenset(tags), 1, f"Gymnasium {gym_id}")


def register_mujoco_tasks() -> None:
    """Register Gymnasium's MuJoCo v5 tasks under `gym/<id>`."""
    for gym_id, family in MUJOCO_V5.items():
        register(make_gym_spec(gym_id, family))
