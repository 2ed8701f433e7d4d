"""Reward-free goal reaching: offline training, checkpoints that plan identically, success from the env."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import eval.evaluate as evaluate_module
from agent.checkpoint import load_agent, load_checkpoint, save_checkpoint
from agent.config import GoalAgentConfig, ModelConfig
from agent.ensemble import ModelEnsemble
from agent.mpc import MPCAgent, obs_to_tensor
from agent.objectives import GoalEnergy
from agent.planners import CEM, CEMConfig
from agent.waypoints import LandmarkGraph, reach_radius
from envs import make_env
from eval.episode import run_episode
from eval.evaluate import Job, run_job
from train.config import MemoryConfig, OfflineConfig
from train.dataset import EpisodeStore
from train.logger import Logger
from train.memory import rebuild_memory
from train.offline import OfflineTrainer, memory_indices, train_offline
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


def test_offline_state_norm_is_fitted_to_the_training_split(dataset, tmp_path):
    cfg = _offline_cfg(dataset, tmp_path, updates=1)
    model = dataclasses.replace(cfg.agent.model, overrides={**cfg.agent.model.overrides, "state_norm": "data"})
    cfg = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, inputs="state", model=model))
    run = RunDir(tmp_path)
    run.prepare(cfg, resume=False)
    trainer = OfflineTrainer(cfg, EpisodeStore(dataset), torch.device("cpu"), run)
    states = torch.as_tensor(trainer.train_replay.observations("state"))
    torch.testing.assert_close(trainer.model.encoder.state_shift, states.mean(0))
    torch.testing.assert_close(trainer.model.encoder.state_scale, states.std(0).clamp_min(1e-2))
    assert not torch.allclose(states.mean(0), torch.as_tensor(trainer.val_replay.observations("state")).mean(0))


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
    # The checkpoint carries a memory graph; planning goes through it unless told otherwise.
    assert agent.waypoints is not None and agent.waypoints.latents.shape[1] == agent.model.cfg.latent_dim
    assert load_agent(RunDir(tmp_path).checkpoint, env, seed=7, waypoints=False).waypoints is None
    longer = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, horizon=9, energy_steps="final")
    assert longer.planner.cfg.horizon == 9 and longer.objective.steps == "final"
    cheaper = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, samples=24, iterations=2)
    assert (cheaper.planner.cfg.samples, cheaper.planner.cfg.iterations) == (24, 2)
    assert cheaper.planner.cfg.horizon == agent.planner.cfg.horizon  # the rest as saved
    with pytest.raises(ValueError, match="samples=3 is fewer than the cem planner's 4 elites; use samples >= 4"):
        load_agent(RunDir(tmp_path).checkpoint, env, samples=3)
    smooth = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, noise_beta=2.0)
    assert smooth.planner.cfg.noise_beta == 2.0 and agent.planner.cfg.noise_beta == 0.0
    costly = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, action_cost=0.5)
    assert type(costly.objective).__name__ == "WeightedSum" and costly.objective.terms[1][0] == 0.5
    assert type(agent.objective).__name__ == "GoalEnergy"  # no control cost unless asked
    corrected = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, drift_correction=True)
    assert corrected.drift_correction and not agent.drift_correction
    corrected.reset()
    assert corrected.act(obs).shape == (2,)
    adapting = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, adapt_steps=2, adapt_lr=1e-3, adapt_pull=0.1)
    fit = adapting.adaptation
    assert (fit.steps, fit.lr, fit.horizon, fit.pull) == (2, 1e-3, 3, 0.1) and agent.adaptation is None
    trained = [p.clone() for p in adapting.model.predictor.parameters()]
    adapting.reset()
    for _ in range(4):
        adapting.act(obs)
    assert any(not torch.equal(p, q) for p, q in zip(adapting.model.predictor.parameters(), trained, strict=True))
    adapting.reset()  # the next episode plans with the trained predictor again
    assert all(torch.equal(p, q) for p, q in zip(adapting.model.predictor.parameters(), trained, strict=True))
    with pytest.raises(TypeError, match=r"unknown planning settings \['horizn'\]; known: planner, horizon"):
        load_agent(RunDir(tmp_path).checkpoint, env, horizn=9)
    with pytest.raises(ValueError, match="hold_pose reads the glimpse's moments; this model has none"):
        load_agent(RunDir(tmp_path).checkpoint, env, hold_pose=[0.05, 15])
    committed = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, execute=2)
    assert committed.cfg.execute == 2 and agent.cfg.execute == 1
    committed.reset()
    committed.act(obs)
    first_plan = committed._plan
    committed.act(obs)  # the plan's second action, not a new plan
    assert committed._plan is first_plan and committed._since_plan == 2
    with pytest.raises(ValueError, match="execute=4: the actions executed from each plan must be between 1 and the"):
        load_agent(RunDir(tmp_path).checkpoint, env, execute=4)  # beyond the saved horizon of 3
    holding = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, hold_energy=0.2)
    assert holding.hold.threshold == 0.2 and holding.hold.energy.steps == "final" and agent.hold is None
    robust = load_agent(RunDir(tmp_path).checkpoint, env, seed=7, perturbations=2, perturbation_std=0.3)
    assert (robust.planner.cfg.perturbations, robust.planner.cfg.perturbation_std) == (2, 0.3)
    assert agent.planner.cfg.perturbations == 0
    assert robust.act(obs).shape == (2,)
    with pytest.raises(ValueError, match="perturbations= and perturbation_std= smooth CEM's scores"):
        load_agent(RunDir(tmp_path).checkpoint, env, planner="mppi", perturbations=2)
    with pytest.raises(ValueError, match="perturbation_std=0.0: perturbed copies need a std > 0"):
        load_agent(RunDir(tmp_path).checkpoint, env, perturbations=2, perturbation_std=0.0)
    assert load_agent(RunDir(tmp_path).checkpoint, env, seed=7, cem_result="mean").planner.cfg.result == "mean"
    with pytest.raises(ValueError, match="cem_result= picks CEM's returned plan"):
        load_agent(RunDir(tmp_path).checkpoint, env, planner="mppi", cem_result="mean")
    with pytest.raises(ValueError, match="noise_beta= colours CEM's samples"):
        load_agent(RunDir(tmp_path).checkpoint, env, planner="mppi", noise_beta=2.0)
    with pytest.raises(ValueError, match="planner=gradient has none"):
        load_agent(RunDir(tmp_path).checkpoint, env, planner="gradient", iterations=3)
    with pytest.raises(ValueError, match="state_latent=k, or leave state_weight at 1"):  # a fused latent
        load_agent(RunDir(tmp_path).checkpoint, env, seed=7, state_weight=4.0)
    assert len(longer.act(obs)) == 2 and longer._plan.shape[0] in (8, 9)
    env.close()
    # An environment that does not serve the model's inputs is refused by name, not by a matmul error.
    smaller = make_env("goal/two-rooms", obs="state+pixels", size=16)
    with pytest.raises(ValueError, match=r"pixels: trained on \(3, 32, 32\), the environment gives \(3, 16, 16\)"):
        load_agent(RunDir(tmp_path).checkpoint, smaller)
    smaller.close()


def test_the_evaluation_command_plans_on_the_device_its_config_names(dataset, tmp_path):
    cfg = _offline_cfg(dataset, tmp_path, updates=10)
    train_offline(cfg)
    ck = str(RunDir(tmp_path).checkpoint)
    assert evaluate_module.EvalConfig().device == "auto"  # CUDA when present, as training
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        job = Job("goal/two-rooms", "state+pixels", 0, 0, ck, None, 64, size=32, device=device)
        assert run_job(job)["length"] > 0
        agent = evaluate_module._AGENT["agent"]
        assert next(agent.model.parameters()).device.type == device
        assert agent.generator.device.type == device
    if not torch.cuda.is_available():  # asked for a GPU that is not there: said so, with the fix
        job = Job("goal/two-rooms", "state+pixels", 0, 0, ck, None, 64, size=32, device="cuda")
        with pytest.raises(ValueError, match="CUDA is not available here; use device=auto or device=cpu"):
            run_job(job)


def test_an_ensemble_of_checkpoints_plans_on_the_mean_of_its_members_energies(dataset, tmp_path):
    paths = []
    for seed in (0, 1):
        cfg = _offline_cfg(dataset, tmp_path / f"m{seed}", updates=10, seed=seed)
        train_offline(cfg)
        paths.append(RunDir(cfg.run_dir).checkpoint)
    env = make_env("goal/two-rooms", obs="state+pixels", size=32)
    obs, _ = env.reset(seed=4)
    first, second = (load_agent(p, env, seed=7, waypoints=False) for p in paths)
    both = load_agent(paths[0], env, seed=7, ensemble=[paths[1]])
    assert isinstance(both.model, ModelEnsemble) and both.waypoints is None  # straight at the goal
    D = first.model.cfg.latent_dim
    assert both.model.cfg.latent_dim == 2 * D
    with torch.no_grad():
        z = both.model.encode(obs_to_tensor(obs, "cpu"))  # (1, 2D): each member's own latent
        torch.testing.assert_close(z[:, :D], first.model.encode(obs_to_tensor(obs, "cpu")))
        torch.testing.assert_close(z[:, D:], second.model.encode(obs_to_tensor(obs, "cpu")))
        a = torch.zeros(1, 2)
        step = both.model.predict(z, a)  # each member steps its own part
        torch.testing.assert_close(step[:, D:], second.model.predict(z[:, D:], a))
        # The energy of a rollout is the mean of the members' energies of their parts.
        goal = both.encode_goal(obs["goal"])[None]
        zs = torch.stack([z, step])  # (H+1=2, 1, 2D)
        mean = (
            first.objective(zs[..., :D], a[None], goal[:, :D]) + second.objective(zs[..., D:], a[None], goal[:, D:])
        ) / 2
        torch.testing.assert_close(both.objective(zs, a[None], goal), mean)
    again = load_agent(paths[0], env, seed=7, ensemble=[paths[1]])
    both.reset(), again.reset()
    np.testing.assert_array_equal([both.act(obs) for _ in range(2)], [again.act(obs) for _ in range(2)])
    with pytest.raises(ValueError, match="members' memories live in different latent spaces"):
        load_agent(paths[0], env, ensemble=[paths[1]], waypoints=True)
    env.close()
    # The evaluation command plans with the same ensemble (`ensemble=[...]` beside `checkpoint=`).
    job = Job("goal/two-rooms", "state+pixels", 0, 0, str(paths[0]), None, 64, size=32, ensemble=(str(paths[1]),))
    assert run_job(job)["length"] > 0 and isinstance(evaluate_module._AGENT["agent"].model, ModelEnsemble)
    with pytest.raises(ValueError, match="give checkpoint= as well"):  # an ensemble beside a random agent
        evaluate_module.make_agent(None, env, 0, ensemble=(str(paths[1]),))


def test_model_ensemble_needs_two_models_with_one_history_length():
    from world_model import WorldModel, preset

    def model(history):
        return WorldModel({"state": (3,)}, 2, preset("tiny", history=history))

    with pytest.raises(ValueError, match="at least 2 models"):
        ModelEnsemble([model(1)])
    with pytest.raises(ValueError, match=r"different history lengths \[1, 2\]"):
        ModelEnsemble([model(1), model(2)])
    pair = ModelEnsemble([model(2), model(2)])
    D = pair.members[0].cfg.latent_dim
    z, past, a = torch.randn(4, 2 * D), torch.randn(1, 4, 2 * D), torch.randn(4, 2)
    with torch.no_grad():
        torch.testing.assert_close(pair.predict(z, a, past)[:, :D], pair.members[0].predict(z[:, :D], a, past[..., :D]))


def test_memory_rebuild_rewrites_the_checkpoint_from_training_episodes(dataset, tmp_path):
    cfg = _offline_cfg(dataset, tmp_path, updates=10)
    train_offline(cfg)
    path = RunDir(tmp_path).checkpoint
    built = load_checkpoint(path)["memory"]
    store = EpisodeStore(dataset)
    training = memory_indices(store, cfg.val_fraction, 200, cfg.seed)
    assert training == [0, 1, 2, 3, 4]  # 6 episodes, the last held out for validation
    assert len(built["latents"]) == sum(len(store.read(i)["state"]) for i in training)
    # Rebuilding with the training settings reproduces it; other settings are recorded in the config.
    payload = load_checkpoint(path)
    del payload["memory"]  # as a checkpoint from before the memory existed
    save_checkpoint(path, payload)
    # On the device training used (`auto` both): a GPU's sums differ from a CPU's in the last digits.
    rebuild = MemoryConfig(checkpoint=str(path), dataset=str(dataset), val_fraction=cfg.val_fraction, device="auto")
    rebuild_memory(rebuild)
    again = load_checkpoint(path)["memory"]
    torch.testing.assert_close(again["latents"], built["latents"])
    assert again["join"] == pytest.approx(built["join"])
    out = rebuild_memory(dataclasses.replace(rebuild, memory_episodes=2, join_quantile=0.9))
    payload = load_checkpoint(path)
    assert out["episodes"] == 2 and payload["agent_config"]["join_quantile"] == 0.9
    assert payload["memory"]["join"] > built["join"]
    with pytest.raises(ValueError, match="memory_episodes"):
        rebuild_memory(dataclasses.replace(rebuild, memory_episodes=0))


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


class DriftingModel(PerfectModel):
    """The point mass whose predictor also drifts by a constant each step, whatever the action: a biased model."""

    def predict(self, z, a):
        return z + 0.1 * a + torch.tensor([0.05, -0.03])


def test_drift_correction_scores_plans_as_the_unbiased_model_would():
    """Less its zero-action rollout, a constant drift cancels exactly: the agent plans what the true model
    plans, and reaches the goals; uncorrected, the drift it expects changes its plans."""
    from agent.objectives import DriftCorrected, zero_action_drift

    z0, goal = torch.tensor([0.2, -0.1]), torch.tensor([[0.5, 0.3]])
    actions = torch.rand(6, 1, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1  # (H, N=1, A)
    energy = GoalEnergy("l2", "all")

    def rollout(model):
        zs = [z0[None]]
        for a in actions:
            zs.append(model.predict(zs[-1], a))
        return torch.stack(zs)  # (H+1, 1, D)

    drifting, true = DriftingModel(), PerfectModel()
    drift = zero_action_drift(drifting.predict, z0, 6, 2)
    assert drift.shape == (7, 1, 2) and torch.equal(drift[0], torch.zeros(1, 2))
    torch.testing.assert_close(drift[-1, 0], 6 * torch.tensor([0.05, -0.03]))
    corrected = DriftCorrected(energy, drifting.predict, z0, 2)
    torch.testing.assert_close(corrected(rollout(drifting), actions, goal), energy(rollout(true), actions, goal))
    assert not torch.allclose(energy(rollout(drifting), actions, goal), energy(rollout(true), actions, goal))

    def agent(model, drift_correction):
        planner = CEM(CEMConfig(horizon=5, samples=64, iterations=4, elites=8))
        generator = torch.Generator().manual_seed(0)
        return MPCAgent(model, planner, energy, 2, generator=generator, drift_correction=drift_correction)

    env = PointMassGoal()
    runs = {}
    for name, model, correct in (("true", true, False), ("corrected", drifting, True), ("biased", drifting, False)):
        a = agent(model, correct)
        obs, _ = env.reset(seed=1)
        a.reset()
        runs[name] = np.array([a.act(obs) for _ in range(3)])
    np.testing.assert_allclose(runs["corrected"], runs["true"], atol=1e-5)
    assert not np.allclose(runs["biased"], runs["true"], atol=1e-3)
    corrected_agent = agent(drifting, True)
    assert all(run_episode(env, corrected_agent, seed=s).success for s in range(3))


def test_goal_agent_holds_still_once_its_own_energy_says_it_stands_at_the_goal():
    """Within the hold threshold the agent executes the zero action and plans nothing; outside it plans, and
    the next plan after a hold starts afresh."""
    from agent.objectives import GoalReached

    env = PointMassGoal()
    reached = GoalReached(GoalEnergy("l2", "final"), threshold=0.05**2)
    agent = MPCAgent(
        PerfectModel(),
        CEM(CEMConfig(horizon=5, samples=64, iterations=4, elites=8)),
        GoalEnergy("l2", "final"),
        2,
        generator=torch.Generator().manual_seed(0),
        hold=reached,
    )
    obs, _ = env.reset(seed=0)
    agent.reset()
    near = {"state": obs["goal"]["state"] + np.float32(0.03), "goal": obs["goal"]}
    assert np.array_equal(agent.act(near), np.zeros(2, np.float32)) and agent._plan is None
    assert agent.last_plan is None  # holding plans nothing
    far = {"state": obs["goal"]["state"] + np.float32(0.5), "goal": obs["goal"]}
    assert np.abs(agent.act(far)).max() > 0 and agent._plan is not None
    # Holding ends a plan; leaving the hold replans from scratch, not from the stale plan's next step.
    agent.act(near)
    assert agent._plan is None
    # Whole episodes: it reaches the goal, then stands still there to the end.
    for seed in range(3):
        result = run_episode(env, agent, seed=seed)
        assert result.success and np.linalg.norm(env.x - env.goal) <= 0.05
    with pytest.raises(ValueError, match="threshold must be > 0"):
        GoalReached(GoalEnergy(), 0.0)
    with pytest.raises(ValueError, match="hold_energy=-1.0: must be >= 0"):
        GoalAgentConfig(hold_energy=-1.0)


class MomentumPointMass(PointMassGoal):
    """The point mass with momentum: velocity is not in the observation, only positions are."""

    def reset(self, *, seed=None, options=None):
        out = super().reset(seed=seed)
        self.v = np.zeros(2, np.float32)
        return out

    def step(self, action):
        self.v = (0.5 * self.v + 0.1 * np.clip(action, -1, 1)).astype(np.float32)
        self.x = self.x - 0.1 * np.clip(action, -1, 1) + self.v  # super().step adds 0.1 * action back
        return super().step(action)


class MomentumModel(PerfectModel):
    """The momentum point mass's true dynamics over a history of two latents (positions)."""

    cfg = dataclasses.make_dataclass("Cfg", [("history", int, 2), ("latent_dim", int, 2)])()

    def predict(self, z, a, past=None):
        return z + 0.5 * (z - past[-1]) + 0.1 * a


def test_history_model_plans_over_windows_and_reaches_goals():
    """A model that needs the previous latent to know the velocity: the agent keeps each observation's
    latent as the next step's past, plans over windows, and the energy sees the newest latent."""
    agent = MPCAgent(
        MomentumModel(),
        CEM(CEMConfig(horizon=6, samples=64, iterations=4, elites=8)),
        GoalEnergy("l2", "all"),  # the final step alone lets plans pass through the goal at speed
        2,
        generator=torch.Generator().manual_seed(0),
    )
    window = torch.tensor([0.0, 0.0, 0.1, 0.0])  # moving +0.1 in x
    nxt = agent.dynamics(window.unsqueeze(0), torch.zeros(1, 2))
    torch.testing.assert_close(nxt[0], torch.tensor([0.1, 0.0, 0.15, 0.0]))
    env = MomentumPointMass()
    obs, _ = env.reset(seed=0)
    agent.reset()
    agent.act(obs)
    assert len(agent._past) == 1 and torch.equal(agent._past[0], torch.as_tensor(obs["state"]))
    results = [run_episode(env, agent, seed=s) for s in range(3)]
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


class WallRoom(PointMassGoal):
    """The point mass with a thick wall `|x| < 0.3, y < 0.5` between start and goal: the way round is
    over the top. The 'world model' (PerfectModel) knows nothing of the wall."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = np.array([-0.7, -0.7], np.float32)
        self.goal = np.array([0.7, -0.7], np.float32)
        return self._obs(), {}

    @staticmethod
    def free(p) -> bool:
        return not (abs(p[0]) < 0.3 and p[1] < 0.5) and bool(np.all(np.abs(p) <= 1))

    def step(self, action):
        proposed = (self.x + 0.1 * np.clip(action, -1, 1)).astype(np.float32)
        if self.free(proposed):
            self.x = proposed
        self.t += 1
        dist = float(np.linalg.norm(self.x - self.goal))
        return self._obs(), 0.0, False, self.t >= 80, {"success": dist <= 0.05, "goal_distance": dist}


def _wall_memory() -> dict:
    """A memory of the WallRoom walked along every free row and column of a 0.1 grid (each unbroken
    stretch one episode), latents = positions: crossings join rows to columns."""
    ticks = np.round(np.arange(-1, 1.01, 0.1), 1)
    walks = []
    for fixed in ticks:
        for points in ([(x, fixed) for x in ticks], [(fixed, y) for y in ticks]):
            stretch = []
            for p in points + [None]:  # None closes the last stretch
                if p is not None and WallRoom.free(p):
                    stretch.append(p)
                elif stretch:
                    walks.append(stretch)
                    stretch = []
    latents = torch.tensor([p for w in walks for p in w], dtype=torch.float32)
    episode = torch.tensor([i for i, w in enumerate(walks) for _ in w])
    return {"latents": latents, "episode": episode, "radius": 0.25**2, "join": 1e-6, "step": 0.1}


def test_memory_graph_counts_steps_along_the_data_not_through_the_wall():
    graph = LandmarkGraph(**_wall_memory())
    goal = torch.tensor([0.7, -0.7])
    route = graph.route(goal)
    start = graph.nearest(torch.tensor([-0.7, -0.7]))
    assert route.steps[start] == pytest.approx(38, abs=0.01)  # up 12, across 14, down 12 (straight: 14)
    # The waypoint is ahead on that path, within reach, and never inside the wall.
    step = graph.waypoint(torch.tensor([-0.7, -0.7]), goal, route)
    ahead = graph.nearest(step)
    assert route.steps[ahead] == pytest.approx(36, abs=0.01) and WallRoom.free(step.numpy())
    # At the end of the path and within reach, the goal itself is the target.
    assert torch.equal(graph.waypoint(torch.tensor([0.65, -0.7]), goal, route), goal)


def test_memory_graph_joins_only_near_coincident_latents():
    # Two episodes that pass close (0.05 apart) but never meet: with a join of 0.01**2 they stay apart,
    # so the goal at the end of one cannot be reached from the other however close it looks.
    a = torch.tensor([[0.0, y] for y in np.arange(0, 1.01, 0.1)], dtype=torch.float32)
    b = a + torch.tensor([0.05, 0.0])
    latents, episode = torch.cat([a, b]), torch.tensor([0] * len(a) + [1] * len(b))
    apart = LandmarkGraph(latents, episode, radius=0.3**2, join=0.01**2, step=0.1)
    route = apart.route(a[-1])
    assert np.isfinite(route.steps[: len(a)]).all() and np.isinf(route.steps[len(a) :]).all()
    # A start on episode b has no path: it falls back to the goal energy.
    assert torch.equal(apart.waypoint(b[0], a[-1], route), a[-1])
    joined = LandmarkGraph(latents, episode, radius=0.3**2, join=0.06**2, step=0.1)
    assert joined.edge_count == 2 * (len(a) - 1) + len(a)  # the two walks, and a join at every height
    assert np.isfinite(joined.route(a[-1]).steps).all()


def test_memory_distances_match_the_direct_difference():
    gen = torch.Generator().manual_seed(0)
    latents = 3 * torch.randn(300, 40, generator=gen)  # norms like a map latent's, far from the origin
    graph = LandmarkGraph(latents, torch.zeros(300, dtype=torch.long), radius=1.0, join=0.0, step=1.0)
    for z in (latents[17], torch.randn(40, generator=gen)):
        direct = (latents - z).pow(2).sum(-1).numpy()
        np.testing.assert_allclose(graph._sq_distances(z), direct, rtol=1e-5, atol=1e-3)
    assert graph.nearest(latents[17]) == 17 and graph._sq_distances(latents[17]).min() >= 0


def test_waypoints_lead_around_a_wall_the_energy_alone_runs_into():
    env = WallRoom()
    results = {}
    for name, graph in (("direct", None), ("waypoints", LandmarkGraph(**_wall_memory()))):
        planner = CEM(CEMConfig(horizon=3, samples=64, iterations=3, elites=8))
        agent = MPCAgent(
            PerfectModel(),
            planner,
            GoalEnergy("l2", "final"),
            2,
            generator=torch.Generator().manual_seed(0),
            waypoints=graph,
        )
        results[name] = run_episode(env, agent, seed=0)
    assert not results["direct"].success and results["direct"].final_distance > 0.9  # stuck at the wall
    assert results["waypoints"].success, results["waypoints"].final_distance


def test_reach_radius_is_the_distance_the_data_covers():
    line = [torch.arange(10.0).unsqueeze(1) * 0.5]  # one episode moving 0.5 per step in 1-D
    assert reach_radius(line, steps=2) == pytest.approx(1.0)  # (2 x 0.5)^2
    with pytest.raises(ValueError, match="landmark_steps"):
        reach_radius(line, steps=20)
    with pytest.raises(ValueError, match="memory"):
        LandmarkGraph(torch.zeros(1, 2), [0], radius=1.0, join=0.1, step=0.1)


def test_memory_latents_counts_moves_between_rooms_outside_the_door_only():
    from benchmarks.memory_latents import through_wall

    a = np.array([[-0.5, 0.5], [-0.1, 0.0], [0.3, -0.6], [-0.2, 0.9]])
    b = np.array([[0.5, 0.5], [0.1, 0.05], [0.6, -0.6], [0.2, -0.9]])
    assert through_wall(a, b).tolist() == [True, False, False, True]


def test_push_t_oracle_energy_counts_block_pose_in_tolerances():
    from benchmarks.push_t_oracle import block_energy

    goal = np.array([0.1, -0.1, 0.5, 0.3, 0.3])
    at_goal = np.tile(goal, (1, 2, 1))  # one rollout of two decisions, block and pusher at the goal
    assert block_energy(at_goal, goal, pusher_weight=1.0)[0] == pytest.approx(0.0)
    moved = at_goal.copy()
    moved[0, :, 0] += 0.03  # one position tolerance off at both steps
    moved[0, :, 2] += 2 * np.pi + np.deg2rad(15)  # one angle tolerance off, a full turn aside
    assert block_energy(moved, goal)[0] == pytest.approx(4.0)
    far_pusher = at_goal.copy()
    far_pusher[0, :, 3] -= 0.3
    assert block_energy(far_pusher, goal)[0] == pytest.approx(0.0)  # the pusher counts only when weighted
    assert block_energy(far_pusher, goal, pusher_weight=0.5)[0] == pytest.approx(10.0)


def test_push_t_supervised_probe_renders_the_pose_and_learns_a_readable_target():
    from benchmarks.push_t_supervised import HELD_OUT, pose_targets, render_scenes, train_probe

    qpos = np.array([[0.1, 0.0, 0.0, -0.3, -0.3], [0.1, 0.0, np.pi / 2, -0.3, -0.3]])
    frames = render_scenes(qpos)
    assert frames.shape == (2, 3, 64, 64) and frames.dtype == np.uint8
    assert (frames[0] != frames[1]).any()  # turning the block alone changes the frame
    np.testing.assert_allclose(pose_targets(qpos)[1], [0.1, 0.0, 0.0, 1.0], atol=1e-6)
    # A target the frame shows plainly (its mean brightness) is learned: the probe's loop trains the CNN.
    rng = np.random.default_rng(0)
    n = HELD_OUT + 256
    level = rng.uniform(0, 1, (n, 1)).astype(np.float32)
    synthetic = np.broadcast_to(level[:, :, None, None] * 255, (n, 3, 16, 16)).astype(np.uint8)
    targets = np.repeat(level - 0.5, 4, axis=1)
    *_, (step, _, scores) = train_probe(synthetic, targets, channels=4, depth=1, steps=100, seed=0)
    assert step == 100 and (scores > 0.5).all()


def test_push_t_supervised_episode_frames_pair_each_frame_with_its_configuration():
    from benchmarks.push_t_supervised import push_episode_frames, render_scenes

    frames, qpos = push_episode_frames(1, seed=0)
    assert frames.shape == (101, 3, 64, 64) and qpos.shape == (101, 5)  # 100 decisions and the first frame
    assert np.abs(qpos[-1, 3:] - qpos[0, 3:]).max() > 0.05  # the pusher moved
    np.testing.assert_array_equal(render_scenes(qpos[[0, -1]]), frames[[0, -1]])


def test_push_t_contact_measures_the_blocks_deflection_of_the_pusher():
    from benchmarks.push_t_contact import deflections, play

    env = make_env("goal/push-t", obs="proprio")
    env.reset(seed=0)
    physics = env.unwrapped.physics
    qpos, qvel = np.array([0.0, 0.0, 0.0, -0.25, 0.0]), np.zeros(5)
    toward, away = np.tile([1.0, 0.0], (10, 1)), np.tile([-1.0, 0.0], (10, 1))
    ends = {
        (a, b): play(physics, qpos, qvel, acts, block=b) for a, acts in (("in", toward), ("out", away)) for b in (0, 1)
    }
    assert ends[("in", 1)][3] < ends[("in", 0)][3] - 0.05  # driving into the block: it holds the pusher back
    np.testing.assert_allclose(ends[("out", 1)][3:], ends[("out", 0)][3:], atol=1e-4)  # driving away: none
    env.close()
    d = deflections(episodes=1, decisions=2, seed=0)
    assert len(d["deflection"]) == 20 and (d["deflection"] >= 0).all()


def test_push_t_plan_check_records_the_push_that_made_the_goal():
    from benchmarks.push_t_plan_check import EXPERT_DECISIONS, open_loop, reset_with_expert
    from envs.tasks import push_t

    env = make_env("goal/push-t-block", obs="proprio")
    _, expert = reset_with_expert(env, seed=3)
    assert expert.shape == (EXPERT_DECISIONS, 2) and push_t.scripted_push.__name__ == "scripted_push"  # restored
    start = env.unwrapped.physics.data.qpos.copy()
    errors = open_loop(env, start, expert)  # the recorded push, replayed from the start, makes the goal
    assert errors["position_error"] < push_t.POSITION_TOLERANCE and errors["angle_error"] < push_t.ANGLE_TOLERANCE
    errors = open_loop(env, start, np.zeros_like(expert))  # while standing still does not
    assert not (errors["position_error"] < push_t.POSITION_TOLERANCE and errors["angle_error"] < push_t.ANGLE_TOLERANCE)
    env.close()


def test_push_t_plan_check_drift_of_a_model_that_predicts_no_change_is_the_true_move():
    from types import SimpleNamespace

    from agent.objectives import GoalEnergy
    from benchmarks.push_t_plan_check import drift_row

    env = make_env("goal/push-t", obs="state")
    encode = lambda obs: torch.as_tensor(obs["state"])  # noqa: E731  an exact encoder: (1, S)
    agent = SimpleNamespace(
        model=SimpleNamespace(encode=encode),
        device="cpu",
        reset=lambda: None,
        _state=lambda z: z,
        dynamics=lambda s, a: s,  # a model that believes nothing moves
        objective=GoalEnergy("l2", "all"),
    )
    errors, moved = drift_row(env, agent, seed=3, every=5)
    assert len(errors) == 4 and errors == pytest.approx(moved)  # its error is exactly how far things moved
    assert moved[-1] > 0  # and the push did move them
    env.close()


def test_push_t_readout_neighbours_match_a_brute_force_search():
    from benchmarks.push_t_readout import knn_r2, r2_score

    rng = np.random.default_rng(0)
    train_x, x = rng.normal(size=(700, 3)), rng.normal(size=(600, 3))  # more rows than one chunk
    train_y, y = rng.normal(size=(700, 2)), rng.normal(size=(600, 2))
    nearest = np.argsort(((x[:, None] - train_x[None]) ** 2).sum(-1), axis=1)[:, :5]
    np.testing.assert_allclose(knn_r2(train_x, train_y, x, y), r2_score(train_y[nearest].mean(1), y))


def test_push_t_state_model_energies_read_the_block_in_tolerances_and_the_state_by_weights():
    from benchmarks.push_t_state_model import BLOCK, VELOCITY, pose_energy, pose_error, state_energy

    def block(x, y, angle):
        return torch.tensor([x, y, np.cos(angle), np.sin(angle)], dtype=torch.float32)

    goal = block(0.1, -0.1, np.pi - 0.05)
    position, angle = pose_error(block(0.13, -0.1, -np.pi + 0.05), goal)  # the angle wraps across pi
    assert position.item() == pytest.approx(0.03, abs=1e-6) and angle.item() == pytest.approx(0.1, abs=1e-5)
    states = torch.zeros(3, 2, 11)  # a plan of 2 decisions (and its start) for 2 candidates
    states[:, :, BLOCK] = goal
    states[1:, 1, BLOCK] = block(0.13, -0.1, np.pi - 0.05 + np.deg2rad(15))  # one tolerance off in each
    states[:, :, :2] = 0.4  # the pusher far from anything: the pose energy does not see it
    zeros = torch.zeros(2, 2, 2)
    np.testing.assert_allclose(pose_energy(goal)(states, zeros, None).numpy(), [0.0, 4.0], atol=1e-4)
    states[-1, 0, VELOCITY] = torch.tensor([0.1, 0.0, 1.0])  # candidate 0 ends with the block moving
    rest = pose_energy(goal, rest=0.5)(states, zeros, None)
    assert rest[0].item() == pytest.approx(0.5 * 2 * (1.0 + 1.0), abs=1e-4)  # weight x horizon x (speed + spin)
    goal_state = states[0, 0].clone()
    goal_state[:2] = -0.4  # the goal's pusher elsewhere
    weights = torch.zeros(11)
    weights[BLOCK] = 1.0
    whole, block_only = (
        state_energy(goal_state, torch.ones(11), w)(states, zeros, None) for w in (torch.ones(11), weights)
    )
    assert block_only[0].item() == pytest.approx(0.0, abs=1e-5) and whole[0].item() > 1.0
    # `--pusher-weight`: the block energy plus the pusher's squared distance to the goal's, at that weight.
    from benchmarks.push_t_state_model import make_objective

    std = torch.ones(11)
    plain, pulled = (make_objective("block", goal_state, std, 0.0, 0.0, w)(states, zeros, None) for w in (0, 0.5))
    pusher_term = 0.5 * 2 * 2 * 0.8**2  # weight x 2 decisions x 2 coordinates x (0.4 - -0.4)^2
    np.testing.assert_allclose((pulled - plain).numpy(), [pusher_term, pusher_term], rtol=1e-5)


def test_push_t_state_model_learns_a_change_and_needs_states(tmp_path):
    from benchmarks.push_t_state_model import StateModel, load_transitions

    states = torch.randn(100, 3)
    model = StateModel(states, 0.1 * torch.randn(100, 3), action_dim=2, hidden=8)
    assert model.action_dim == 2 and model(states[:4], torch.zeros(4, 2)).shape == (4, 3)
    with pytest.raises(FileNotFoundError, match="collect"):
        load_transitions(str(tmp_path))


def test_push_t_state_planner_runs_an_evaluation_episode_through_run_episode():
    import functools

    from benchmarks.push_t_state_model import StatePlanner, make_objective, new_model

    g = torch.Generator().manual_seed(0)
    data = {"state": torch.randn(4, 6, 11, generator=g), "action": torch.rand(4, 5, 2, generator=g) * 2 - 1}
    model = new_model(data, hidden=8).eval()
    objective = functools.partial(make_objective, "block", std=model.std, action_cost=1.0, rest=0.0)
    agent = StatePlanner(model, CEMConfig(horizon=2, samples=8, iterations=1, elites=2), objective, g)
    env = make_env("goal/push-t", obs="state")
    episode = run_episode(env, agent, seed=3)
    assert episode.length == agent.decisions == 100 and agent.mean.shape == (2, 2)
    assert episode.success is not None and set(episode.final_errors) >= {"position_error", "angle_error"}
    env.close()


def test_push_t_hold_calibration_finds_the_largest_threshold_of_each_precision():
    import argparse

    from benchmarks.push_t_hold import auc, near_goal, precision_arg, threshold_at, thresholds

    energy = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    within = np.array([True, True, False, True, False, False])
    assert auc(energy, within) == pytest.approx(8 / 9)  # of the 3 x 3 pairs, only (0.4, 0.3) is misordered
    rows = {p: (t, r) for p, t, r in thresholds(energy, within, precisions=(1.0, 0.75, 0.5))}
    assert rows[1.0] == (0.2, pytest.approx(2 / 3))  # the third scene is the first outside tolerance
    assert rows[0.75] == (0.4, 1.0)  # 3 of the 4 at or below 0.4
    assert rows[0.5] == (0.6, 1.0)
    # Tied energies stand or fall together; no threshold reaches a precision nothing meets.
    tied_scenes = np.array([0.1, 0.1, 0.2]), np.array([True, False, True])
    tied = thresholds(*tied_scenes, precisions=(1.0, 0.6))
    assert tied == [(1.0, 0.0, 0.0), (0.6, 0.2, 1.0)]
    # What benchmarks/push_t_pixels.sh reads: one precision's threshold (0.0 never holds).
    assert threshold_at(energy, within, 0.75) == 0.4 and threshold_at(*tied_scenes, 1.0) == 0.0
    with pytest.raises(ValueError, match="must be in"):
        threshold_at(energy, within, 0.0)
    assert precision_arg("0.9") == 0.9  # the command line refuses a bad precision before calibrating
    with pytest.raises(argparse.ArgumentTypeError, match="must be in"):
        precision_arg("1.5")
    with pytest.raises(ValueError, match="both within and outside"):
        auc(energy, np.ones(6, bool))
    goal = np.array([0.1, -0.1, 0.5, 0.3, 0.3])
    scenes = near_goal(goal, 200, np.random.default_rng(0))
    moved, turned = np.linalg.norm(scenes[:, :2] - goal[:2], axis=1), np.abs(scenes[:, 2] - goal[2])
    assert moved[::2].max() <= 0.04 and moved[1::2].max() > 0.06 and moved.max() <= 0.08
    assert turned[::2].max() <= 0.3 and turned.max() <= 0.6 and (scenes[:, 3:] == goal[3:]).all()


def _pose_latent(x, y, angle_deg, orders=(1, 3), gain=20.0, r=0.3):
    """A latent whose last dimensions are `gain` times a glimpse's moments of an object at (x, y), turned."""
    a = np.radians(angle_deg)
    pairs = [v for n in orders for v in (r / n * np.cos(n * a), r / n * np.sin(n * a))]
    return torch.tensor([0.7, -0.2, *(gain * np.array([x, y, *pairs]))], dtype=torch.float32)


def test_pose_hold_reads_the_moments_as_a_box_and_tells_the_third_orders_aliases_apart():
    from agent.objectives import PoseReached

    hold = PoseReached((1, 3), 20.0, position=0.046, turn=15)
    goal = _pose_latent(0.1, 0.2, 30)
    assert hold(_pose_latent(0.1, 0.2, 30), goal)
    assert hold(_pose_latent(0.13, 0.2, 40), goal)  # 0.03 and 10 degrees: inside the box
    assert not hold(_pose_latent(0.16, 0.2, 30), goal)  # 0.06 off
    assert not hold(_pose_latent(0.1, 0.2, 50), goal)  # 20 degrees off
    assert not hold(_pose_latent(0.1, 0.2, 150), goal)  # 120 degrees: the third order's alias, the first order's not
    alias_blind = PoseReached((3,), 20.0, position=0.046, turn=15)
    assert alias_blind(_pose_latent(0.1, 0.2, 150, orders=(3,)), _pose_latent(0.1, 0.2, 30, orders=(3,)))
    errors = hold.errors(_pose_latent(0.13, 0.2, 40)[None], goal[None])[0]
    expected = torch.tensor([0.03, np.radians(10), np.radians(10)], dtype=torch.float32)
    torch.testing.assert_close(errors, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="needs a position and a turn > 0"):
        PoseReached((3,), 20.0, 0.0, 15)
    with pytest.raises(ValueError, match="give \\[position, turn\\], both > 0"):
        GoalAgentConfig(hold_pose=(0.05,))
    with pytest.raises(ValueError, match="two holds; give one of them"):
        GoalAgentConfig(hold_pose=(0.05, 15), hold_energy=3.0)


def test_pose_hold_calibration_finds_the_box_of_each_precision():
    from agent.objectives import PoseReached
    from benchmarks.push_t_hold import pose_thresholds

    pose = PoseReached((1, 3), 20.0, 1.0, 1.0)
    # (shift, first-order turn, third-order turn) of six scenes; the third and sixth are outside tolerance.
    errors = np.array(
        [[0.01, 0.05, 0.05], [0.02, 0.1, 0.1], [0.03, 0.1, 0.3], [0.04, 0.1, 0.1], [0.02, 2.0, 0.05], [0.09, 0.1, 0.1]]
    )
    within = np.array([True, True, False, True, False, False])
    rows = {p: row for p, *row in pose_thresholds(pose, errors, within, precisions=(1.0, 0.75))}
    position, turn, recall, precision = rows[1.0]
    assert recall == 1.0 and precision == 1.0  # the three inside, and none of the others
    assert 0.04 <= position < 0.09 and np.radians(turn) < 0.3 and np.radians(turn) >= 0.1
    assert rows[0.75][2] == 1.0  # the 120-degree alias (the fifth) is never held, at any box


def test_push_t_hold_renders_labelled_scenes_for_encoder_selection(tmp_path):
    from benchmarks.push_t_hold import render_scenes
    from train.selection import GoalScenes

    scenes = render_scenes("goal/push-t-block-aa", "proprio+pixels", goals=2, per_goal=3)
    assert scenes.goal_index.tolist() == [0, 0, 0, 1, 1, 1] and scenes.within.dtype == bool
    assert scenes.scenes["pixels"].shape == (6, 3, 64, 64) and scenes.goals["pixels"].shape == (2, 3, 64, 64)
    assert set(scenes.scenes) == {"state", "pixels"}
    # Each scene's block is moved from its goal's, and the pusher (its state) is where the goal has it.
    goal_pixels = scenes.goals["pixels"][scenes.goal_index]
    assert all((s != g).any() for s, g in zip(scenes.scenes["pixels"], goal_pixels, strict=True))
    np.testing.assert_array_equal(scenes.scenes["state"][:, :2], scenes.goals["state"][scenes.goal_index][:, :2])
    scenes.save(tmp_path / "s.npz")
    assert GoalScenes.load(tmp_path / "s.npz").scenes["pixels"].dtype == np.uint8


def test_push_t_aliasing_scores_scenes_near_goals_by_pixel_distance():
    from benchmarks.push_t_aliasing import pixel_distances

    distances, within = pixel_distances("goal/push-t-block-aa", goals=1, per_goal=6)
    assert distances.shape == within.shape == (6,) and within.dtype == bool
    assert (distances > 0).all() and len(set(distances)) == 6  # every scene rendered afresh (no stale frames)
