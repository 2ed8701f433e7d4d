"""Assembling agents from configs (used by the training commands and by checkpoint loading)."""

from __future__ import annotations

import torch

from agent.adaptation import PredictorAdaptation
from agent.config import GoalAgentConfig, ModelConfig, RewardAgentConfig
from agent.mpc import MPCAgent, MPCConfig
from agent.objectives import ActionPenalty, GoalEnergy, GoalReached, PoseReached, WeightedSum
from agent.planners import CEM, MPPI, GradientPlanner, HybridPlanner
from agent.waypoints import LandmarkGraph
from agent.world_model_agent import WorldModelAgent
from world_model import WorldModel, WorldModelConfig, preset


def model_config(cfg: ModelConfig) -> WorldModelConfig:
    return preset(cfg.size, **cfg.overrides)


def episode_discount(decisions_per_episode: int) -> float:
    """TD-MPC2's heuristic: (L/5 - 1) / (L/5), clipped to [0.95, 0.995] (0.99 for 500 decisions)."""
    frac = decisions_per_episode / 5
    return min(max((frac - 1) / frac, 0.95), 0.995)


def build_reward_agent(
    cfg: RewardAgentConfig,
    obs_shapes: dict,
    action_dim: int,
    *,
    device,
    generator,
    discount: float,
    total_updates: int | None = None,
) -> WorldModelAgent:
    model = WorldModel(obs_shapes, action_dim, model_config(cfg.model)).to(device)
    return WorldModelAgent(model, cfg, action_dim, discount=discount, generator=generator, total_updates=total_updates)


def build_planner(cfg: GoalAgentConfig):
    """The planner named by `cfg.planner`, configured from the matching section."""
    if cfg.planner == "cem":
        return CEM(cfg.cem)
    if cfg.planner == "mppi":
        return MPPI(cfg.mppi)
    if cfg.planner == "gradient":
        return GradientPlanner(cfg.gradient)
    if cfg.planner == "hybrid":
        return HybridPlanner(CEM(cfg.cem), GradientPlanner(cfg.gradient))
    raise ValueError(f"unknown planner {cfg.planner!r}; choose cem, mppi, gradient or hybrid")


def build_goal_agent(
    cfg: GoalAgentConfig, model: WorldModel, action_dim: int, *, generator, waypoints: LandmarkGraph | None = None
) -> MPCAgent:
    weights = _goal_weights(cfg, model)
    objective = GoalEnergy(cfg.metric, cfg.steps, weights)
    if cfg.action_cost > 0:
        objective = WeightedSum([(1.0, objective), (cfg.action_cost, ActionPenalty())])
    hold = GoalReached(observation_energy(cfg, model), cfg.hold_energy) if cfg.hold_energy > 0 else None
    if cfg.hold_pose is not None:
        if not getattr(model.cfg, "moment_gain", 0):
            raise ValueError("hold_pose reads the glimpse's moments; this model has none (train with moment_gain > 0)")
        hold = PoseReached(model.cfg.moment_orders, model.cfg.moment_gain, *cfg.hold_pose)
    mpc = MPCConfig(execute=cfg.execute)
    adaptation = None
    if cfg.adapt_steps:
        if getattr(model, "members", None) is not None:
            raise ValueError("adapt_steps fits one model's predictor; plan with one checkpoint, or adapt_steps=0")
        adaptation = PredictorAdaptation(
            model, steps=cfg.adapt_steps, lr=cfg.adapt_lr, horizon=cfg.horizon, pull=cfg.adapt_pull
        )
    return MPCAgent(
        model,
        build_planner(cfg),
        objective,
        action_dim,
        generator=generator,
        cfg=mpc,
        waypoints=waypoints,
        hold=hold,
        drift_correction=cfg.drift_correction,
        adaptation=adaptation,
    )


def observation_energy(cfg: GoalAgentConfig, model: WorldModel) -> GoalEnergy:
    """The goal energy of an observation's latent itself (the final step, the agent's weights): what the
    hold reads, and what `train.selection` scores an encoder by."""
    return GoalEnergy(cfg.metric, "final", _goal_weights(cfg, model))


def _goal_weights(cfg: GoalAgentConfig, model) -> torch.Tensor | None:
    """`(D,)` weights of the goal energy: `cfg.state_weight` on a split latent's state part,
    `cfg.glimpse_weight` on its glimpse's learned dimensions, `cfg.moment_weight` on its moments (times
    `cfg.first_order_weight` on their first-order orientation pair), 1 elsewhere.

    For a `ModelEnsemble` the members' weights side by side, divided by their number K: the energy is then
    the mean of the members' own energies, on the scale of one member's."""
    members = getattr(model, "members", None)
    if members is not None:
        if cfg.metric == "cosine":
            raise ValueError("an ensemble plans on the mean of its members' l2 or l1 energies; use metric l2 or l1")
        parts = []
        for member in members:
            w = _member_weights(cfg, member)
            parts.append(torch.ones(member.cfg.latent_dim, device=_device(member)) if w is None else w)
        return torch.cat(parts) / len(parts)
    return _member_weights(cfg, model)


def _member_weights(cfg: GoalAgentConfig, model: WorldModel) -> torch.Tensor | None:
    """One model's `(D,)` goal weights (None: all 1)."""
    if cfg.state_weight == cfg.glimpse_weight == cfg.moment_weight == cfg.first_order_weight == 1.0:
        return None
    k, g = model.cfg.state_latent, model.cfg.glimpse_dims
    if cfg.state_weight != 1.0 and not k:
        raise ValueError(
            f"agent.state_weight={cfg.state_weight} weighs the state part of a split latent, and this model has "
            "none: train it with agent.model.overrides.state_latent=k, or leave state_weight at 1"
        )
    if cfg.glimpse_weight != 1.0 and not model.cfg.glimpse:
        raise ValueError(
            f"agent.glimpse_weight={cfg.glimpse_weight} weighs a glimpse's dimensions, and this model has none: "
            "train it with agent.model.overrides.glimpse=G and glimpse_dims=g, or leave glimpse_weight at 1"
        )
    if cfg.moment_weight != 1.0 and not model.cfg.moment_gain:
        raise ValueError(
            f"agent.moment_weight={cfg.moment_weight} weighs a glimpse's moments, and this model has none: train "
            "it with agent.model.overrides.moment_gain=M, or leave moment_weight at 1"
        )
    orders = model.cfg.moment_orders if model.cfg.moment_gain else ()
    if cfg.first_order_weight != 1.0 and 1 not in orders:
        raise ValueError(
            f"agent.first_order_weight={cfg.first_order_weight} weighs a glimpse's first-order orientation, and "
            "this model has none: train it with agent.model.overrides.moment_orders=[1,3], or leave it at 1"
        )
    weights = torch.ones(model.cfg.latent_dim, device=_device(model))
    weights[:k] = cfg.state_weight
    if model.cfg.glimpse:
        weights[-g:] = cfg.glimpse_weight
    if model.cfg.moment_gain:
        weights[-model.cfg.moment_dims :] = cfg.moment_weight
    if 1 in orders:  # the moments: the centroid's 2, then a pair per order
        first = model.cfg.latent_dim - model.cfg.moment_dims + 2 + 2 * orders.index(1)
        weights[first : first + 2] = cfg.moment_weight * cfg.first_order_weight
    return weights


def _device(model) -> torch.device:
    return next(model.parameters()).device


def make_generator(device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
