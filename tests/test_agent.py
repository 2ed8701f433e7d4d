"""The reward-driven agent's update: sequential, overlapped with a background thread, and its options."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from agent.config import ModelConfig, RewardAgentConfig
from agent.factory import build_reward_agent, make_generator
from agent.objectives import PriorDeviation
from agent.planners import MPPIConfig
from world_model import Batch
from world_model.distributed import BatchSync

S, A, T, B = 3, 2, 3, 16


def _agent(seed=0, total_updates=None, **kw):
    torch.manual_seed(seed)  # parameter initialisation
    cfg = RewardAgentConfig(
        model=ModelConfig(size="tiny", overrides={**RewardAgentConfig().model.overrides, "num_bins": 21}),
        planner=MPPIConfig(samples=16, iterations=2, elites=4, prior_samples=4),
        batch_size=B,
        **kw,
    )
    generator = make_generator("cpu", seed)
    return build_reward_agent(
        cfg, {"state": (S,)}, A, device="cpu", generator=generator, discount=0.9, total_updates=total_updates
    )


def _batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        Batch(
            {"state": torch.randn(T + 1, B, S, generator=g)},
            torch.rand(T, B, A, generator=g) * 2 - 1,
            torch.randn(T, B, generator=g),
        )
        for _ in range(n)
    ]


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_overlapped_update_reports_one_call_later_and_flush_settles():
    agent = _agent()
    agent.overlap(make_generator("cpu", 1))
    batches = _batches(3)
    assert agent.update(batches[0]) == {}  # the first step is still running
    metrics = agent.update(batches[1])  # finishes step 1, starts step 2
    assert {"total_loss", "grad_norm", "policy_loss"} <= metrics.keys()
    # Planning reads the snapshot taken when step 1 finished, not parameters a running step may be writing.
    snapshot = _params(agent.acting_model)
    agent.act({"state": np.zeros(S, np.float32)})
    _assert_same(_params(agent.acting_model), snapshot)
    metrics = agent.flush()
    assert "policy_loss" in metrics
    _assert_same(_params(agent.acting_model), _params(agent.model))
    _assert_same(_params(agent.acting_policy), _params(agent.policy))
    assert agent.flush() == {}  # nothing pending
    action = agent.act({"state": np.zeros(S, np.float32)}, explore=True)
    assert action.shape == (A,) and np.all(np.abs(action) <= 1)


def test_overlapped_updates_do_not_depend_on_thread_timing():
    runs = []
    for _ in range(2):
        agent = _agent(seed=3)
        agent.overlap(make_generator("cpu", 4))
        for batch in _batches(6):
            agent.update(batch)
            agent.act({"state": np.zeros(S, np.float32)}, explore=True)  # interleaved with the background step
        agent.flush()
        runs.append((_params(agent.model), _params(agent.policy)))
    _assert_same(runs[0][0], runs[1][0])
    _assert_same(runs[0][1], runs[1][1])


def test_overlapped_agent_saves_and_restores_its_streams():
    agent = _agent()
    agent.overlap(make_generator("cpu", 1))
    for batch in _batches(3):
        agent.update(batch)
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)  # finishes the pending step first
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)
    assert "learn_generator" in state
    twin = _agent(seed=9)
    twin.overlap(make_generator("cpu", 10))
    twin.load_state_dict(state)
    _assert_same(_params(twin.acting_model), _params(agent.model))
    for a in (agent, twin):
        a.update(_batches(1, seed=5)[0])
        a.flush()
    _assert_same(_params(agent.model), _params(twin.model))
    _assert_same(_params(agent.policy), _params(twin.policy))


def test_overlap_is_refused_across_processes():
    agent = _agent()
    agent.sync = BatchSync(world_size=2)
    with pytest.raises(ValueError, match="overlap=false"):
        agent.overlap(make_generator("cpu", 1))


def test_reward_agent_refuses_a_history_model():
    overrides = {**RewardAgentConfig().model.overrides, "history": 2}
    cfg = RewardAgentConfig(model=ModelConfig(size="tiny", overrides=overrides))
    with pytest.raises(ValueError, match="set history=1"):
        build_reward_agent(cfg, {"state": (S,)}, A, device="cpu", generator=make_generator("cpu", 0), discount=0.9)


def test_policy_batch_limits_the_policy_step():
    agent = _agent(policy_batch=4)
    seen = []
    policy = agent._policy_train
    agent._policy_train = lambda z, g, **kw: seen.append(z.shape) or policy(z, g, **kw)
    metrics = agent.update(_batches(1)[0])
    assert seen == [((T + 1) * 4, agent.model.cfg.latent_dim)]
    assert np.isfinite(metrics["policy_loss"])
    full = _agent()
    assert dataclasses.replace(full.cfg).policy_batch is None


def _two_way_plan(H=3, K=4):
    """A plan whose elites split evenly between turning one way (+1) and the other (-1): the mean is 0."""
    from agent.planners.base import PlanResult

    elites = torch.ones(H, K, A)
    elites[:, K // 2 :] = -1.0
    weights = torch.full((K,), 1.0 / K)
    return PlanResult(torch.zeros(H, A), torch.tensor(0.0), {}, elites, torch.full((H, A), 0.1), weights)


@pytest.mark.parametrize("execute", ["mean", "elite"])
def test_executed_action_is_the_mean_or_a_drawn_elite(execute):
    agent = _agent(execute=execute)
    agent.planner.plan = lambda *args, **kw: _two_way_plan()
    obs = {"state": np.zeros(S, np.float32)}
    actions = {tuple(agent.act(obs)) for _ in range(20)}
    if execute == "mean":
        assert actions == {(0.0,) * A}
    else:  # one of the elites, drawn by weight: both ways turn up, never their cancelling mean
        assert actions == {(1.0,) * A, (-1.0,) * A}
    torch.testing.assert_close(agent._plan, torch.zeros(3, A))  # the mean warm-starts the next plan


def test_eval_execute_applies_to_evaluation_only():
    agent = _agent(execute="mean", eval_execute="elite")
    agent.planner.plan = lambda *args, **kw: _two_way_plan()
    obs = {"state": np.zeros(S, np.float32)}
    evaluated = {tuple(agent.act(obs)) for _ in range(20)}
    assert evaluated == {(1.0,) * A, (-1.0,) * A}  # a drawn elite, never the cancelling mean
    explored = [agent.act(obs, explore=True) for _ in range(20)]
    # exploring executes the mean (0) plus noise of the plan's std (0.1): never near an elite's +-1
    assert max(np.abs(a).max() for a in explored) < 0.6


def test_mppi_reports_the_weights_of_its_elites():
    agent = _agent()
    z = torch.zeros(agent.model.cfg.latent_dim)
    result = agent.planner.plan(z, agent.dynamics, agent.objective, generator=agent.generator)
    assert result.weights.shape == (4,)
    torch.testing.assert_close(result.weights.sum(), torch.tensor(1.0))
    torch.testing.assert_close((result.weights[None, :, None] * result.elites).sum(1), result.actions)


def test_unknown_execute_is_explained():
    with pytest.raises(ValueError, match="choose elite or mean"):
        RewardAgentConfig(execute="median")
    with pytest.raises(ValueError, match="eval_execute='median'; choose elite or mean, or null"):
        RewardAgentConfig(eval_execute="median")


# ---------------------------------------------------------------- the prior term (prior_weight)
def test_prior_deviation_is_the_scaled_mean_square_from_the_prior_mean():
    H, N = 3, 4
    zs = torch.randn(H + 1, N, 5)
    prior = torch.randn(H * N, A)
    term = PriorDeviation(lambda z: prior[: z.shape[0]], scale=lambda: 10.0)
    actions = prior.view(H, N, A).clone()
    torch.testing.assert_close(term(zs, actions), torch.zeros(N))
    actions[:, 1] += 0.5  # every step and dimension of plan 1 off by 0.5
    torch.testing.assert_close(term(zs, actions), torch.tensor([0.0, 2.5, 0.0, 0.0]))


def test_prior_weight_adds_the_scaled_prior_term_to_the_planning_energy():
    free, held = _agent(seed=1), _agent(seed=1, prior_weight=2.0)
    held.scale.value = 3.0  # the running value spread: the term's unit
    N = 5
    with torch.no_grad():
        z = held.model.encode({"state": torch.randn(N, S, generator=torch.Generator().manual_seed(0))})
        actions = torch.rand(3, N, A, generator=torch.Generator().manual_seed(1)) * 2 - 1
        zs = [z]
        for a in actions:
            zs.append(held.dynamics(zs[-1], a))
        zs = torch.stack(zs)  # (H+1, N, D)
        prior = torch.stack([held._prior_mean(zt) for zt in zs[:-1]])  # (H, N, A)
        expected = free.objective(zs, actions, None) + 2.0 * 3.0 * (actions - prior).pow(2).mean(-1).mean(0)
        torch.testing.assert_close(held.objective(zs, actions, None), expected)


def test_negative_prior_weight_is_explained():
    with pytest.raises(ValueError, match="prior_weight"):
        RewardAgentConfig(prior_weight=-0.1)


# ---------------------------------------------------------------- learning-rate schedule (lr_final)
def test_cosine_scale_falls_from_one_to_the_final_fraction_and_stays():
    from agent.world_model_agent import cosine_scale

    assert [round(cosine_scale(u, 10, 0.1), 6) for u in (0, 5, 10, 25)] == [1.0, 0.55, 0.1, 0.1]
    assert cosine_scale(3, 10, 1.0) == 1.0


def _rates(agent):
    return [g["lr"] for g in agent.optim.param_groups] + [agent.policy_optim.param_groups[0]["lr"]]


@pytest.mark.parametrize("overlap", [False, True])
def test_learning_rates_follow_the_schedule_and_resume_where_they_were(overlap):
    from agent.world_model_agent import cosine_scale

    lr, scale = 1e-3, RewardAgentConfig().encoder_lr_scale

    def expected(done):
        f = cosine_scale(done, 4, 0.1)
        return pytest.approx([lr * scale * f, lr * f, lr * f])

    agent = _agent(total_updates=4, lr=lr, lr_final=0.1)
    if overlap:
        agent.overlap(make_generator("cpu", 1))
    for batch in _batches(3):
        agent.update(batch)
    assert _rates(agent) == expected(2)  # the third update ran at the rates after two
    twin = _agent(seed=9, total_updates=4, lr=lr, lr_final=0.1)
    twin.load_state_dict(agent.state_dict())
    twin.update(_batches(1, seed=5)[0])
    assert twin.updates == 4 and _rates(twin) == expected(3)
    twin.update(_batches(1, seed=6)[0])
    assert _rates(twin) == pytest.approx([lr * scale * 0.1, lr * 0.1, lr * 0.1])  # the end: lr * lr_final


def test_rates_stay_constant_by_default_or_without_a_run_length():
    for agent in (_agent(total_updates=4), _agent(lr_final=0.1)):
        for batch in _batches(3):
            agent.update(batch)
        lr = agent.cfg.lr
        assert _rates(agent) == pytest.approx([lr * agent.cfg.encoder_lr_scale, lr, lr])


def test_lr_final_outside_zero_one_is_explained():
    with pytest.raises(ValueError, match=r"lr_final=0.0: a fraction of lr in \(0, 1\]"):
        RewardAgentConfig(lr_final=0.0)


# ---------------------------------------------------------------- the entropy bonus (agent.entropy)
def test_policy_log_prob_before_the_tanh_is_the_gaussians():
    from agent.policy import LOG_STD_MAX, LOG_STD_MIN, GaussianPolicy

    policy, z = GaussianPolicy(4, 8, A), torch.randn(32, 4)
    action, squashed = policy(z, torch.Generator().manual_seed(0))
    same, gaussian = policy(z, torch.Generator().manual_seed(0), squashed=False)
    mean, log_std = policy.net(z).chunk(2, dim=-1)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(same, action)
    torch.testing.assert_close(gaussian, normal.log_prob(torch.atanh(action)).sum(-1), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(squashed, gaussian - torch.log1p(-action.pow(2) + 1e-6).sum(-1))


def _saturated_mean_after_entropy_step(entropy: str) -> torch.Tensor:
    """The policy's mean action `(A,)` on fixed latents after one step dominated by the entropy bonus,
    from a mean saturated at tanh(3)."""
    agent = _agent(entropy=entropy, entropy_coef=1e3)
    agent.policy_optim = torch.optim.SGD(agent.policy.parameters(), lr=1e-2)  # steps in proportion to the gradient
    with torch.no_grad():
        agent.policy.net[-1].bias[:A] = 3.0
        agent.policy.net[-1].weight[:A] = 0.0
    zs = torch.randn(T + 1, B, agent.model.cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    agent._update_policy(zs)
    with torch.no_grad():
        return agent.policy.net(zs[0])[:, :A].mean(0)


def test_scaled_entropy_does_not_pull_saturated_actions_inward():
    # The squashed action's entropy falls as tanh saturates, so its bonus moves the mean toward 0; TD-MPC2's
    # bonus reads the Gaussian before the tanh, which does not depend on the mean.
    assert (_saturated_mean_after_entropy_step("squashed") < 2.95).all()
    torch.testing.assert_close(_saturated_mean_after_entropy_step("scaled"), torch.full((A,), 3.0), atol=1e-3, rtol=0)


def test_unknown_entropy_is_explained():
    with pytest.raises(ValueError, match="agent.entropy='gauss'; choose squashed or scaled"):
        RewardAgentConfig(entropy="gauss")


# ---------------------------------------------------------------- bf16 autocast (precision=bf16)
def test_policy_log_prob_stays_finite_when_bf16_saturates_the_tanh():
    from agent.policy import GaussianPolicy
    from train.accel import autocast

    policy = GaussianPolicy(4, 8, A)
    with torch.no_grad():
        policy.net[-1].bias[:A] = 8.0  # tanh(8) is exactly 1 in bf16
    with autocast(torch.device("cpu"), "bf16")():
        action, log_prob = policy(torch.randn(32, 4), torch.Generator().manual_seed(0))
    assert torch.isfinite(log_prob).all() and torch.isfinite(action).all()


def test_two_hot_decode_is_fp32_under_autocast():
    from train.accel import autocast
    from world_model.heads import TwoHot

    two_hot, logits = TwoHot(101, -10.0, 10.0), torch.randn(64, 101, generator=torch.Generator().manual_seed(0))
    expected = two_hot.decode(logits)
    with autocast(torch.device("cpu"), "bf16")():
        got = two_hot.decode(logits)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("overlap", [False, True])
def test_reward_agent_trains_under_bf16_autocast(overlap):
    from train.accel import autocast

    agent = _agent()
    agent.autocast = autocast(torch.device("cpu"), "bf16")
    if overlap:
        agent.overlap(make_generator("cpu", 1))
    for batch in _batches(12):
        agent.act({"state": np.zeros(S, np.float32)}, explore=True)
        metrics = agent.update(batch)
    metrics.update(agent.flush())
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert all(torch.isfinite(p).all() for p in [*agent.model.parameters(), *agent.policy.parameters()])


def test_spin_trace_decays_freely_and_summarises_a_trace():
    from benchmarks.spin_trace import SPIN, describe, free_decay

    decay = free_decay(steps=30)
    assert decay[0] < SPIN  # set spinning at -30 rad/s, it starts above the reward's threshold speed
    assert np.all(np.diff(decay[:10]) > 0)  # and slows every step with nothing pushing it
    assert decay[-1] > SPIN
    trace = np.array([0.0, 3.0, -16.0, -20.0])  # wrong way once, then two decisions spinning
    first, quantiles, share, wrong = describe(trace).split(" | ")
    assert (first, share, wrong) == ("2", "0.50", "0.25")


def test_decision_cost_size_specs_parse_presets_and_typed_overrides():
    from benchmarks.decision_cost import _with_model

    base = RewardAgentConfig()
    assert _with_model(base, "medium").model.size == "medium"
    overrides = _with_model(base, "latent_dim=512,residual=false,ema_tau=0.05").model.overrides
    assert (overrides["latent_dim"], overrides["residual"], overrides["ema_tau"]) == (512, False, 0.05)
    assert overrides["latent_norm"] == "simnorm"  # the agent's own overrides are kept
    with pytest.raises(ValueError, match="joined by commas, no spaces"):
        _with_model(base, "latent_dim=512 residual=false")


def test_reacher_failures_traces_an_evaluation_episode_as_evaluation_runs_it():
    from benchmarks.reacher_failures import trace_episode
    from envs import make_env
    from eval.episode import run_episode
    from eval.evaluate import episode_seed, reseed

    env = make_env("dmc/reacher-easy", obs="state")
    cfg = RewardAgentConfig(
        model=ModelConfig(size="tiny", overrides={**RewardAgentConfig().model.overrides, "num_bins": 21}), plan=False
    )
    agent = build_reward_agent(cfg, {"state": (6,)}, 2, device="cpu", generator=make_generator("cpu", 0), discount=0.9)
    seed = episode_seed(0, 3)
    row = trace_episode(agent, env, seed)
    reseed(agent, seed)
    assert row["return"] == run_episode(env, agent, seed=seed).total_return  # the same episode, replayed
    assert row["end_dist"] > 0 and np.isfinite(row["end_pred_reward"]) and row["end_speed"] >= 0
    assert row["first_reach"] is None or 0 <= row["first_reach"] < 500


def test_a_reward_checkpoint_refuses_goal_planning_settings_by_name(tmp_path):
    from agent.checkpoint import agent_payload, load_agent, save_checkpoint

    agent = _agent()
    path = save_checkpoint(
        tmp_path / "reward.pt", agent_payload("reward", agent.cfg, {"state": (S,)}, A, agent, discount=0.9)
    )
    assert type(load_agent(path)).__name__ == "WorldModelAgent"
    with pytest.raises(ValueError, match="horizon=, adapt_steps= apply to goal-reaching checkpoints; the reward"):
        load_agent(path, horizon=5, adapt_steps=2)
    with pytest.raises(ValueError, match="ensemble= apply to goal-reaching"):
        load_agent(path, ensemble=[str(path)])
