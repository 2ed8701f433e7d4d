"""Test-time adaptation of the predictor (agent/adaptation.py) and the MPC agent that uses it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from agent.adaptation import PredictorAdaptation
from agent.mpc import MPCAgent
from agent.objectives import GoalEnergy
from agent.planners import CEM, CEMConfig
from eval.episode import run_episode
from tests.test_goal import PointMassGoal
from world_model import WorldModel, WorldModelConfig


def _trajectory(model: WorldModel, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents `(steps+1, D)` of a linear system's states and its actions `(steps, 2)`."""
    g = torch.Generator().manual_seed(seed)
    actions = torch.rand(steps, 2, generator=g) * 2 - 1
    states = [torch.rand(3, generator=g)]
    for a in actions:
        states.append(states[-1] + 0.3 * torch.cat([a, a[:1] - a[1:]]))
    with torch.no_grad():
        return model.encode({"state": torch.stack(states)}), actions


def _model(history: int = 2) -> WorldModel:
    torch.manual_seed(0)
    return WorldModel({"state": (3,)}, 2, WorldModelConfig(latent_dim=8, hidden_dim=32, history=history))


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_adaptation_fits_the_episode_and_reset_puts_the_trained_weights_back():
    model = _model()
    trained, encoder = _state(model.predictor), _state(model.encoder)
    z, actions = _trajectory(model, 12)
    adapt = PredictorAdaptation(model, steps=20, lr=3e-3, horizon=5, window=8)
    for t in range(12):
        adapt.observe(z[t])
        adapt.acted(actions[t])
    adapt.observe(z[12])
    before, _ = model.latent_loss(*adapt.sequences())
    adapt.update()
    after, _ = model.latent_loss(*adapt.sequences())
    assert after.item() < 0.5 * before.item()
    assert any(not torch.equal(v, trained[k]) for k, v in model.predictor.state_dict().items())
    assert all(torch.equal(v, encoder[k]) for k, v in model.encoder.state_dict().items())  # never the encoder
    adapt.reset()
    assert all(torch.equal(v, trained[k]) for k, v in model.predictor.state_dict().items())
    assert adapt.sequences() is None  # the episode's transitions are forgotten too


def test_adaptation_fits_the_most_recent_sequences_and_waits_for_the_history():
    model = _model(history=2)
    z, actions = _trajectory(model, 6)
    adapt = PredictorAdaptation(model, steps=1, lr=1e-3, horizon=3, window=2)
    adapt.observe(z[0])
    adapt.acted(actions[0])
    adapt.observe(z[1])
    assert adapt.sequences() is None and adapt.update() is None  # one transition: nothing after the past
    for t in range(1, 6):
        adapt.acted(actions[t])
        adapt.observe(z[t + 1])
    latents, acts = adapt.sequences()
    assert latents.shape == (4, 2, 8) and acts.shape == (3, 2, 2)  # (T+1, B, D), (T, B, A)
    torch.testing.assert_close(latents[:, -1], z[3:])  # the last sequence ends at the newest observation
    torch.testing.assert_close(acts[:, 0], actions[2:5])
    adapt.acted(actions[0])  # acted before the next observation: the last action has no outcome yet
    assert adapt.sequences()[0].shape == (4, 2, 8)


def test_adaptation_refuses_calls_out_of_order_and_bad_settings():
    model = _model()
    adapt = PredictorAdaptation(model, steps=1, lr=1e-3)
    with pytest.raises(RuntimeError, match="observe"):
        adapt.acted(torch.zeros(2))
    adapt.observe(torch.zeros(8))
    with pytest.raises(RuntimeError, match="acted"):
        adapt.observe(torch.zeros(8))
    with pytest.raises(ValueError, match="steps >= 1"):
        PredictorAdaptation(model, steps=0, lr=1e-3)
    with pytest.raises(ValueError, match="lr > 0"):
        PredictorAdaptation(model, steps=1, lr=0.0)


class TurnedModel(nn.Module):
    """The point mass's latent is its state; the predictor believes each action moves it turned 90 degrees,
    `z' = z + 0.1 W a` with W a rotation, where the true motion is `z + 0.1 a`: a wrong model that plans wrong."""

    def __init__(self):
        super().__init__()
        self.cfg = WorldModelConfig(latent_dim=2, history=1)
        self.predictor = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.predictor.weight.copy_(torch.tensor([[0.0, -1.0], [1.0, 0.0]]))

    def encode(self, obs):
        return obs["state"]

    def predict(self, z, a, past=None):
        return z + 0.1 * self.predictor(a)

    def latent_loss(self, z, action):
        zs = [z[0]]
        for a in action:
            zs.append(self.predict(zs[-1], a))
        return (torch.stack(zs[1:]) - z[1:]).pow(2).mean(), {}


def _agent(model, adaptation):
    planner = CEM(CEMConfig(horizon=5, samples=64, iterations=4, elites=8))
    generator = torch.Generator().manual_seed(0)
    return MPCAgent(model, planner, GoalEnergy("l2", "final"), 2, generator=generator, adaptation=adaptation)


def test_an_adapting_agent_learns_its_actions_effect_within_the_episode_and_each_episode_starts_afresh():
    """Planned with the turned model the point mass misses its goals; fitted to what each step showed, the
    same model learns where its actions go within the episode and reaches them. Every episode starts from the
    turned weights."""
    env = PointMassGoal()
    model = TurnedModel()
    turned = model.predictor.weight.detach().clone()
    assert not any(run_episode(env, _agent(model, None), seed=s).success for s in range(3))
    adapt = PredictorAdaptation(model, steps=5, lr=0.05, horizon=4, window=8)
    agent = _agent(model, adapt)
    results = [run_episode(env, agent, seed=s) for s in range(3)]
    assert all(r.success for r in results), [r.final_distance for r in results]
    assert not torch.equal(model.predictor.weight, turned)  # fitted during the last episode
    agent.reset()
    assert torch.equal(model.predictor.weight, turned)


def test_an_adapting_agent_records_the_actions_it_returns_the_zero_action_of_a_hold_included():
    env = PointMassGoal()
    model = TurnedModel()
    adapt = PredictorAdaptation(model, steps=1, lr=1e-3, horizon=2, window=4)
    agent = _agent(model, adapt)
    calls = itertools.count()
    agent.hold = lambda z, goal: next(calls) % 2 == 1  # holds at every other step
    obs, _ = env.reset(seed=3)
    agent.reset()
    returned = []
    for _ in range(6):
        action = agent.act(obs)
        returned.append(action)
        obs, *_ = env.step(action)
    np.testing.assert_array_equal(torch.stack(adapt._actions).numpy(), np.stack(returned))
    assert np.any(returned[0]) and not np.any(returned[1])  # a plan's action, then the hold's zeros
    assert len(adapt._latents) == 6


def test_every_planning_setting_is_an_evaluation_key():
    """`eval.evaluate` hands its planning keys to `load_agent` through `Planning`: none may be missing there."""
    from agent.planning import Planning
    from eval.evaluate import EvalConfig

    cfg = EvalConfig(horizon=20, adapt_steps=2, hold_pose=[0.05, 15])
    assert Planning.of(cfg) == Planning(horizon=20, adapt_steps=2, hold_pose=(0.05, 15.0))
    assert hash(Planning.of(cfg))  # evaluation workers key their cached agent by it


def test_a_pull_keeps_the_fitted_weights_near_the_trained_ones():
    def distance(pull: float) -> float:
        model = _model()
        trained = _state(model.predictor)
        z, actions = _trajectory(model, 8)
        adapt = PredictorAdaptation(model, steps=10, lr=3e-3, horizon=4, pull=pull)
        for t in range(8):
            adapt.observe(z[t])
            adapt.acted(actions[t])
        adapt.observe(z[8])
        adapt.update()
        return sum((p - trained[k]).pow(2).sum().item() for k, p in model.predictor.named_parameters())

    free, pulled = distance(0.0), distance(0.3)
    assert 0 < pulled < 0.5 * free
    with pytest.raises(ValueError, match="0 <= pull < 1"):
        PredictorAdaptation(_model(), steps=1, lr=1e-3, pull=1.0)
