"""Planners on toy systems with known optima; batching, seeding, warm starts and bounds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agent.mpc import MPCAgent, MPCConfig
from agent.objectives import ActionPenalty, GoalEnergy, RewardEnergy, WeightedSum
from agent.planners import (
    CEM,
    MPPI,
    CEMConfig,
    GradientConfig,
    GradientPlanner,
    HybridPlanner,
    MPPIConfig,
    PlanResult,
    shift,
)
from agent.planners.base import colored_normal, evaluate, smoothed_evaluate

torch.set_num_threads(1)
H = 5


class PointMass:
    """x' = x + dt * a in 2-D."""

    action_dim = 2

    def __init__(self, dt: float = 0.1):
        self.dt = dt

    def __call__(self, z, a):
        return z + self.dt * a


class Linear:
    """x' = A x + B u."""

    def __init__(self, g: torch.Generator, n: int = 3, m: int = 2):
        self.A = torch.eye(n) + 0.1 * torch.randn(n, n, generator=g)
        self.B = 0.5 * torch.randn(n, m, generator=g)
        self.action_dim = m

    def __call__(self, z, a):
        return z @ self.A.T + a @ self.B.T


def planners(horizon=H):
    cem = CEM(CEMConfig(horizon=horizon, samples=256, iterations=8, elites=16))
    return {
        "cem": cem,
        "icem": CEM(CEMConfig(horizon=horizon, samples=256, iterations=8, elites=16, noise_beta=2.0)),
        "cem-mean": CEM(CEMConfig(horizon=horizon, samples=256, iterations=8, elites=16, result="mean")),
        "cem-perturbed": CEM(
            CEMConfig(horizon=horizon, samples=256, iterations=8, elites=16, perturbations=2, perturbation_std=0.05)
        ),
        # The temperature suits these energies (~0.01-0.1); TD-MPC2's 0.5 suits returns in the hundreds.
        "mppi": MPPI(
            MPPIConfig(horizon=horizon, samples=256, iterations=12, elites=32, temperature=20.0, init_std=1.0)
        ),
        "gradient": GradientPlanner(GradientConfig(horizon=horizon, restarts=4, iterations=100, lr=0.1)),
        "hybrid": HybridPlanner(cem, GradientPlanner(GradientConfig(horizon=horizon, iterations=50, lr=0.05))),
    }


@pytest.mark.parametrize("name", list(planners()))
def test_point_mass_reaches_goal(name):
    planner, dyn = planners()[name], PointMass()
    z0, goal = torch.zeros(2), torch.tensor([0.3, -0.2])
    result = planner.plan(z0, dyn, GoalEnergy("l2"), goal=goal, generator=torch.Generator().manual_seed(0))
    assert result.actions.shape == (H, 2)
    final = z0 + dyn.dt * result.actions.sum(0)
    assert torch.linalg.norm(final - goal) < 0.02, final
    assert result.info["energy"] == pytest.approx(result.energy.item(), rel=1e-5)
    assert "time_ms" in result.info


def _lq_problem(seed=0, r=0.1):
    g = torch.Generator().manual_seed(seed)
    dyn = Linear(g)
    x0 = 0.3 * torch.randn(3, generator=g)
    # energy = mean_t |x_t|^2 + r mean_t |u_t|^2, t = 1..H
    objective = WeightedSum([(1.0, GoalEnergy("l2", "all")), (r, ActionPenalty(1.0))])
    # Closed form: x_t = A^t x0 + sum_k A^(t-1-k) B u_k  -> X = M x0 + N U.
    n, m = 3, 2
    M = torch.cat([torch.matrix_power(dyn.A, t) for t in range(1, H + 1)])
    N = torch.zeros(H * n, H * m)
    for t in range(1, H + 1):
        for k in range(t):
            N[(t - 1) * n : t * n, k * m : (k + 1) * m] = torch.matrix_power(dyn.A, t - 1 - k) @ dyn.B
    U = -torch.linalg.solve(N.T @ N + r * torch.eye(H * m), N.T @ M @ x0)
    optimum = ((M @ x0 + N @ U).pow(2).sum() + r * U.pow(2).sum()) / H
    assert U.abs().max() < 1, "the unconstrained optimum must lie inside the action box"
    return dyn, x0, objective, U.view(H, m), optimum.item()


@pytest.mark.parametrize("name", list(planners()))
def test_linear_quadratic_near_closed_form_optimum(name):
    dyn, x0, objective, u_star, optimum = _lq_problem()
    result = planners()[name].plan(x0, dyn, objective, goal=torch.zeros(3), generator=torch.Generator().manual_seed(1))
    # The plan's own energy: a CEM with perturbed copies reports the mean over them, which a quadratic raises
    # by the same amount for every plan (the antithetic pairs cancel the first-order term), so the optimum stays.
    energy = evaluate(x0[None], result.actions[:, None, None], dyn, objective, torch.zeros(1, 3)).item()
    assert energy <= optimum * 1.05 + 1e-6, (energy, optimum)
    assert energy >= optimum - 1e-6


def test_gradient_planner_converges_to_optimum():
    dyn, x0, objective, u_star, optimum = _lq_problem()
    planner = GradientPlanner(GradientConfig(horizon=H, restarts=2, iterations=400, lr=0.05))
    result = planner.plan(x0, dyn, objective, goal=torch.zeros(3), generator=torch.Generator().manual_seed(0))
    assert result.energy.item() == pytest.approx(optimum, rel=1e-3)
    torch.testing.assert_close(result.actions, u_star, atol=5e-3, rtol=0)
    history = [result.info[f"energy_it{k}"] for k in range(0, 400, 50)]
    assert history == sorted(history, reverse=True)


@pytest.mark.parametrize("name", list(planners()))
def test_batched_equals_one_by_one(name):
    dyn = PointMass()
    starts = torch.tensor([[0.0, 0.0], [0.1, 0.1], [-0.2, 0.05]])
    goals = torch.tensor([[0.3, -0.2], [-0.1, 0.2], [0.0, 0.0]])
    batched = planners()[name].plan(
        starts, dyn, GoalEnergy("l2"), goal=goals, generator=[torch.Generator().manual_seed(i) for i in range(3)]
    )
    assert batched.actions.shape == (H, 3, 2) and batched.energy.shape == (3,)
    for i in range(3):
        alone = planners()[name].plan(
            starts[i], dyn, GoalEnergy("l2"), goal=goals[i], generator=torch.Generator().manual_seed(i)
        )
        torch.testing.assert_close(batched.actions[:, i], alone.actions, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", list(planners()))
def test_same_seed_same_plan(name):
    dyn, z0, goal = PointMass(), torch.zeros(2), torch.tensor([0.2, 0.1])
    a = planners()[name].plan(z0, dyn, GoalEnergy("l1"), goal=goal, generator=torch.Generator().manual_seed(7))
    b = planners()[name].plan(z0, dyn, GoalEnergy("l1"), goal=goal, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a.actions, b.actions, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(planners()))
def test_actions_never_leave_bounds(name):
    # The energy rewards ever larger actions: the planner must stop at the bounds.
    def push(zs, actions, goal):
        return -(actions * torch.tensor([3.0, -5.0])).sum((0, 2))

    result = planners()[name].plan(torch.zeros(2), PointMass(), push, generator=torch.Generator().manual_seed(0))
    assert result.actions.abs().max() <= 1.0
    mean = result.actions.mean(0)
    assert mean[0] > 0.5 and mean[1] < -0.5, mean


def test_reward_energy_and_policy_prior():
    # Reward = -|z - 1|^2: the best plan drives z to 1; the prior proposes the exact answer.
    dyn = PointMass(dt=0.25)

    def reward(z, a):
        return -(z - 1.0).pow(2).sum(-1)

    objective = RewardEnergy(reward, value=lambda z: -(z - 1.0).pow(2).sum(-1) * 10, discount=0.9)

    def proposal(z0, count):
        return torch.ones(3, z0.shape[0], count, 2)

    planner = MPPI(MPPIConfig(horizon=3, samples=64, iterations=2, elites=8, prior_samples=4), proposal=proposal)
    result = planner.plan(torch.zeros(2), dyn, objective, generator=torch.Generator().manual_seed(0))
    assert result.actions.min() > 0.9


class RecordingPlanner:
    """Returns a fixed counting plan and records the warm starts it receives."""

    def __init__(self):
        self.inits = []

    def plan(self, z0, dynamics, objective, *, goal=None, init=None, generator=None):
        self.inits.append(None if init is None else init.clone())
        base = 0.1 * len(self.inits)
        actions = torch.stack([torch.full((2,), base + 0.01 * t) for t in range(4)])
        return PlanResult(actions, torch.tensor(0.0), {})


class Identity(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def encode(self, obs):
        return obs["state"]

    def predict(self, z, a):
        return z + a


def test_mpc_agent_warm_starts_with_shifted_plan_and_executes():
    planner = RecordingPlanner()
    agent = MPCAgent(Identity(), planner, GoalEnergy(), 2, generator=torch.Generator().manual_seed(0))
    obs = {"state": np.zeros(2, np.float32), "goal": {"state": np.ones(2, np.float32)}}
    first = agent.act(obs)
    np.testing.assert_allclose(first, [0.1, 0.1])
    agent.act(obs)
    assert planner.inits[0] is None
    torch.testing.assert_close(
        planner.inits[1], shift(torch.stack([torch.full((2,), 0.1 + 0.01 * t) for t in range(4)]))
    )
    agent.reset()
    agent.act(obs)
    assert planner.inits[2] is None
    noisy = agent.act(obs, explore=True)
    assert noisy.dtype == np.float32 and np.all(np.abs(noisy) <= 1)

    execute = RecordingPlanner()
    agent = MPCAgent(Identity(), execute, GoalEnergy(), 2, generator=torch.Generator(), cfg=MPCConfig(execute=3))
    actions = [agent.act(obs)[0] for _ in range(4)]
    np.testing.assert_allclose(actions, [0.1, 0.11, 0.12, 0.2], atol=1e-6)
    assert len(execute.inits) == 2
    torch.testing.assert_close(execute.inits[1][0], torch.full((2,), 0.13))  # shifted past 3 executed actions


def test_shift_and_colored_noise():
    plan = torch.arange(6.0).view(3, 2)
    torch.testing.assert_close(shift(plan), torch.tensor([[2.0, 3.0], [4.0, 5.0], [0.0, 0.0]]))
    white = colored_normal(torch.Generator().manual_seed(0), 2, (4000, 8), 0.0, "cpu")
    pink = colored_normal(torch.Generator().manual_seed(0), 2, (4000, 8), 2.0, "cpu")
    assert abs(white.std() - 1) < 0.05 and abs(pink.std() - 1) < 0.05
    lag1 = torch.corrcoef(pink.reshape(-1, 8)[:, :2].T)[0, 1]
    assert lag1 > 0.3, "coloured noise is correlated in time"


def test_goal_batch_mismatch_is_explained():
    with pytest.raises(ValueError, match="one goal per start"):
        planners()["cem"].plan(torch.zeros(3, 2), PointMass(), GoalEnergy(), goal=torch.zeros(2, 2))


def test_mppi_unscored_plan_is_the_same_plan_with_one_rollout_fewer():
    """score_plan=False returns the same actions (same noise), with one objective call fewer and an
    energy estimated from the elites, close to the exact one at convergence."""
    calls = []

    def counting(zs, actions, goal):
        calls.append(1)
        return GoalEnergy("l2")(zs, actions, goal)

    cfg = MPPIConfig(horizon=H, samples=256, iterations=8, elites=32, temperature=20.0, init_std=1.0)
    z0, goal = torch.zeros(2), torch.tensor([0.3, -0.2])
    results = []
    for score in (True, False):
        calls.clear()
        planner = MPPI(dataclasses.replace(cfg, score_plan=score))
        results.append(planner.plan(z0, PointMass(), counting, goal=goal, generator=torch.Generator().manual_seed(0)))
        assert len(calls) == cfg.iterations + score
    scored, unscored = results
    torch.testing.assert_close(scored.actions, unscored.actions)
    assert unscored.energy.item() == pytest.approx(scored.energy.item(), abs=0.01)


def test_goal_energy_weighs_dimensions_and_a_split_latents_state_part():
    z, goal = torch.tensor([[[1.0, 2.0, 3.0]]]), torch.zeros(1, 3)  # (H+1=1, N=1, D=3)
    weighted = GoalEnergy("l2", "final", weights=torch.tensor([4.0, 1.0, 1.0]))
    assert weighted(z, None, goal).item() == pytest.approx(4 * 1 + 4 + 9)
    assert GoalEnergy("l1", "final", weights=torch.tensor([0.0, 1.0, 1.0]))(z, None, goal).item() == 5.0
    with pytest.raises(ValueError, match="not cosine"):
        GoalEnergy("cosine", weights=torch.ones(3))
    from agent.config import GoalAgentConfig, ModelConfig
    from agent.factory import build_goal_agent
    from world_model import WorldModel, preset

    shapes = {"state": (2,), "pixels": (3, 32, 32)}
    model = WorldModel(shapes, 2, preset("tiny", state_latent=4))
    cfg = GoalAgentConfig(inputs="state+pixels", model=ModelConfig(size="tiny"), state_weight=3.0)
    agent = build_goal_agent(cfg, model, 2, generator=torch.Generator())
    assert agent.objective.weights.tolist() == [3.0] * 4 + [1.0] * 12
    assert build_goal_agent(GoalAgentConfig(), model, 2, generator=torch.Generator()).objective.weights is None
    with pytest.raises(ValueError, match="state_weight"):
        GoalAgentConfig(state_weight=-1.0)


def test_goal_agent_action_cost_adds_the_plans_mean_squared_action_to_the_goal_energy():
    from agent.config import GoalAgentConfig, ModelConfig
    from agent.factory import build_goal_agent
    from world_model import WorldModel, preset

    model = WorldModel({"state": (2,)}, 2, preset("tiny"))
    cfg = GoalAgentConfig(inputs="state", model=ModelConfig(size="tiny"), steps="all")
    plain = build_goal_agent(cfg, model, 2, generator=torch.Generator()).objective
    costly = build_goal_agent(
        dataclasses.replace(cfg, action_cost=2.0), model, 2, generator=torch.Generator()
    ).objective
    g = torch.Generator().manual_seed(0)
    zs, goal = torch.randn(4, 5, 16, generator=g), torch.randn(5, 16, generator=g)  # H=3, N=5, D=16
    actions = torch.rand(3, 5, 2, generator=g) * 2 - 1
    expected = plain(zs, actions, goal) + 2.0 * actions.pow(2).sum(-1).mean(0)
    torch.testing.assert_close(costly(zs, actions, goal), expected)
    # Standing still costs nothing: the same plan at rest scores the goal energy alone.
    rest = torch.zeros_like(actions)
    torch.testing.assert_close(costly(zs, rest, goal), plain(zs, rest, goal))
    with pytest.raises(ValueError, match="action_cost=-0.5: must be >= 0"):
        GoalAgentConfig(action_cost=-0.5)


def test_cem_mean_result_is_the_last_refits_mean_scored_once_more():
    cfg = CEMConfig(horizon=H, samples=64, iterations=3, elites=8, momentum=0.0)
    dyn, z0, goal = PointMass(), torch.zeros(2), torch.tensor([0.3, -0.2])
    best = CEM(cfg).plan(z0, dyn, GoalEnergy("l2"), goal=goal, generator=torch.Generator().manual_seed(0))
    mean = CEM(dataclasses.replace(cfg, result="mean")).plan(
        z0, dyn, GoalEnergy("l2"), goal=goal, generator=torch.Generator().manual_seed(0)
    )
    # The same search; with no momentum the returned mean is the last iteration's elites' mean.
    torch.testing.assert_close(mean.actions, best.elites.mean(1))
    final = z0 + dyn.dt * mean.actions.sum(0)
    assert mean.energy.item() == pytest.approx(float((final - goal).pow(2).sum()), rel=1e-4)
    with pytest.raises(ValueError, match="choose best .* or mean"):
        CEMConfig(result="median")


def test_smoothed_evaluate_is_the_mean_over_the_candidate_and_its_clipped_copies():
    g = torch.Generator().manual_seed(0)
    dyn, z0, goal = PointMass(), torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)
    cand = torch.rand(H, 2, 3, 2, generator=g) * 2 - 1  # (H, G, N, A)
    offsets = 0.5 * torch.randn(H, 2, 4, 2, generator=g)  # (H, G, P, A)
    got = smoothed_evaluate(z0, cand, offsets, dyn, GoalEnergy("l2"), goal)
    assert got.shape == (2, 3)
    for p in range(4):
        cand = torch.cat([cand, (cand[:, :, :3] + offsets[:, :, p : p + 1]).clamp(-1, 1)], dim=2)
    each = evaluate(z0, cand, dyn, GoalEnergy("l2"), goal).view(2, 5, 3)  # copy-major
    torch.testing.assert_close(got, each.mean(1))
    zero = smoothed_evaluate(z0, cand[:, :, :3], torch.zeros(H, 2, 4, 2), dyn, GoalEnergy("l2"), goal)
    torch.testing.assert_close(zero, evaluate(z0, cand[:, :, :3], dyn, GoalEnergy("l2"), goal))


def test_cem_perturbations_prefer_the_wide_minimum_to_the_narrow_deeper_one():
    # One action moves the point to a; the energy has a deep well 0.02 wide at a=0.5 and a shallow one 0.3 wide
    # at a=-0.5. Plain CEM finds the deep one; scored over perturbed copies, only the wide one stays deep.
    def energy(zs, actions, goal):
        x = zs[-1, :, 0]
        return -2 * torch.exp(-(((x - 0.5) / 0.02) ** 2)) - torch.exp(-(((x + 0.5) / 0.3) ** 2))

    dyn = PointMass(dt=1.0)
    cfg = CEMConfig(horizon=1, samples=512, iterations=6, elites=16)
    plain = CEM(cfg).plan(torch.zeros(2), dyn, energy, generator=torch.Generator().manual_seed(0))
    robust = CEM(dataclasses.replace(cfg, perturbations=4, perturbation_std=0.1)).plan(
        torch.zeros(2), dyn, energy, generator=torch.Generator().manual_seed(0)
    )
    assert plain.actions[0, 0].item() == pytest.approx(0.5, abs=0.02)
    assert robust.actions[0, 0].item() == pytest.approx(-0.5, abs=0.1)
    with pytest.raises(ValueError, match="perturbations=-1: pairs of perturbed copies per candidate"):
        CEMConfig(perturbations=-1)
