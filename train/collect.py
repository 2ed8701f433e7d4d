"""Reward-free data collection across worker processes (Gymnasium's vector API) into an EpisodeStore.

Episode `i` is always reset with the same seed and driven by the same policy stream, whatever the
number of workers, so a collection is reproducible and an interrupted one resumes by collecting only the
missing indices (no episode lost, none duplicated).
"""

from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from tqdm import tqdm

from envs import get_spec, make_env
from train.dataset import OBS_KEYS, EpisodeRecorder, EpisodeStore
from train.policies import get_policy


@dataclass(frozen=True)
class CollectConfig:
    """Settings of `python -m train.collect` (field names are the command-line keys)."""

    task: str = "goal/reacher"
    episodes: int = 100
    out: str = "data/${task}"
    obs: str = "state+pixels"
    size: int = 64
    action_repeat: int | None = None
    policy: str = "random"
    seed: int = 0
    workers: int = 1
    progress: bool = True


def episode_seed(seed: int, index: int) -> int:
    """The env seed of episode `index` of a collection seeded with `seed`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _slot(obs: dict, i: int) -> dict:
    return {k: np.array(obs[k][i]) for k in OBS_KEYS if k in obs}


def make_vector_env(cfg: CollectConfig):
    """`workers` copies of the task; processes are spawned (a forked GL context would hang them)."""
    fn = functools.partial(make_env, cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
    if cfg.workers <= 1:
        return SyncVectorEnv([fn], autoreset_mode=AutoresetMode.DISABLED)
    return AsyncVectorEnv([fn] * cfg.workers, context="spawn", autoreset_mode=AutoresetMode.DISABLED)


def dataset_meta(cfg: CollectConfig) -> dict:
    spec = get_spec(cfg.task)
    repeat = spec.action_repeat if cfg.action_repeat is None else cfg.action_repeat
    return {
        "task": spec.id,
        "obs": cfg.obs,
        "size": cfg.size,
        "action_repeat": repeat,
        "policy": cfg.policy,
        "seed": cfg.seed,
    }


def collect(cfg: CollectConfig) -> EpisodeStore:
    """Collect episodes `0 .. cfg.episodes-1` into `cfg.out`, skipping those already on disk."""
    policy = get_policy(cfg.policy)
    store = EpisodeStore(cfg.out, dataset_meta(cfg))
    todo = sorted(set(range(cfg.episodes)) - set(store.indices()))
    if not todo:
        return store
    venv = make_vector_env(cfg)
    n, action_dim = venv.num_envs, venv.single_action_space.shape[0]
    bar = tqdm(total=len(todo), desc=f"collect {cfg.task}", unit="ep", disable=not cfg.progress)
    queue = list(reversed(todo))
    slots: list[EpisodeRecorder | None] = [None] * n

    def start(mask: np.ndarray) -> None:
        indices = [queue.pop() if mask[i] and queue else None for i in range(n)]
        seeds = [episode_seed(cfg.seed, j) if j is not None else None for j in indices]
        obs, _ = venv.reset(seed=seeds, options={"reset_mask": mask})
        for i in np.flatnonzero(mask):
            slots[i] = (
                EpisodeRecorder(indices[i], _slot(obs, i), action_dim, cfg.seed) if indices[i] is not None else None
            )

    start(np.ones(n, bool))
    try:
        while any(s is not None for s in slots):
            actions = np.stack(
                [policy(s.rng, s.previous, {}) if s else np.zeros(action_dim, np.float32) for s in slots]
            )
            obs, reward, terminated, truncated, info = venv.step(actions)
            done = terminated | truncated
            for i, s in enumerate(slots):
                if s is None:
                    continue
                s.previous = actions[i]
                s.add(actions[i], _slot(obs, i), reward[i], terminated[i], truncated[i], info["env_steps"][i])
                if done[i]:
                    store.write(s.index, s.episode())
                    bar.update(1)
            if done.any():
                start(done)
    finally:
        bar.close()
        venv.close()
    return store


def main() -> None:
    """`python -m train.collect task=goal/two-rooms episodes=1000 workers=2 out=data/two-rooms`."""
    from eval.app import run_app

    conf = pathlib.Path(__file__).with_name("conf")
    run_app("collect", CollectConfig, lambda cfg: print(f"{len(collect(cfg))} episodes in {cfg.out}"), conf)


if __name__ == "__main__":
    main()
