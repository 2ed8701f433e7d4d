"""Replay of whole episodes: sequences sampled within episodes, never across their boundaries.

Transitions live in preallocated numpy arrays, one episode after another; pixels stay uint8 until the
batch reaches the model's device. Online training also persists each finished episode with
`EpisodeStore`, so a crash loses at most the episode in progress.
"""

from __future__ import annotations

import numpy as np
import torch

from train.dataset import OBS_KEYS
from world_model import Batch


class Replay:
    """Episodes in flat arrays; `sample` draws `(T, B, ...)` sequences uniformly over valid starts.

    Args:
        capacity: transitions it can hold (when full, the oldest episodes are dropped).
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._arrays: dict[str, np.ndarray] = {}
        self._episodes: list[tuple[int, int]] = []  # (first row, transitions) per stored episode
        self._size = 0  # rows in use (transitions + one final observation per episode)
        self._start_cache: dict[int, np.ndarray] = {}  # horizon -> valid sequence starts

    def __len__(self) -> int:
        """Transitions held."""
        return sum(t for _, t in self._episodes)

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def keys(self) -> tuple[str, ...]:
        """The fields held (observation keys, action, reward, ...); empty before the first episode."""
        return tuple(self._arrays)

    def observations(self, key: str) -> np.ndarray:
        """Every held observation of `key` (each episode's T+1), stacked: `(N, ...)`."""
        if key not in self._arrays:
            raise KeyError(f"the replay holds no {key!r} observations (it has {sorted(self._arrays)})")
        array = self._arrays[key]
        return np.concatenate([array[start : start + steps + 1] for start, steps in self._episodes])

    def _allocate(self, episode: dict[str, np.ndarray]) -> None:
        rows = self.capacity + self.capacity // 10 + 1024  # room for the extra final observations
        for key in (*OBS_KEYS, "action", "reward", "terminated"):
            if key in episode:
                sample = episode[key]
                self._arrays[key] = np.zeros((rows, *sample.shape[1:]), dtype=sample.dtype)

    def add(self, episode: dict[str, np.ndarray]) -> None:
        """Append one whole episode (arrays as in `train.dataset`)."""
        steps = len(episode["action"])
        if not self._arrays:
            self._allocate(episode)
        rows = steps + 1
        if self._size + rows > len(next(iter(self._arrays.values()))):
            self._compact(rows)
        start = self._size
        for key, array in self._arrays.items():
            data = episode[key]
            array[start : start + len(data)] = data  # obs: T+1 rows; per-step fields: T rows (last row unused)
        self._episodes.append((start, steps))
        self._size += rows
        while len(self) > self.capacity and len(self._episodes) > 1:
            self._episodes.pop(0)
        self._start_cache.clear()

    def _compact(self, needed: int) -> None:
        # Move the kept episodes to the front so that the new one fits.
        write = 0
        kept = []
        for start, steps in self._episodes:
            for array in self._arrays.values():
                array[write : write + steps + 1] = array[start : start + steps + 1]
            kept.append((write, steps))
            write += steps + 1
        self._episodes, self._size = kept, write
        self._start_cache.clear()
        if self._size + needed > len(next(iter(self._arrays.values()))):
            raise ValueError(f"an episode of {needed - 1} steps does not fit a replay of capacity {self.capacity}")

    def _starts(self, horizon: int) -> np.ndarray:
        if horizon not in self._start_cache:
            ranges = [np.arange(s, s + t - horizon + 1) for s, t in self._episodes if t >= horizon]
            self._start_cache[horizon] = np.concatenate(ranges or [np.zeros(0, int)])
        return self._start_cache[horizon]

    @property
    def rows(self) -> int:
        """Rows of the flat arrays in use: every held observation's row is below this."""
        return self._size

    def sample_rows(self, batch_size: int, horizon: int, rng: np.random.Generator) -> np.ndarray:
        """The flat-array rows `(T+1, B)` of `batch_size` sequences of `horizon` transitions, uniformly over
        valid starts; `rows[:-1]` index their per-step fields (`gather`)."""
        starts = self._starts(horizon)
        if len(starts) == 0:
            raise ValueError(f"no episode has {horizon} transitions yet; collect more before sampling")
        idx = starts[rng.integers(0, len(starts), batch_size)]
        return idx[None, :] + np.arange(horizon + 1)[:, None]  # (T+1, B)

    def gather(self, key: str, rows: np.ndarray | slice) -> np.ndarray:
        """The `key` field (an observation, action, reward, ...) at `rows` of the flat arrays, an index array of
        any shape (`(*rows.shape, ...)`) or a slice; rows that no held episode uses hold stale data."""
        if key not in self._arrays:
            raise KeyError(f"the replay holds no {key!r} field (it has {sorted(self._arrays)})")
        return self._arrays[key][rows]

    def sample(self, batch_size: int, horizon: int, rng: np.random.Generator) -> Batch:
        """`batch_size` sequences of `horizon` transitions: obs `(T+1, B, ...)`, action `(T, B, A)`, ..."""
        rows = self.sample_rows(batch_size, horizon, rng)
        obs = {k: torch.from_numpy(self._arrays[k][rows]) for k in OBS_KEYS if k in self._arrays}
        steps = rows[:-1]
        action = torch.from_numpy(self._arrays["action"][steps])
        reward = torch.from_numpy(self._arrays["reward"][steps]) if "reward" in self._arrays else None
        term = None
        if "terminated" in self._arrays:
            term = torch.from_numpy(self._arrays["terminated"][steps].astype(np.float32))
        return Batch(obs, action, reward, term)
