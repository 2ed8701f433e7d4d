"""Datasets of whole episodes on disk, written atomically, one file per episode.

Layout of a dataset folder:
    meta.json                 task, observation mode, size, action repeat, policy, seed, dims, format
    episodes/ep_000000.npz    one episode (numpy .npz, compressed):
        state    float32 (T+1, S)        present when the observation mode has state
        pixels   uint8   (T+1, 3, H, W)  present when it has pixels
        action   float32 (T, A)          in [-1, 1]
        reward   float32 (T,)
        terminated, truncated  bool (T,)
        env_steps int32  (T,)            control steps each decision took (action repeat)

An episode file appears only when it is complete (written to a temporary name, then renamed), so an
interrupted collection leaves no partial episodes and resumes by filling in the missing indices.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np

from agent.checkpoint import atomic_write

FORMAT_VERSION = 1
OBS_KEYS = ("state", "pixels")
STEP_DTYPES = {"action": np.float32, "reward": np.float32, "terminated": bool, "truncated": bool, "env_steps": np.int32}


def atomic_write_json(path: pathlib.Path, data: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, sort_keys=True).encode()))


class EpisodeStore:
    """A dataset folder of episodes. `meta` must match the folder's `meta.json` when it exists.

    Args:
        root: the dataset folder.
        meta: what the dataset holds (task, obs, size, ...); `None` opens an existing dataset.
    """

    def __init__(self, root: str | os.PathLike, meta: dict | None = None):
        self.root = pathlib.Path(root)
        self.episode_dir = self.root / "episodes"
        meta_path = self.root / "meta.json"
        if meta_path.exists():
            existing = json.loads(meta_path.read_text())
            if meta is not None:
                diff = {k: (existing.get(k), v) for k, v in meta.items() if existing.get(k) != v}
                if diff:
                    raise ValueError(
                        f"{self.root} holds a dataset with other settings {diff} (existing, requested); "
                        "use another output folder or the same settings to resume it"
                    )
            self.meta = existing
        elif meta is None:
            raise FileNotFoundError(f"no dataset at {self.root} (meta.json missing); write one with `collect`")
        else:
            self.meta = {**meta, "format_version": FORMAT_VERSION}
            atomic_write_json(meta_path, self.meta)
        self.episode_dir.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> pathlib.Path:
        return self.episode_dir / f"ep_{index:06d}.npz"

    def indices(self) -> list[int]:
        """Indices of the complete episodes on disk, sorted."""
        return sorted(int(p.stem[3:]) for p in self.episode_dir.glob("ep_*.npz"))

    def __len__(self) -> int:
        return len(self.indices())

    def write(self, index: int, episode: dict[str, np.ndarray]) -> None:
        """Write one whole episode atomically (see the module docstring for its arrays)."""
        validate_episode(episode)
        atomic_write(self.path(index), lambda f: np.savez_compressed(f, **episode))

    def read(self, index: int) -> dict[str, np.ndarray]:
        with np.load(self.path(index)) as data:
            return {k: data[k] for k in data.files}


def validate_episode(episode: dict[str, np.ndarray]) -> None:
    """Check an episode's arrays agree in length and dtype; raise ValueError naming the problem."""
    steps = len(episode["action"])
    for key in OBS_KEYS:
        if key in episode and len(episode[key]) != steps + 1:
            raise ValueError(f"episode {key!r} has {len(episode[key])} entries, expected T+1 = {steps + 1}")
    for key in ("reward", "terminated", "truncated", "env_steps"):
        if len(episode[key]) != steps:
            raise ValueError(f"episode {key!r} has {len(episode[key])} entries, expected T = {steps}")
    if "pixels" in episode and episode["pixels"].dtype != np.uint8:
        raise ValueError(f"pixels must stay uint8, got {episode['pixels'].dtype}")


def episode_rng(seed: int, index: int) -> np.random.Generator:
    """The collection policy's random stream for episode `index` of a dataset seeded with `seed`."""
    return np.random.default_rng([seed, index, 1])


class EpisodeRecorder:
    """Accumulates one episode's arrays step by step (collection and online training)."""

    def __init__(self, index: int, obs: dict, action_dim: int, seed: int):
        self.index = index
        self.rng = episode_rng(seed, index)
        self.previous = np.zeros(action_dim, np.float32)
        self.obs = {k: [obs[k]] for k in OBS_KEYS if k in obs}
        self.steps: dict[str, list] = {k: [] for k in STEP_DTYPES}

    def add(self, action, obs, reward, terminated, truncated, env_steps) -> None:
        for key in self.obs:
            self.obs[key].append(obs[key])
        for key, value in zip(self.steps, (action, reward, terminated, truncated, env_steps), strict=True):
            self.steps[key].append(value)

    def add_transition(self, tr) -> None:
        """Record one `eval.episode.Transition` (what `run_episode` hands its `on_step`)."""
        self.add(tr.action, tr.next_obs, tr.reward, tr.terminated, tr.truncated, tr.info.get("env_steps", 1))

    def episode(self) -> dict[str, np.ndarray]:
        out = {k: np.stack(v) for k, v in self.obs.items()}
        out.update({k: np.asarray(v, dtype=STEP_DTYPES[k]) for k, v in self.steps.items()})
        return out
