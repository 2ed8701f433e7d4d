"""Reward-free goal reaching: offline training, checkpoints that plan identically, success from the env."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import torch

from agent.checkpoint import load_agent
from agent.config import GoalAgentConfig, ModelConfig
from agent.mpc import MPCAgent
from agent.objectives import GoalEnergy
from agent.planners import CEM, CEMConfig
from envs import make_env
from eval.episode import run_episode
from train.config import OfflineConfig
from train.dataset import EpisodeStore
from train.logger import Logger
from train.offline import OfflineTrainer, train_offline
from train.run_dir import RunDir


def _offline_cfg(dataset, run_dir, **kw) -> OfflineConfig:
    agent = GoalAgentConfig(
        model=ModelConfig(size="tiny", overrides={**GoalAgentConfig().model.overrides, "probe_size": 8}),
        cem=CEMConfig(horizon=3, samples=32, iterations=2, elites=4),
        batch_size=32,
        horizon=3,
    )
    base = dict(
        dataset=str(dataset),
        updates=150,
        eval_every=50,
        checkpoint_every=50,
        val_fraction=0.2,
        run_dir=str(run_dir),
        progress=False,
        threads=1,
        agent=agent,
    )
    return OfflineConfig(**{**base, **kw})


def test_offline_training_lowers_validation_loss(dataset, tmp_path):
    cfg = _offline_cfg(dataset, tmp_path)
    run = RunDir(tmp_path)
    run.prepare(cfg, resume=False)
    torch.manual_seed(0)
    trainer = OfflineTrainer(cfg, EpisodeStore(dataset), torch.device("cpu"), run)
    before = trainer.validate()["val/pred_loss"]
    logger = Logger(run.root, cfg.updates, progress=False, tensorboard=False)
    result = trainer.fit(logger)
    logger.close()
    assert result["updates"] == 150
    assert result["val/pred_loss"] < 0.8 * before, (before, result["val/pred_loss"])
    assert result["val/z_std"] > 0.1, "the anti-collapse term keeps the latent spread"
    assert run.checkpoint.exists() and run.metrics.exists()


def test_checkpoint_reloads_and_plans_identically(dataset, tmp_path):
    cfg = _offline_cfg(dataset, tmp_path, updates=20)
    train_offline(cfg)
    env = make_env("goal/two-rooms", obs="state+pixels", size=32)
    obs, _ = env.reset(seed=4)
    actions = []
    for _ in range(2):
        agent = load_agent(RunDir(tmp_path).checkpoint, env, seed=7)
        agent.reset()
        actions.append([agent.act(obs) for _ in range(3)])
    np.testing.assert_array_equal(np.array(actions[0]), np.array(actions[1]))
    other = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, planner="gradient")
    assert type(other.planner).__name__ == "GradientPlanner"
    assert other.imagined_frames() is None  # nothing planned yet
    other.act(obs)
    assert other.imagined_frames().shape[1:] == (8, 8, 3)
    longer = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, horizon=9, energy_steps="final")
    assert longer.planner.cfg.horizon == 9 and longer.objective.steps == "final"
    assert len(longer.act(obs)) == 2 and longer._plan.shape[0] in (8, 9)
    env.close()


def test_offline_time_limit_and_resume(dataset, tmp_path):
    cfg = _offline_cfg(dataset, tmp_path, updates=40)
    first = train_offline(dataclasses.replace(cfg, updates=20))
    assert first["updates"] == 20
    resumed = train_offline(dataclasses.replace(cfg, resume=True))
    assert resumed["updates"] == 40
    limited = train_offline(dataclasses.replace(cfg, run_dir=str(tmp_path / "limited"), time_limit_s=0.0))
    assert limited["updates"] == 1


class PointMassGoal(gym.Env):
    """x' = x + 0.1 a in 2-D; success within 0.05 of the goal (the env's own tolerance)."""

    observation_space = gym.spaces.Dict(
        {
            "state": gym.spaces.Box(-5, 5, (2,), np.float32),
            "goal": gym.spaces.Dict({"state": gym.spaces.Box(-5, 5, (2,), np.float32)}),
        }
    )
    action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.goal = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return {"state": self.x.copy(), "goal": {"state": self.goal.copy()}}

    def step(self, action):
        self.x = (self.x + 0.1 * np.clip(action, -1, 1)).astype(np.float32)
        self.t += 1
        dist = float(np.linalg.norm(self.x - self.goal))
        return self._obs(), 0.0, False, self.t >= 40, {"success": dist <= 0.05, "goal_distance": dist}


class PerfectModel(torch.nn.Module):
    """The point mass's true dynamics as a 'world model'."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def encode(self, obs):
        return obs["state"].float()

    def predict(self, z, a):
        return z + 0.1 * a


def test_goal_planning_with_perfect_model_succeeds():
    env = PointMassGoal()
    planner = CEM(CEMConfig(horizon=5, samples=64, iterations=4, elites=8))
    agent = MPCAgent(PerfectModel(), planner, GoalEnergy("l2", "final"), 2, generator=torch.Generator().manual_seed(0))
    results = [run_episode(env, agent, seed=s) for s in range(5)]
    assert all(r.success for r in results), [r.final_distance for r in results]


class BlindModel(PerfectModel):
    """Believes every state is the goal: its energy is always zero."""

    def encode(self, obs):
        return torch.zeros(obs["state"].shape[0], 2)


def test_success_comes_from_the_environment_not_the_model():
    env = make_env("goal/two-rooms", obs="state")
    agent = MPCAgent(
        BlindModel(),
        CEM(CEMConfig(horizon=2, samples=8, iterations=1, elites=2)),
        GoalEnergy(),
        2,
        generator=torch.Generator().manual_seed(0),
    )
    result = run_episode(env, agent, seed=0)
    assert agent.last_plan.energy.item() == 0.0
    assert result.success is False and result.final_distance > 0.1
    env.close()
