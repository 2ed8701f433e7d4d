"""Online training of the reward-driven world-model agent (the main job).

    python -m train task=dmc/walker-walk steps=100000

Seed steps with random actions, then plan with MPPI; updates between env steps; every episode persisted
to the run's replay folder; periodic evaluation through `eval.episode.run_episode`; atomic checkpoints
from which `resume=true` continues a killed run with the same step count, replay and random state.
The run folder layout is in train/run_dir.py.

Under torchrun (train/distributed.py) every rank collects its own episodes (its replay in
`replay/rank<r>/`), learning waits for the end of each round of episodes so that the ranks update in
lockstep (as many updates as `updates_per_decision` times the ranks' mean decision count, each on the
global batch), `step` counts all ranks' control steps, and rank 0 evaluates, logs and checkpoints.

In one process, `overlap=true` (the default) runs each world-model step in a background thread while the
loop plans, steps the environment and trains the policy prior (see `WorldModelAgent.overlap`); with
`threads` unset, each of the two threads then gets half the CPU cores.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import torch

from agent.checkpoint import agent_payload, atomic_write, load_checkpoint, save_checkpoint
from agent.factory import build_reward_agent, episode_discount, make_generator
from agent.random_agent import RandomAgent
from agent.rng import restore_generator
from envs import make_env
from eval.curves import CurveWriter
from eval.episode import Transition, run_episode
from eval.evaluate import Job, run_job, worker_pool
from eval.evaluate import episode_seed as eval_seed
from eval.video import VideoRecorder
from train.accel import autocast, compile_modules
from train.collect import episode_seed
from train.config import TrainConfig
from train.dataset import EpisodeRecorder, EpisodeStore
from train.distributed import ONE_PROCESS, Dist, prepare_run, rank_logger, setup, teardown
from train.logger import Logger
from train.replay import Replay
from train.run_dir import RunDir, obs_shapes


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

    def __init__(
        self,
        cfg: TrainConfig,
        env,
        eval_env,
        agent,
        replay: Replay,
        store: EpisodeStore,
        run: RunDir,
        info: Dist = ONE_PROCESS,
    ):
        self.cfg, self.env, self.eval_env, self.agent, self.replay, self.store, self.run = (
            cfg,
            env,
            eval_env,
            agent,
            replay,
            store,
            run,
        )
        self.info = info
        self.batch_size = info.local_batch(cfg.agent.batch_size)
        self.action_dim = env.action_space.shape[0]
        self.random_agent = RandomAgent(self.action_dim, rng=np.random.default_rng(info.rng_key(cfg.seed, 2)))
        self.sample_rng = np.random.default_rng(info.rng_key(cfg.seed, 3))
        # The first evaluation comes after `eval_every` steps: one of the untrained agent would cost minutes of
        # planning on a CPU and tell nothing a random agent's score does not.
        self.state = LoopState(next_eval=cfg.eval_every, next_checkpoint=cfg.checkpoint_every)
        self.seed_steps = cfg.seed_steps if cfg.seed_steps is not None else max(1000, 5 * self._episode_steps())
        self.curve = CurveWriter(run.curve, "reward")
        self._update_metrics: list[dict] = []
        self.eval_threads: int | None = None  # torch threads while evaluating (None: as in training)
        self.eval_pool = None  # processes that run evaluation episodes (None: this process)

    def _episode_steps(self) -> int:
        return (self.env.max_decisions or 500) * self.env.action_repeat

    # ---------------------------------------------------------------- one episode
    def run_training_episode(self) -> dict:
        seeding = self.state.step < self.seed_steps
        actor = self.random_agent if seeding else self.agent
        recorder: EpisodeRecorder | None = None
        info = self.info

        def on_step(tr: Transition) -> None:
            nonlocal recorder
            if recorder is None:
                recorder = EpisodeRecorder(self.state.episode, tr.obs, self.action_dim, self.cfg.seed)
            recorder.add_transition(tr)
            if info.enabled:
                return  # the ranks learn together after the round (their episodes may differ in length)
            self.state.step += int(tr.info.get("env_steps", 1))
            if self.state.step >= self.seed_steps and self.replay.num_episodes:
                self._learn()

        start = time.perf_counter()
        seed = episode_seed(self.cfg.seed, self.state.episode * info.world_size + info.rank)
        ep = run_episode(self.env, actor, seed=seed, explore=True, on_step=on_step)
        episode = recorder.episode()
        self.store.write(self.state.episode, episode)
        self.replay.add(episode)
        self.state.episode += 1
        if info.enabled:
            self.state.step += int(info.sum(ep.env_steps))
            if self.state.step >= self.seed_steps:
                self._learn(info.sum(ep.length) / info.world_size)
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

    def _learn(self, decisions: float = 1.0) -> None:
        cfg = self.cfg
        if not self.state.pretrained:
            if "state" in self.replay.keys:  # the agent may standardise its state inputs by the seed data
                self.agent.fit_state_norm(torch.as_tensor(self.replay.observations("state")))
            # TD-MPC2: as many updates as seed decisions, once, when seeding ends.
            count = int(self.seed_steps / self.env.action_repeat * cfg.updates_per_decision)
            self.state.pretrained = True
        else:
            self.state.update_credit += cfg.updates_per_decision * decisions
            count = int(self.state.update_credit)
            self.state.update_credit -= count
        for _ in range(count):
            batch = self.replay.sample(self.batch_size, cfg.agent.horizon, self.sample_rng)
            self._add_update_metrics(self.agent.update(batch))
            self.state.updates += 1

    def _add_update_metrics(self, metrics: dict) -> None:
        if metrics:  # an overlapped agent reports each step one call later (nothing on the first)
            self._update_metrics.append(metrics)

    def settle(self) -> None:
        """Finish the agent's background update (if any) so that it acts and saves its latest parameters."""
        self._add_update_metrics(self.agent.flush())

    # ---------------------------------------------------------------- evaluation and checkpoints
    def evaluate(self) -> dict:
        self.settle()
        returns = self._evaluate_in_workers() if self.eval_pool is not None else self._evaluate_here()
        self.curve.add(self.state.step, float(np.mean(returns)), self.cfg.seed)
        return {"eval/return": float(np.mean(returns)), "eval/return_std": float(np.std(returns))}

    def _video_path(self, episode: int) -> str | None:
        """Where evaluation episode `episode` is filmed (the first one of each evaluation), if at all."""
        return str(self.run.videos / f"eval_{self.state.step}.mp4") if self.cfg.video and episode == 0 else None

    def _evaluate_here(self) -> list[float]:
        returns = []
        threads = torch.get_num_threads()
        if self.eval_threads:  # the background update is idle now: planning may use every core
            torch.set_num_threads(self.eval_threads)
        try:
            for i in range(self.cfg.eval_episodes):
                video = self._video_path(i)
                recorder = VideoRecorder(video) if video else None
                ep = run_episode(self.eval_env, self.agent, seed=eval_seed(self.cfg.seed, i), recorder=recorder)
                returns.append(ep.total_return)
        finally:
            torch.set_num_threads(threads)
        return returns

    def _evaluate_in_workers(self) -> list[float]:
        """The episodes in `eval_workers` processes, from a snapshot of the agent written for them (each
        episode reseeds the agent from its own seed, so the results do not depend on the worker count)."""
        snapshot = save_checkpoint(self.run.root / "checkpoints" / "eval.pt", self._payload())
        cfg = self.cfg
        jobs = [
            Job(
                cfg.task,
                cfg.obs,
                cfg.seed,
                i,
                str(snapshot),
                self._video_path(i),
                render_size=256,
                size=cfg.size,
                action_repeat=self.eval_env.action_repeat,
            )
            for i in range(cfg.eval_episodes)
        ]
        return [row["total_return"] for row in self.eval_pool.map(run_job, jobs)]

    def checkpoint(self) -> None:
        self.settle()
        own = {
            "sample": self.sample_rng.bit_generator.state,
            "random_agent": self.random_agent.state_dict(),
            "torch": torch.get_rng_state(),
        }
        if self.info.enabled:  # the agent's generator is in its state dict; each rank has its own
            own["generator"] = self.agent.generator.get_state()
        rngs = self.info.gather(own)  # every rank's random streams, saved by rank 0
        if not self.info.is_main:
            return
        payload = self._payload(loop=dataclasses.asdict(self.state), rngs=rngs, world_size=self.info.world_size)
        save_checkpoint(self.run.checkpoint, payload)

    def _payload(self, **extra) -> dict:
        """The agent as a loadable checkpoint (`agent.checkpoint.load_agent`), plus `extra`."""
        shapes = obs_shapes(self.env.observation_space)
        return agent_payload(
            "reward", self.cfg.agent, shapes, self.action_dim, self.agent, discount=self.agent.discount, **extra
        )

    def restore(self) -> None:
        payload = load_checkpoint(self.run.checkpoint)
        self.agent.load_state_dict(payload["agent"])
        self.state = LoopState(**payload["loop"])
        self.info.check_resume(payload["world_size"])
        rngs = payload["rngs"][self.info.rank]
        self.sample_rng.bit_generator.state = rngs["sample"]
        self.random_agent.load_state_dict(rngs["random_agent"])
        torch.set_rng_state(rngs["torch"])
        if "generator" in rngs:
            restore_generator(self.agent.generator, rngs["generator"])
        # Episodes written after the checkpoint are collected again, identically, from the restored state;
        # log and curve rows written after it are dropped so that nothing appears twice.
        for index in range(self.state.episode):
            self.replay.add(self.store.read(index))
        if self.info.is_main:
            truncate_rows(self.run.metrics, self.state.step, lambda line: json.loads(line)["step"])
            truncate_rows(self.run.curve, self.state.step, lambda line: int(line.split(",")[0]), header=True)

    # ---------------------------------------------------------------- the loop
    def fit(self, logger: Logger) -> dict:
        start = time.perf_counter() - self.state.wall_s
        last_eval: dict = {}
        while self.state.step < self.cfg.steps:
            metrics = self.run_training_episode()
            evaluated = self.state.step >= self.state.next_eval or self.state.step >= self.cfg.steps
            if evaluated:
                if self.info.is_main:
                    last_eval = self.evaluate()
                    metrics.update(last_eval)
                self.state.next_eval += self.cfg.eval_every
                while self.state.next_eval <= self.state.step:
                    self.state.next_eval += self.cfg.eval_every
            self.state.wall_s = time.perf_counter() - start
            logger.log(self.state.step, metrics)
            if self.state.step >= self.state.next_checkpoint or evaluated:
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
    torch.manual_seed(cfg.seed)  # the same on every rank; DDP broadcasts rank 0's parameters anyway
    info, device = setup(cfg.device)
    overlap = cfg.overlap and not info.enabled
    split = overlap and device.type == "cpu" and not cfg.threads
    cores = torch.get_num_threads()
    if cfg.threads or split:  # overlapped, each of the two Python threads runs this many intra-op threads
        torch.set_num_threads(cfg.threads or max(1, cores // 2))
    run = RunDir(cfg.run_dir)
    prepare_run(info, run, cfg, resume=cfg.resume)
    env = make_env(cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
    eval_env = make_env(cfg.task, obs=cfg.obs, size=cfg.size, action_repeat=cfg.action_repeat)
    discount = cfg.agent.discount or episode_discount(env.max_decisions or 500)
    generator = make_generator(device, cfg.seed + 100_003 * info.rank)  # each rank explores its own way
    agent = build_reward_agent(
        cfg.agent,
        obs_shapes(env.observation_space),
        env.action_space.shape[0],
        device=device,
        generator=generator,
        discount=discount,
        # Seeding's one-off updates and one per decision after it: about this many in the whole run.
        total_updates=math.ceil(cfg.steps / env.action_repeat * cfg.updates_per_decision),
    )
    meta = {
        "task": cfg.task,
        "obs": cfg.obs,
        "size": cfg.size,
        "action_repeat": env.action_repeat,
        "policy": "online",
        "seed": cfg.seed,
    }
    agent.autocast = autocast(device, cfg.precision)
    if cfg.compile:
        model = agent.model
        compile_modules(model.encoder, model.predictor, model.reward, model.values, agent.policy)
    if info.enabled:
        agent.distribute(info.wrap, info.sync)
    if overlap:
        agent.overlap(make_generator(device, cfg.seed + 200_003))
    store = EpisodeStore(run.replay / f"rank{info.rank}" if info.enabled else run.replay, meta)
    trainer = Trainer(cfg, env, eval_env, agent, Replay(cfg.replay_capacity), store, run, info)
    if split:
        trainer.eval_threads = cores
    if cfg.eval_workers > 1 and info.is_main:
        trainer.eval_pool = worker_pool(cfg.eval_workers)
    if cfg.resume:
        trainer.restore()
    return trainer


def train(cfg: TrainConfig) -> dict:
    """Train, evaluate and checkpoint as configured; return the final step, wall time and evaluation."""
    trainer = build_trainer(cfg)
    info = trainer.info
    logger = rank_logger(info, trainer.run.root, cfg.steps, initial_step=trainer.state.step, progress=cfg.progress)
    try:
        return trainer.fit(logger)
    finally:
        if trainer.eval_pool is not None:
            trainer.eval_pool.shutdown()
        logger.close()
        trainer.env.close()
        trainer.eval_env.close()
        teardown(info)
