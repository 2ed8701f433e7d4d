"""Online training: the loop's schedule, kill -9 and resume, determinism, learning on a real task."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent.config import ModelConfig, RewardAgentConfig
from agent.planners import MPPIConfig
from agent.random_agent import RandomAgent
from envs import make_env
from eval.episode import run_episode
from eval.evaluate import Job, run_job
from eval.evaluate import episode_seed as eval_seed
from train.config import TrainConfig
from train.dataset import EpisodeStore
from train.logger import Logger
from train.online import Trainer, train
from train.replay import Replay
from train.run_dir import RunDir, config_differences


class ShortEnv(gym.Env):
    """Ten-step episodes with a 1-D state; reward = -|x|."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 1).astype(np.float32)
        return self.x.copy(), {}

    def step(self, action):
        self.x = np.clip(self.x + 0.1 * action, -10, 10).astype(np.float32)
        return self.x.copy(), float(-abs(self.x[0])), False, False, {}


gym.register("ShortTest-v0", entry_point=ShortEnv, max_episode_steps=10)


class CountingAgent:
    discount = 0.9

    def __init__(self):
        self.updates, self.acts, self.batches, self.flushes, self.fitted = 0, 0, [], 0, []

    def reset(self):
        pass

    def act(self, obs, *, goal=None, explore=False):
        self.acts += 1
        return np.zeros(1, np.float32)

    def fit_state_norm(self, states):
        self.fitted.append(tuple(states.shape))

    def update(self, batch):
        self.updates += 1
        self.batches.append(batch.action.shape)
        return {"loss": 1.0}

    def flush(self):
        self.flushes += 1
        return {}

    def state_dict(self):
        return {"updates": self.updates}

    def load_state_dict(self, state):
        self.updates = state["updates"]


def test_loop_follows_schedule(tmp_path):
    cfg = TrainConfig(
        task="gym/ShortTest-v0",
        steps=100,
        seed_steps=20,
        updates_per_decision=0.5,
        eval_every=30,
        eval_episodes=2,
        checkpoint_every=50,
        video=False,
        run_dir=str(tmp_path),
        progress=False,
    )
    run = RunDir(tmp_path)
    run.prepare(cfg, resume=False)
    env, eval_env = make_env(cfg.task), make_env(cfg.task)
    agent = CountingAgent()
    store = EpisodeStore(run.replay, {"task": cfg.task})
    trainer = Trainer(cfg, env, eval_env, agent, Replay(1000), store, run)
    logger = Logger(run.root, cfg.steps, progress=False, tensorboard=False)
    result = trainer.fit(logger)
    logger.close()
    assert result["step"] == 100 and trainer.state.episode == 10 and len(store) == 10
    # 10 updates once seeding ends (20 seed steps x 0.5), then 0.5 per decision for the 80 after it.
    assert agent.updates == 10 + 40
    # The agent is offered the replay's states once, before its first update, when seeding ends at step 20:
    # the first episode's 11 observations (the second is still running).
    assert agent.fitted == [(11, 1)]
    assert set(agent.batches) == {(3, 256, 1)}
    # Random actions for the first 20 steps; the agent acts in the 80 training steps and 4 x 2 x 10 eval steps.
    assert agent.acts == 80 + 4 * 2 * 10
    steps = [int(line.split(",")[0]) for line in run.curve.read_text().splitlines()[1:]]
    assert steps == [30, 60, 90, 100]
    logged = [json.loads(line)["step"] for line in run.metrics.read_text().splitlines()]
    assert logged == list(range(10, 101, 10))
    assert run.checkpoint.exists()
    payload = torch.load(run.checkpoint, weights_only=False)
    assert payload["loop"]["step"] == 100 and payload["agent"]["updates"] == 50
    # A background update is settled before each evaluation (4) and each checkpoint (at 30, 50, 60, 90, 100).
    assert agent.flushes == 4 + 5


def _tiny_cfg(run_dir, lr_final=1.0, **kw) -> TrainConfig:
    agent = RewardAgentConfig(
        model=ModelConfig(size="tiny", overrides={**RewardAgentConfig().model.overrides, "num_bins": 21}),
        planner=MPPIConfig(samples=32, iterations=2, elites=8, prior_samples=4, score_plan=False),
        batch_size=32,
        lr_final=lr_final,
    )
    base = dict(
        task="dmc/cartpole-swingup",
        action_repeat=4,
        updates_per_decision=0.5,
        steps=2000,
        seed_steps=1000,
        eval_every=2000,
        eval_episodes=1,
        checkpoint_every=1000,
        video=False,
        run_dir=str(run_dir),
        progress=False,
        threads=1,
        agent=agent,
    )
    return TrainConfig(**{**base, **kw})


def _overrides(cfg: TrainConfig) -> list[str]:
    a = cfg.agent
    return [
        f"task={cfg.task}",
        f"action_repeat={cfg.action_repeat}",
        f"updates_per_decision={cfg.updates_per_decision}",
        f"steps={cfg.steps}",
        f"seed_steps={cfg.seed_steps}",
        f"eval_every={cfg.eval_every}",
        f"eval_episodes={cfg.eval_episodes}",
        f"checkpoint_every={cfg.checkpoint_every}",
        "video=false",
        f"run_dir={cfg.run_dir}",
        "progress=false",
        "threads=1",
        "agent.model.size=tiny",
        "+agent.model.overrides.num_bins=21",
        f"agent.planner.samples={a.planner.samples}",
        f"agent.planner.iterations={a.planner.iterations}",
        f"agent.planner.elites={a.planner.elites}",
        f"agent.planner.prior_samples={a.planner.prior_samples}",
        f"agent.batch_size={a.batch_size}",
        f"agent.lr_final={a.lr_final}",
    ]


def _run_record(run_dir):
    run = RunDir(run_dir)
    metrics = [
        {k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
        for line in run.metrics.read_text().splitlines()
    ]
    agent = torch.load(run.checkpoint, weights_only=False)["agent"]
    return run.curve.read_text(), metrics, {**agent["model"], "updates": torch.tensor(agent["updates"])}


def test_kill_and_resume_continues_identically(tmp_path):
    # With a decaying learning rate: the resumed run must pick the schedule up where it was.
    reference = _tiny_cfg(tmp_path / "ref", lr_final=0.5)
    train(reference)
    final = torch.load(RunDir(reference.run_dir).checkpoint, weights_only=False)["agent"]["policy_optim"]
    assert final["param_groups"][0]["lr"] == pytest.approx(0.5 * reference.agent.lr, rel=1e-3)  # decayed to the end
    killed = _tiny_cfg(tmp_path / "killed", lr_final=0.5)
    proc = subprocess.Popen(
        [sys.executable, "-m", "train", *_overrides(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    ckpt = RunDir(killed.run_dir).checkpoint
    deadline = time.time() + 240
    while time.time() < deadline and not ckpt.exists() and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # into the next episode, past the checkpoint
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    train(dataclasses.replace(killed, resume=True))
    curve_a, metrics_a, params_a = _run_record(reference.run_dir)
    curve_b, metrics_b, params_b = _run_record(killed.run_dir)
    assert curve_a == curve_b
    assert metrics_a == metrics_b
    for key in params_a:
        torch.testing.assert_close(params_a[key], params_b[key], rtol=0, atol=0)
    _assert_same_replay(reference.run_dir, killed.run_dir)


def _assert_same_replay(a, b):
    sa, sb = EpisodeStore(RunDir(a).replay), EpisodeStore(RunDir(b).replay)
    assert sa.indices() == sb.indices()
    for i in sa.indices():
        np.testing.assert_array_equal(sa.read(i)["action"], sb.read(i)["action"])


def test_evaluation_in_worker_processes_matches_the_final_checkpoint(tmp_path):
    cfg = _tiny_cfg(tmp_path, steps=2000, seed_steps=1000, eval_every=2000, eval_episodes=2, eval_workers=2)
    result = train(cfg)
    run = RunDir(cfg.run_dir)
    jobs = [
        Job(cfg.task, cfg.obs, cfg.seed, i, str(run.checkpoint), None, 64, action_repeat=cfg.action_repeat)
        for i in range(cfg.eval_episodes)
    ]
    returns = [run_job(job)["total_return"] for job in jobs]  # here, from the checkpoint saved after it
    assert result["eval/return"] == pytest.approx(np.mean(returns), rel=1e-6)
    assert run.curve.read_text().splitlines()[1:] == [f"2000,{result['eval/return']:.4f},0"]


def test_resume_refuses_changed_settings(tmp_path):
    cfg = _tiny_cfg(tmp_path, steps=1000, seed_steps=1000)
    train(cfg)
    with pytest.raises(ValueError, match="seed"):
        train(dataclasses.replace(cfg, resume=True, seed=5))
    with pytest.raises(FileExistsError, match="resume=true"):
        train(cfg)


def test_resume_names_nested_changes_and_accepts_settings_added_since():
    defaults = {"seed": 0, "steps": 10, "agent": {"lr": 3e-4, "eval_execute": None}}
    saved = {"seed": 1, "steps": 10, "agent": {"lr": 1e-3}}  # written before eval_execute existed
    now = {"seed": 1, "steps": 20, "agent": {"lr": 1e-3, "eval_execute": None}}
    assert config_differences(saved, now, defaults) == []  # steps may change; the new key is at its default
    changed = {"seed": 2, "steps": 10, "agent": {"lr": 3e-4, "eval_execute": "elite"}}
    assert config_differences(saved, changed, defaults) == ["agent.eval_execute", "agent.lr", "seed"]


def test_short_run_beats_random_agent(tmp_path):
    # The default-size model with a cheap planner, action repeat 2: ~1.5 minutes on 2 cores.
    agent = RewardAgentConfig(planner=MPPIConfig(samples=64, iterations=3, elites=8, prior_samples=8), batch_size=128)
    cfg = _tiny_cfg(
        tmp_path, action_repeat=2, updates_per_decision=1.0, steps=4000, eval_every=4000, eval_episodes=2, agent=agent
    )
    result = train(cfg)
    env = make_env(cfg.task, action_repeat=cfg.action_repeat)
    random_returns = [
        run_episode(env, RandomAgent(1, rng=np.random.default_rng(i)), seed=eval_seed(cfg.seed, i)).total_return
        for i in range(2)
    ]
    assert result["eval/return"] > 2 * np.mean(random_returns) + 50, (result["eval/return"], random_returns)


def test_state_norm_is_fitted_to_the_seed_data_and_saved(tmp_path):
    base = _tiny_cfg(tmp_path)
    model = dataclasses.replace(
        base.agent.model, overrides={**base.agent.model.overrides, "state_norm": "data", "target": "ema"}
    )
    cfg = dataclasses.replace(
        base, steps=1200, eval_every=1200, checkpoint_every=1200, agent=dataclasses.replace(base.agent, model=model)
    )
    train(cfg)
    run = RunDir(cfg.run_dir)
    seed_episode = EpisodeStore(run.replay).read(0)["state"]  # the one 1000-step seed episode (action repeat 4)
    weights = torch.load(run.checkpoint, weights_only=False)["agent"]["model"]
    for encoder in ("encoder", "target_encoder"):
        shift, scale = weights[f"{encoder}.state_shift"], weights[f"{encoder}.state_scale"]
        # Saved from the training device (a GPU where there is one); the episode's statistics are on the CPU.
        torch.testing.assert_close(shift.cpu(), torch.as_tensor(seed_episode.mean(0)))
        torch.testing.assert_close(scale.cpu(), torch.as_tensor(seed_episode.std(0, ddof=1)).clamp_min(1e-2))
