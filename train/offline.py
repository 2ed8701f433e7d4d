"""Offline, reward-free training of a JEPA world model from a collected dataset (for goal reaching).

    python -m train.offline dataset=data/goal/reacher updates=20000 time_limit_s=1800

The last `val_fraction` of the episodes are held out; the validation prediction loss is measured on a
fixed set of their sequences. Checkpoints hold a goal-reaching agent (the model, the planner settings),
which `python -m eval.evaluate task=goal/reacher checkpoint=<run_dir>/checkpoints/latest.pt` evaluates.
The run folder has the layout of train/run_dir.py (no replay, videos or curve).

Under torchrun (train/distributed.py) the training episodes are sharded across ranks, each rank samples
its share of the global batch, DDP all-reduces the gradients, and rank 0 validates, logs and checkpoints.
"""

from __future__ import annotations

import functools
import math
import pathlib
import time

import numpy as np
import torch

from agent.checkpoint import agent_payload, load_checkpoint, save_checkpoint
from agent.factory import build_goal_agent, make_generator, model_config
from agent.rng import restore_generator
from agent.waypoints import memory_from_episodes
from train.accel import autocast, compile_modules
from train.config import OfflineConfig
from train.dataset import EpisodeStore
from train.distributed import ONE_PROCESS, Dist, is_main_process, prepare_run, rank_logger, setup, teardown
from train.logger import Logger
from train.replay import Replay
from train.run_dir import RunDir
from train.selection import EncoderSelection, GoalScenes, auc, scene_energies, selection_energy
from world_model import WorldModel
from world_model.distributed import Forward

VAL_BATCHES = 8
# Frames per encoder call when a frozen encoder encodes the whole training split (`freeze_encoder_s`).
ENCODE_CHUNK = 1024
# With a glimpse: how many training frames (evenly spread) the static background's per-pixel median is taken over.
BACKGROUND_FRAMES = 2000


def load_split(
    store: EpisodeStore, val_fraction: float, inputs: tuple[str, ...], info: Dist = ONE_PROCESS
) -> tuple[Replay, Replay]:
    """Train and validation replays from a dataset; validation takes the last episodes.

    With several ranks each holds every `world_size`-th training episode (its shard) and all the
    validation episodes.
    """
    indices = store.indices()
    if len(indices) < 1 + info.world_size:
        raise ValueError(
            f"{store.root} holds {len(indices)} episodes; collect at least {1 + info.world_size} "
            f"(one is held out, and each of the {info.world_size} process(es) needs one)"
        )
    train, val = split_indices(indices, val_fraction)
    parts = (train[info.rank :: info.world_size], val)
    replays = []
    for part in parts:
        episodes = [store.read(i) for i in part]
        replay = Replay(sum(len(e["action"]) for e in episodes))
        for e in episodes:
            replay.add({k: v for k, v in e.items() if k in (*inputs, "action")})
        replays.append(replay)
    return replays[0], replays[1]


def split_indices(indices: list[int], val_fraction: float) -> tuple[list[int], list[int]]:
    """Training and validation episode indices: the last `val_fraction` (at least one) are held out."""
    n_val = max(1, int(round(len(indices) * val_fraction)))
    return indices[:-n_val], indices[-n_val:]


def input_shapes(store: EpisodeStore, inputs: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    first = store.read(store.indices()[0])
    missing = [k for k in inputs if k not in first]
    if missing:
        raise ValueError(f"the dataset has no {missing} observations (it has {sorted(first)}); collect with obs=...")
    return {k: tuple(first[k].shape[1:]) for k in inputs}


class OfflineTrainer:
    """Fits the world model; validation, checkpoints and logs on the schedule of `OfflineConfig`."""

    def __init__(
        self, cfg: OfflineConfig, store: EpisodeStore, device: torch.device, run: RunDir, info: Dist = ONE_PROCESS
    ):
        self.cfg, self.run, self.device, self.info = cfg, run, device, info
        inputs = tuple(cfg.agent.inputs.split("+"))
        self.shapes = input_shapes(store, inputs)
        self.train_replay, self.val_replay = load_split(store, cfg.val_fraction, inputs, info)
        self.action_dim = int(store.read(store.indices()[0])["action"].shape[1])
        self.batch_size = info.local_batch(cfg.agent.batch_size)
        self.model = WorldModel(self.shapes, self.action_dim, model_config(cfg.agent.model)).to(device)
        check_freeze(cfg, self.model.cfg, info)
        self.latents: torch.Tensor | None = None  # (rows, D), the training split encoded once frozen
        if self.model.cfg.state_norm == "data":  # standardise states by the training split (restore keeps it)
            self.model.fit_state_norm(torch.as_tensor(self.train_replay.observations("state")))
        if self.model.cfg.glimpse:  # the static background, from a spread of training frames (restore keeps it)
            frames = self.train_replay.observations("pixels")
            self.model.fit_background(torch.as_tensor(frames[:: max(1, len(frames) // BACKGROUND_FRAMES)]))
        self.optim = torch.optim.AdamW(self.model.parameters(), lr=cfg.agent.lr, weight_decay=1e-4)
        self.generator = make_generator(device, cfg.seed)  # the same on every rank (SIGReg's draws)
        # DDP broadcasts rank 0's parameters at construction and all-reduces gradients in the backward.
        self.loss = info.wrap(
            Forward(self.model, functools.partial(self.model.loss, generator=self.generator, sync=info.sync))
        )
        self.rng = np.random.default_rng(info.rng_key(cfg.seed, 3))
        self.autocast = autocast(device, cfg.precision)
        if cfg.compile:
            compile_modules(self.model.encoder, self.model.predictor)
        val_rng = np.random.default_rng([cfg.seed, 4])
        self.val_batches = [
            self.val_replay.sample(cfg.agent.batch_size, cfg.agent.horizon, val_rng) for _ in range(VAL_BATCHES)
        ]
        self.updates, self.wall_s = 0, 0.0
        # The memory graph holds a fixed sample of training episodes, re-encoded at each checkpoint.
        self.store, self.inputs = store, inputs
        self.memory_indices = memory_indices(store, cfg.val_fraction, cfg.agent.memory_episodes, cfg.seed)
        self.selection = self._selection() if cfg.select_scenes else None

    def _selection(self) -> EncoderSelection:
        """Scores of the encoder on `select_scenes` (train/selection.py)."""
        scenes = GoalScenes.load(self.cfg.select_scenes)
        energy = selection_energy(self.cfg.agent, self.model)

        def score() -> float:
            energies = scene_energies(self.model.encode, energy.distance, scenes, self.inputs, self.device)
            return auc(energies, scenes.within)

        return EncoderSelection(score, self.cfg.select_every_s)

    def step(self) -> dict[str, float]:
        if self.latents is not None:
            return self.latent_step()
        batch = self.train_replay.sample(self.batch_size, self.cfg.agent.horizon, self.rng).to(self.device)
        with self.autocast():
            loss, metrics = self.loss(batch)
        return self._apply(loss, metrics)

    def freeze(self) -> None:
        """Freeze the encoder and encode the training split once; later updates train the predictor alone.

        With a selection, the best-scoring model and optimiser state is put back first. The optimiser is
        kept: AdamW skips parameters without a gradient, so the frozen encoder is left exactly as it is (no
        weight decay either) while the predictor keeps its moments.
        """
        if self.selection is not None:
            self.selection.restore_best(self.model, self.optim)
        self.model.encoder.requires_grad_(False)
        self.latents = encode_replay(self.model, self.train_replay, self.inputs, self.device)

    def latent_step(self) -> dict[str, float]:
        """One predictor update on sequences of cached latents (after `freeze`)."""
        size = self.cfg.frozen_batch_size or self.batch_size
        horizon = self.cfg.frozen_horizon or self.cfg.agent.horizon
        rows = self.train_replay.sample_rows(size, horizon, self.rng)  # (T+1, B)
        z = self.latents[torch.from_numpy(rows).to(self.device)]  # (T+1, B, D)
        action = torch.from_numpy(self.train_replay.gather("action", rows[:-1])).to(self.device)  # (T, B, A)
        with self.autocast():
            loss, metrics = self.model.latent_loss(z, action)
        if self.cfg.frozen_lr_final is not None:
            lr = frozen_lr(self.cfg, self.wall_s)
            for group in self.optim.param_groups:
                group["lr"] = lr
            metrics["lr"] = lr
        return self._apply(loss, metrics)

    def _apply(self, loss: torch.Tensor, metrics: dict[str, float]) -> dict[str, float]:
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        metrics["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.agent.grad_clip).item()
        self.optim.step()
        self.model.update_target()
        self.updates += 1
        return metrics

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        g = make_generator(self.device, 0)  # the same SIGReg directions every time: comparable values
        losses = [self.model.loss(b.to(self.device), generator=g)[1] for b in self.val_batches]
        return {
            f"val/{k}": float(np.mean([m[k] for m in losses]))
            for k in ("pred_loss", "pred_loss_last", "z_std", "z_rank")
        }

    def memory(self) -> dict:
        """The current model's memory graph of the sampled training episodes (agent/waypoints.py)."""
        return build_memory(self.model, self.cfg.agent, self.store, self.memory_indices, self.inputs, self.device)

    def checkpoint(self) -> None:
        rngs = self.info.gather(self.rng.bit_generator.state)  # every rank's sampling state
        if not self.info.is_main:
            return
        agent = build_goal_agent(self.cfg.agent, self.model, self.action_dim, generator=self.generator)
        extra = {"memory": self.memory()} if self.memory_indices else {}
        payload = agent_payload(
            "goal",
            self.cfg.agent,
            self.shapes,
            self.action_dim,
            agent,
            optim=self.optim.state_dict(),
            updates=self.updates,
            wall_s=self.wall_s,
            rngs=rngs,
            world_size=self.info.world_size,
            frozen=self.latents is not None,
            **extra,
        )
        save_checkpoint(self.run.checkpoint, payload)

    def restore(self) -> None:
        payload = load_checkpoint(self.run.checkpoint)
        self.model.load_state_dict(payload["agent"]["model"])
        restore_generator(self.generator, payload["agent"]["generator"])
        self.optim.load_state_dict(payload["optim"])
        self.updates, self.wall_s = payload["updates"], payload["wall_s"]
        self.info.check_resume(payload["world_size"])
        self.rng.bit_generator.state = payload["rngs"][self.info.rank]
        if payload.get("frozen", False):  # the same frozen encoder gives the same latents again
            self.freeze()

    def _before_freeze(self, logger: Logger, start: float) -> None:
        """Score the encoder when a selection is due, and freeze (the best-scoring one) once it is time."""
        cfg = self.cfg
        freezing = cfg.freeze_encoder_s is not None and self.wall_s >= cfg.freeze_encoder_s
        if self.selection is not None and (freezing or self.selection.due(self.wall_s)):
            metrics = self.selection.check(self.wall_s, self.model, self.optim)
            if self.info.is_main:
                logger.log(self.updates, metrics)
            self.wall_s = time.perf_counter() - start  # the scoring's time counts in the budget
        if freezing:
            self.freeze()

    def fit(self, logger: Logger) -> dict:
        cfg = self.cfg
        start = time.perf_counter() - self.wall_s
        history: list[dict] = []
        val: dict = {}
        while self.updates < cfg.updates:
            if self.latents is None:
                self._before_freeze(logger, start)
            history.append(self.step())
            self.wall_s = time.perf_counter() - start
            out_of_time = cfg.time_limit_s is not None and self.info.any(self.wall_s >= cfg.time_limit_s)
            last = self.updates >= cfg.updates or out_of_time
            if (self.updates % cfg.eval_every == 0 or last) and self.info.is_main:
                val = self.validate()
                train = {f"train/{k}": float(np.mean([m[k] for m in history if k in m])) for k in history[-1]}
                logger.log(self.updates, {**train, **val, "time/wall_s": self.wall_s})
                history.clear()
            if self.updates % cfg.checkpoint_every == 0 or last:
                self.checkpoint()
            if out_of_time:
                break
        return {"updates": self.updates, "wall_s": self.wall_s, **val}


def frozen_lr(cfg: OfflineConfig, wall_s: float) -> float:
    """The learning rate at `wall_s` seconds under `cfg.frozen_lr_final`: `agent.lr` until `freeze_encoder_s`,
    then a half cosine down to `frozen_lr_final * agent.lr` at `time_limit_s` (and thereafter). A function
    of the run's wall time alone, so a resumed run picks the schedule up where it left off."""
    start, stop = cfg.freeze_encoder_s, cfg.time_limit_s
    progress = min(max((wall_s - start) / (stop - start), 0.0), 1.0)
    final = cfg.frozen_lr_final
    return cfg.agent.lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


def check_freeze(cfg: OfflineConfig, model_cfg, info: Dist) -> None:
    """Refuse a `freeze_encoder_s` the trainer cannot honour, naming the fix."""
    if cfg.select_scenes is not None and cfg.freeze_encoder_s is None:
        raise ValueError(
            f"select_scenes={cfg.select_scenes} chooses which encoder to freeze: give freeze_encoder_s=<seconds> too"
        )
    if cfg.frozen_lr_final is not None:
        if not 0 <= cfg.frozen_lr_final <= 1:
            raise ValueError(f"frozen_lr_final={cfg.frozen_lr_final}: give a fraction of agent.lr in [0, 1], or null")
        if cfg.freeze_encoder_s is None or cfg.time_limit_s is None or cfg.time_limit_s <= cfg.freeze_encoder_s:
            raise ValueError(
                "frozen_lr_final anneals the rate from freeze_encoder_s to time_limit_s: give both, the time limit "
                f"the later (got freeze_encoder_s={cfg.freeze_encoder_s}, time_limit_s={cfg.time_limit_s})"
            )
    if cfg.freeze_encoder_s is None:
        return
    if cfg.freeze_encoder_s < 0:
        raise ValueError(f"freeze_encoder_s={cfg.freeze_encoder_s}: give seconds >= 0, or null to never freeze")
    if info.world_size > 1:
        raise ValueError("freeze_encoder_s trains on cached latents in one process; run without torchrun")
    if model_cfg.frame_stack > 1:
        raise ValueError(
            f"freeze_encoder_s caches one latent per frame; frame_stack={model_cfg.frame_stack} encodes "
            "stacks of frames: use history= for temporal context instead"
        )
    for name in ("frozen_batch_size", "frozen_horizon"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"{name}={value}: give a positive number, or null")


@torch.no_grad()
def encode_replay(model: WorldModel, replay: Replay, keys: tuple[str, ...], device, chunk: int = ENCODE_CHUNK):
    """Every row of `replay`'s `keys` observations encoded by `model.encode` (as the planner encodes):
    `(replay.rows, D)` on `device`, indexed by `replay.sample_rows`."""
    parts = []
    for start in range(0, replay.rows, chunk):
        stop = min(start + chunk, replay.rows)
        obs = {k: torch.from_numpy(replay.gather(k, slice(start, stop))).to(device) for k in keys}
        parts.append(model.encode(obs))
    return torch.cat(parts)


def memory_indices(store: EpisodeStore, val_fraction: float, count: int, seed: int) -> list[int]:
    """The training episodes (never validation ones) whose observations the memory graph holds: `count`
    of them, a fixed sample for a seed."""
    train_indices, _ = split_indices(store.indices(), val_fraction)
    pick = np.random.default_rng([seed, 5]).permutation(train_indices)[:count]
    return sorted(int(i) for i in pick)


def build_memory(model, agent_cfg, store: EpisodeStore, indices: list[int], inputs, device) -> dict:
    """The memory graph (agent/waypoints.py) of episodes `indices` of `store` under `model`."""
    episodes = [{k: v for k, v in store.read(i).items() if k in inputs} for i in indices]
    return memory_from_episodes(
        model,
        episodes,
        agent_cfg.landmark_steps,
        device,
        quantile=agent_cfg.landmark_quantile,
        join_quantile=agent_cfg.join_quantile,
    )


def train_offline(cfg: OfflineConfig) -> dict:
    """Train as configured (resuming when asked); return updates, wall time and the last validation."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    info, device = setup(cfg.device)
    try:
        run = RunDir(cfg.run_dir)
        prepare_run(info, run, cfg, resume=cfg.resume)
        trainer = OfflineTrainer(cfg, EpisodeStore(cfg.dataset), device, run, info)
        if cfg.resume:
            trainer.restore()
        logger = rank_logger(info, run.root, cfg.updates, initial_step=trainer.updates, progress=cfg.progress)
        try:
            return trainer.fit(logger)
        finally:
            logger.close()
    finally:
        teardown(info)


def main() -> None:
    from eval.app import run_app

    def body(cfg: OfflineConfig) -> None:
        result = train_offline(cfg)
        if not is_main_process():
            return
        print(
            f"{result['updates']} updates in {result['wall_s'] / 60:.1f} min; validation prediction loss "
            f"{result.get('val/pred_loss', float('nan')):.4g}; checkpoint: {RunDir(cfg.run_dir).checkpoint}"
        )

    run_app("offline", OfflineConfig, body, pathlib.Path(__file__).with_name("conf"))


if __name__ == "__main__":
    main()
