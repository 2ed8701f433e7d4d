"""Reward-free data collection across worker processes into an EpisodeStore.

Episode `i` is always reset with the same seed and driven by the same policy stream, whatever the
number of workers, so a collection is reproducible and an interrupted one resumes by collecting only the
missing indices (no episode lost, none duplicated).

`workers=N` runs N spawned processes, each stepping its own env through whole episodes and writing them
itself: no per-step traffic between processes, so N workers approach N times one. `vector=true` steps
the N envs in lockstep through Gymnasium's AsyncVectorEnv instead (every step's arrays cross a pipe;
the form a batched policy in the parent process needs).
"""

from __future__ import annotations

import functools
import multiprocessing
import pathlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from tqdm import tqdm

from envs import get_spec, make_env
from eval.episode import run_episode
from train.dataset import OBS_KEYS, EpisodeRecorder, EpisodeStore, episode_rng
from train.policies import get_policy, sim_state


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
    vector: bool = False
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


class PolicyActor:
    """A collection policy behind the agent interface of `run_episode`, drawing from the episode's stream."""

    def __init__(self, policy, rng: np.random.Generator, action_dim: int, sim=None):
        self.policy, self.rng, self.action_dim = policy, rng, action_dim
        self.sim = sim if getattr(policy, "needs_sim", False) else None  # () -> the simulator's state

    def reset(self) -> None:
        self.previous = np.zeros(self.action_dim, np.float32)
        # A policy that varies by episode draws this episode's one first, from the episode's own stream.
        self.step = self.policy.start(self.rng) if hasattr(self.policy, "start") else self.policy

    def act(self, obs, *, goal=None, explore: bool = False) -> np.ndarray:
        seen = self.sim() if self.sim is not None else {}
        self.previous = np.asarray(self.step(self.rng, self.previous, seen), np.float32)
        return self.previous


def _record_episode(env, cfg: CollectConfig, index: int, policy) -> dict[str, np.ndarray]:
    """Episode `index` through `run_episode`, the project's one episode loop."""
    action_dim = env.action_space.shape[0]
    recorder: EpisodeRecorder | None = None

    def on_step(tr) -> None:
        nonlocal recorder
        if recorder is None:
            recorder = EpisodeRecorder(index, tr.obs, action_dim, cfg.seed)
        recorder.add_transition(tr)

    actor = PolicyActor(policy, episode_rng(cfg.seed, index), action_dim, sim=lambda: sim_state(env))
    run_episode(env, actor, seed=episode_seed(cfg.seed, index), on_step=on_step)
    return recorder.episode()


def _collect_episodes(env, cfg: CollectConfig, store: EpisodeStore, indices: list[int], policy, bar=None) -> None:
    """Whole episodes `indices`, one after the other on `env`, each written when it ends."""
    for index in indices:
        store.write(index, _record_episode(env, cfg, index, policy))
        if bar is not None:
            bar.update(1)


_WORKER: dict = {}  # a worker process's env, store and policy, built once by `_start_worker`


def _start_worker(cfg: CollectConfig) -> None:
    from envs.rendering import configure_gl

    configure_gl()
    env = make_env(cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
    # `collect` has checked the policy against the task already.
    _WORKER.update(cfg=cfg, env=env, store=EpisodeStore(cfg.out), policy=get_policy(cfg.policy))


def _worker_episodes(indices: list[int]) -> int:
    w = _WORKER
    _collect_episodes(w["env"], w["cfg"], w["store"], indices, w["policy"])
    return len(indices)


def _collect_in_processes(cfg: CollectConfig, todo: list[int], bar) -> None:
    """Episodes in chunks over `workers` spawned processes (a forked GL context would hang them)."""
    chunk = max(1, min(8, len(todo) // (4 * cfg.workers)))
    chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(cfg.workers, mp_context=context, initializer=_start_worker, initargs=(cfg,)) as pool:
        for done in as_completed([pool.submit(_worker_episodes, c) for c in chunks]):
            bar.update(done.result())


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
    policy = get_policy(cfg.policy, get_spec(cfg.task).id)
    if cfg.vector and getattr(policy, "needs_sim", False):
        raise ValueError(
            f"policy {cfg.policy!r} reads the simulator, which vector=true keeps in other processes; use vector=false"
        )
    store = EpisodeStore(cfg.out, dataset_meta(cfg))
    todo = sorted(set(range(cfg.episodes)) - set(store.indices()))
    if not todo:
        return store
    bar = tqdm(total=len(todo), desc=f"collect {cfg.task}", unit="ep", disable=not cfg.progress)
    if not cfg.vector:
        try:
            if cfg.workers <= 1:
                env = make_env(cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
                try:
                    _collect_episodes(env, cfg, store, todo, policy, bar)
                finally:
                    env.close()
            else:
                _collect_in_processes(cfg, todo, bar)
        finally:
            bar.close()
        return store
    venv = make_vector_env(cfg)
    n, action_dim = venv.num_envs, venv.single_action_space.shape[0]
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
