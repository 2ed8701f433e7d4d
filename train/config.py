"""Typed configuration of the training commands (field names are the command-line keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config import GoalAgentConfig, RewardAgentConfig

# Keys that may change when a run is resumed; every other one must match the saved config.
RESUMABLE_CHANGES = (
    "resume",
    "steps",
    "updates",
    "time_limit_s",
    "progress",
    "threads",
    "device",
    "video",
    "precision",
    "compile",
    "eval_workers",
    # The schedule from here on: a resumed run may go on with its encoder frozen (a frozen one stays frozen).
    "freeze_encoder_s",
    "frozen_batch_size",
    "frozen_horizon",
)


@dataclass(frozen=True)
class TrainConfig:
    """`python -m train`: online training of the reward-driven agent.

    The defaults are the main job: a run of about 11 minutes on a 2-core CPU (15k steps) that takes
    cartpole-swingup far above a random agent. The TD-MPC2 comparison runs use `steps=100000 seed_steps=null
    updates_per_decision=1 eval_every=10000 eval_episodes=10` (benchmarks/train_dmc.sh).

    Attributes:
        task, obs, size, action_repeat: the environment (see `envs.make_env`).
        seed: seeds everything (parameters, episodes, exploration, replay sampling).
        steps: control steps to train for, action repeat counted (TD-MPC2's convention).
        seed_steps: random-action steps first (None: max(1000, 5 episodes), as TD-MPC2).
        updates_per_decision: gradient updates per agent decision after seeding.
        eval_every, eval_episodes: evaluation schedule (control steps) and size.
        eval_workers: processes that run the evaluation episodes (1: in the training process). On a
            2-core CPU, 2 halve evaluation's wall time; each episode then reseeds the agent from its seed.
        checkpoint_every: checkpoint schedule (control steps; also after each evaluation).
        video: record the first evaluation episode of each evaluation.
        run_dir: where everything goes (layout in train/online.py).
        resume: continue the run in `run_dir` from its last checkpoint.
        device: `auto` (CUDA when present), `cpu`, `cuda`, `cuda:1`, ...
        threads: torch CPU threads (None leaves torch's default).
        precision: `fp32`, or `bf16` autocast for the losses (see train/accel.py for where it helps).
        compile: torch.compile the encoder, predictor and heads.
        overlap: run each world-model step in a background thread while the loop plans and trains the
            policy prior (single-process runs; planning then lags the world model by one update).
            `threads` is then per thread (unset: half the cores each).
    """

    task: str = "dmc/cartpole-swingup"
    obs: str = "state"
    size: int = 64
    action_repeat: int | None = None
    seed: int = 0
    steps: int = 15_000
    seed_steps: int | None = 2_000
    updates_per_decision: float = 1.0
    eval_every: int = 5_000
    eval_episodes: int = 3
    eval_workers: int = 1
    checkpoint_every: int = 5_000
    video: bool = True
    replay_capacity: int = 1_000_000
    run_dir: str = "runs/${task}/seed${seed}"
    resume: bool = False
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    precision: str = "fp32"
    compile: bool = False
    overlap: bool = True
    agent: RewardAgentConfig = field(default_factory=RewardAgentConfig)


@dataclass(frozen=True)
class OfflineConfig:
    """`python -m train.offline`: a reward-free JEPA world model from a dataset, for goal reaching.

    Attributes:
        dataset: a folder written by `python -m train.collect`.
        val_fraction: share of episodes held out for validation (the last ones).
        updates: gradient updates. eval_every: validation schedule (updates).
        run_dir: checkpoints, logs and `val_loss` go there.
        precision, compile: as in `TrainConfig`.
        freeze_encoder_s: after this many seconds of training (None: never), freeze the encoder, encode
            every training observation once and train the predictor alone on those latents for the rest
            of the run (DINO-WM's predictor on frozen features): an update then costs no encoding, so a
            pixel model gets many times the predictor updates in the same time. One process only.
        frozen_batch_size: sequences per update once frozen (None: `agent.batch_size`).
        frozen_horizon: transitions per sequence once frozen (None: `agent.horizon`); cached latents make
            sequences as long as the planner's horizon cheap to train on.
        select_scenes: a goal-scene file (`benchmarks.push_t_hold --scenes-out`), or None. With
            `freeze_encoder_s`, the encoder is scored on it (the AUC of `agent`'s goal energy, its
            `state_weight` and `glimpse_weight` applied, at telling scenes within tolerance) every
            `select_every_s` seconds before the freeze, and the best-scoring model is the one frozen
            (train/selection.py). The scoring's time counts in the run's wall time.
        select_every_s: seconds between scores.
        frozen_lr_final: None keeps `agent.lr` throughout. A fraction f anneals the learning rate once frozen,
            along a half cosine over time from `agent.lr` at `freeze_encoder_s` to `f * agent.lr` at
            `time_limit_s`: the predictor's last updates then settle into a minimum instead of jittering
            around it at full step size (what a constant rate leaves: the validation loss wanders by 15%
            over the last minutes). Needs `freeze_encoder_s` and `time_limit_s`.
    """

    dataset: str = "data/goal/reacher"
    seed: int = 0
    updates: int = 5_000
    val_fraction: float = 0.05
    eval_every: int = 500
    checkpoint_every: int = 1_000
    run_dir: str = "runs/offline/seed${seed}"
    resume: bool = False
    device: str = "auto"
    threads: int | None = None
    progress: bool = True
    time_limit_s: float | None = None
    precision: str = "fp32"
    compile: bool = False
    freeze_encoder_s: float | None = None
    frozen_batch_size: int | None = None
    frozen_horizon: int | None = None
    select_scenes: str | None = None
    select_every_s: float = 60.0
    frozen_lr_final: float | None = None
    agent: GoalAgentConfig = field(default_factory=GoalAgentConfig)


@dataclass(frozen=True)
class MemoryConfig:
    """`python -m train.memory`: (re)build the memory graph of a goal-reaching checkpoint from a dataset,
    without training (agent/waypoints.py). The checkpoint is rewritten atomically.

    Attributes:
        checkpoint: a checkpoint written by `python -m train.offline`.
        dataset: the dataset it was trained on (the memory takes training episodes only).
        val_fraction, seed: as the training run had them (they fix which episodes are training ones
            and which are sampled).
        memory_episodes, landmark_steps, landmark_quantile, join_quantile: as in `GoalAgentConfig`
            (None: the checkpoint's own setting).
        device: where the model encodes the episodes.
    """

    checkpoint: str = "runs/offline/seed0/checkpoints/latest.pt"
    dataset: str = "data/goal/reacher"
    val_fraction: float = 0.05
    seed: int = 0
    memory_episodes: int | None = None
    landmark_steps: int | None = None
    landmark_quantile: float | None = None
    join_quantile: float | None = None
    device: str = "auto"
