"""Online training of the reward-driven world-model agent (the main job).

    python -m train task=dmc/walker-walk steps=100000

Seed steps with random actions, then plan with MPPI; updates between env steps; every episode persisted
to the run's replay folder; periodic evaluation through `eval.episode.run_episode`; atomic checkpoints
from which `resume=true` continues a killed run with the same step count, replay and random state.
The run folder layout is in train/run_dir.py.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import torch

from agent.checkpoint import agent_payload, atomic_write, load_checkpoint, save_checkpoint
from agent.factory import build_reward_agent, episode_discount, make_generator
from agent.random_agent import RandomAgent
from envs import make_env
from eval.curves import CurveWriter
from eval.episode import Transition, run_episode
from eval.evaluate import episode_seed as eval_seed
from eval.video import VideoRecorder
from train.collect import episode_seed
from train.config import TrainConfig
from train.dataset import EpisodeRecorder, EpisodeStore
from train.logger import Logger
from train.replay import Replay
from train.run_dir import RunDir, obs_shapes, resolve_device


@dataclasses.dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint."""

    step: int = 0
    episode: int = 0
    updates: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    pretrained: bool = False
    update_credit: float = 0.0  # fractional updates owed (updates_per_decision need not be whole)
    wall_s: float = 0.0


class Trainer:
    """Holds the parts of one run and the small steps of its loop; `main` assembles it."""

    def __init__(self, cfg: TrainConfig, env, eval_env, agent, replay: Replay, store: EpisodeStore, run: RunDir):
        self.cfg, self.env, self.eval_env, self.agent, self.replay, self.store, self.run = (
            cfg,
            env,
            eval_env,
            agent,
            replay,
            store,
            run,
        )
        self.action_dim = env.action_space.shape[0]
        self.random_agent = RandomAgent(self.action_dim, rng=np.random.default_rng([cfg.seed, 2]))
        self.sample_rng = np.random.default_rng([cfg.seed, 3])
        # The first evaluation comes after `eval_every` steps: one of the untrained agent would cost minutes of
        # planning on a CPU and tell nothing a random agent's score does not.
        self.state = LoopState(next_eval=cfg.eval_every, next_checkpoint=cfg.checkpoint_every)
        self.seed_steps = cfg.seed_steps if cfg.seed_steps is not None else max(1000, 5 * self._episode_steps())
        self.curve = CurveWriter(run.curve, "reward")
        self._update_metrics: list[dict] = []

    def _episode_steps(self) -> int:
        return (self.env.max_decisions or 500) * self.env.action_repeat

    # ---------------------------------------------------------------- one episode
    def run_training_episode(self) -> dict:
        seeding = self.state.step < self.seed_steps
        actor = self.random_agent if seeding else self.agent
        recorder: EpisodeRecorder | None = None

        def on_step(tr: Transition) -> None:
            nonlocal recorder
            if recorder is None:
                recorder = EpisodeRecorder(self.state.episode, tr.obs, self.action_dim, self.cfg.seed)
            recorder.add(tr.action, tr.next_obs, tr.reward, tr.terminated, tr.truncated, tr.info.get("env_steps", 1))
            self.state.step += int(tr.info.get("env_steps", 1))
            if self.state.step >= self.seed_steps and self.replay.num_episodes:
                self._learn()

        start = time.perf_counter()
        ep = run_episode(
            self.env, actor, seed=episode_seed(self.cfg.seed, self.state.episode), explore=True, on_step=on_step
        )
        episode = recorder.episode()
        self.store.write(self.state.episode, episode)
        self.replay.add(episode)
        self.state.episode += 1
        metrics = {
            "train/episode_return": ep.total_return,
            "train/episode_length": ep.length,
            "time/episode_s": time.perf_counter() - start,
        }
        if self._update_metrics:
            keys = self._update_metrics[0].keys()
            metrics.update({f"train/{k}": float(np.mean([m[k] for m in self._update_metrics])) for k in keys})
            self._update_metrics.clear()
        return metrics

    def _learn(self) -> None:
        cfg = self.cfg
        if not self.state.pretrained:
            # TD-MPC2: as many updates as seed decisions, once, when seeding ends.
            count = int(self.seed_steps / self.env.action_repeat * cfg.updates_per_decision)
            self.state.pretrained = True
        else:
            self.state.update_credit += cfg.updates_per_decision
            count = int(self.state.update_credit)
            self.state.update_credit -= count
        for _ in range(count):
            batch = self.replay.sample(cfg.agent.batch_size, cfg.agent.horizon, self.sample_rng)
            self._update_metrics.append(self.agent.update(batch))
            self.state.updates += 1

    # ---------------------------------------------------------------- evaluation and checkpoints
    def evaluate(self) -> dict:
        returns = []
        for i in range(self.cfg.eval_episodes):
            recorder = None
            if self.cfg.video and i == 0:
                recorder = VideoRecorder(self.run.videos / f"eval_{self.state.step}.mp4")
            ep = run_episode(self.eval_env, self.agent, seed=eval_seed(self.cfg.seed, i), recorder=recorder)
            returns.append(ep.total_return)
        self.curve.add(self.state.step, float(np.mean(returns)), self.cfg.seed)
        return {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns))}

    def checkpoint(self) -> None:
        payload = agent_payload(
            "reward",
            self.cfg.agent,
            obs_shapes(self.env.observation_space),
            self.action_dim,
            self.agent,
            discount=self.agent.discount,
            loop=dataclasses.asdict(self.state),
            rngs={
                "sample": self.sample_rng.bit_generator.state,
                "random_agent": self.random_agent.state_dict(),
                "torch": torch.get_rng_state(),
            },
        )
        save_checkpoint(self.run.checkpoint, payload)

    def restore(self) -> None:
        payload = load_checkpoint(self.run.checkpoint)
        self.agent.load_state_dict(payload["agent"])
        self.state = LoopState(**payload["loop"])
        self.sample_rng.bit_generator.state = payload["rngs"]["sample"]
        self.random_agent.load_state_dict(payload["rngs"]["random_agent"])
        torch.set_rng_state(payload["rngs"]["torch"])
        # Episodes written after the checkpoint are collected again, identically, from the restored state;
        # log and curve rows written after it are dropped so that nothing appears twice.
        for index in range(self.state.episode):
            self.replay.add(self.store.read(index))
        truncate_rows(self.run.metrics, self.state.step, lambda line: json.loads(line)["step"])
        truncate_rows(self.run.curve, self.state.step, lambda line: int(line.split(",")[0]), header=True)

    # ---------------------------------------------------------------- the loop
    def fit(self, logger: Logger) -> dict:
        start = time.perf_counter() - self.state.wall_s
        last_eval: dict = {}
        while self.state.step < self.cfg.steps:
            metrics = self.run_training_episode()
            if self.state.step >= self.state.next_eval or self.state.step >= self.cfg.steps:
                last_eval = self.evaluate()
                metrics.update(last_eval)
                self.state.next_eval += self.cfg.eval_every
                while self.state.next_eval <= self.state.step:
                    self.state.next_eval += self.cfg.eval_every
            self.state.wall_s = time.perf_counter() - start
            logger.log(self.state.step, metrics)
            if self.state.step >= self.state.next_checkpoint or "eval/return" in metrics:
                self.checkpoint()
                while self.state.next_checkpoint <= self.state.step:
                    self.state.next_checkpoint += self.cfg.checkpoint_every
        return {"step": self.state.step, "wall_s": self.state.wall_s, **last_eval}


def truncate_rows(path, step: int, step_of, header: bool = False) -> None:
    """Drop the lines of a log whose step is past `step` (rewritten atomically)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    kept = head + [line for line in body if line.strip() and step_of(line) <= step]
    atomic_write(path, lambda f: f.write("".join(kept).encode()))


def build_trainer(cfg: TrainConfig) -> Trainer:
    """Assemble envs, agent, replay and run folder from the config (resuming when asked)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    run = RunDir(cfg.run_dir)
    run.prepare(cfg, resume=cfg.resume)
    env = make_env(cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
    eval_env = make_env(cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
    discount = cfg.agent.discount or episode_discount(env.max_decisions or 500)
    generator = make_generator(device, cfg.seed)
    agent = build_reward_agent(
        cfg.agent,
        obs_shapes(env.observation_space),
        env.action_space.shape[0],
        device=device,
        generator=generator,
        discount=discount,
    )
    meta = {
        "task": cfg.task,
        "obs": cfg.obs,
        "size": cfg.size,
        "action_repeat": env.action_repeat,
        "policy": "online",
        "seed": cfg.seed,
    }
    store = EpisodeStore(run.replay, meta)
    trainer = Trainer(cfg, env, eval_env, agent, Replay(cfg.replay_capacity), store, run)
    if cfg.resume:
        trainer.restore()
    return trainer


def train(cfg: TrainConfig) -> dict:
    """Train, evaluate and checkpoint as configured; return the final step, wall time and evaluation."""
    trainer = build_trainer(cfg)
    logger = Logger(trainer.run.root, cfg.steps, initial_step=trainer.state.step, progress=cfg.progress)
    try:
        return trainer.fit(logger)
    finally:
        logger.close()
        trainer.env.close()
        trainer.eval_env.close()
