"""Checkpoints: written atomically, self-describing (configs inside), and loadable as agents."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
from collections.abc import Sequence

import torch

from agent.config import GoalAgentConfig, RewardAgentConfig, from_dict
from agent.ensemble import ModelEnsemble
from agent.factory import build_goal_agent, build_reward_agent, make_generator, model_config
from agent.waypoints import LandmarkGraph
from world_model import WorldModel


def atomic_write(path: str | os.PathLike, write) -> pathlib.Path:
    """Write a file via `write(fileobj)` to a temporary name in the same folder, fsync, then rename.

    A reader never sees a half-written file, and a crash leaves the previous version in place.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(path: str | os.PathLike, payload: dict) -> pathlib.Path:
    """`torch.save` the payload atomically."""
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train one with `python -m train`")
    return torch.load(path, map_location="cpu", weights_only=False)


def agent_payload(kind: str, cfg, obs_shapes: dict, action_dim: int, agent, **extra) -> dict:
    """What a checkpoint holds to rebuild `agent` anywhere: its kind, configs, shapes and state."""
    return {
        "kind": kind,
        "agent_config": dataclasses.asdict(cfg),
        "obs_shapes": obs_shapes,
        "action_dim": action_dim,
        "agent": agent.state_dict(),
        **extra,
    }


def load_agent(
    path: str | os.PathLike,
    env=None,
    *,
    seed: int = 0,
    device: str = "cpu",
    planner: str | None = None,
    horizon: int | None = None,
    energy_steps: str | None = None,
    waypoints: bool | None = None,
    state_weight: float | None = None,
    glimpse_weight: float | None = None,
    moment_weight: float | None = None,
    first_order_weight: float | None = None,
    samples: int | None = None,
    iterations: int | None = None,
    noise_beta: float | None = None,
    action_cost: float | None = None,
    hold_energy: float | None = None,
    execute: int | None = None,
    drift_correction: bool | None = None,
    hold_pose: Sequence[float] | None = None,
    cem_result: str | None = None,
    ensemble: Sequence[str | os.PathLike] = (),
):
    """Rebuild the agent saved in a checkpoint (reward-driven or goal-reaching) on `device`.

    For a goal-reaching agent, `planner` replaces its planner (`cem`, `mppi`, `gradient`, `hybrid`),
    `horizon` every planner's horizon (decisions), `energy_steps` the goal energy's `final`/`all`,
    `state_weight` the weight of a split latent's state part in it, `glimpse_weight` that of its glimpse's
    dimensions, `moment_weight` that of its moments (`first_order_weight` the first-order pair's share),
    `samples` / `iterations` the sampling planner's (CEM's, also in `hybrid`, or MPPI's) candidates per
    iteration and iterations, and
    `noise_beta` CEM's noise colour (0 white, 2 iCEM's smooth plans), `action_cost` the weight of the
    control cost in the goal energy, `hold_energy` the goal energy at or below which the agent holds still,
    `execute` the actions executed from each plan before the next is made, `drift_correction` whether plans
    are scored less the model's zero-action drift, `hold_pose` the `(position, turn)` of the moments' pose hold
    (in place of the energy's), `cem_result` which plan CEM returns (`best` or `mean`);
    `waypoints=False` plans straight at the goal even when the checkpoint holds a memory graph
    (checkpoints of before the memory graph hold none: `python -m train.memory` adds one). With `env`,
    its observations must have the shapes the model was trained on (`check_env_shapes`).

    `ensemble` names further goal checkpoints whose models plan together with this one's
    (`agent.ensemble.ModelEnsemble`: the energy is the mean of the members' energies). The planning settings
    are this checkpoint's; the members' memory graphs live in their own latent spaces, so an ensemble plans
    straight at the goal.
    """
    payload = load_checkpoint(path)
    generator = make_generator(device, seed)
    shapes, action_dim = payload["obs_shapes"], payload["action_dim"]
    if env is not None:
        check_env_shapes(path, shapes, env.observation_space)
    if payload["kind"] == "reward":
        cfg = from_dict(RewardAgentConfig, payload["agent_config"])
        agent = build_reward_agent(
            cfg, shapes, action_dim, device=device, generator=generator, discount=payload["discount"]
        )
    elif payload["kind"] == "goal":
        cfg = from_dict(GoalAgentConfig, payload["agent_config"])
        cfg = with_planning(
            cfg,
            planner=planner,
            horizon=horizon,
            energy_steps=energy_steps,
            state_weight=state_weight,
            glimpse_weight=glimpse_weight,
            moment_weight=moment_weight,
            first_order_weight=first_order_weight,
            samples=samples,
            iterations=iterations,
            noise_beta=noise_beta,
            action_cost=action_cost,
            hold_energy=hold_energy,
            execute=execute,
            drift_correction=drift_correction,
            hold_pose=hold_pose,
            cem_result=cem_result,
        )
        model = _goal_model(payload, device)
        graph = None
        if ensemble:
            model = _ensemble(model, payload, path, list(ensemble), env, action_dim, device, waypoints)
        elif waypoints is not False and "memory" in payload:
            memory = payload["memory"]
            graph = LandmarkGraph(**{**memory, "latents": memory["latents"].to(device)})
        agent = build_goal_agent(cfg, model, action_dim, generator=generator, waypoints=graph)
    else:
        raise ValueError(f"checkpoint {path} holds an unknown agent kind {payload['kind']!r}")
    planning = (
        planner,
        horizon,
        energy_steps,
        waypoints,
        state_weight,
        glimpse_weight,
        moment_weight,
        first_order_weight,
        samples,
        iterations,
        noise_beta,
        action_cost,
        hold_energy,
        execute,
        drift_correction,
        hold_pose,
        cem_result,
    )
    if payload["kind"] != "goal" and (planning != (None,) * len(planning) or ensemble):
        raise ValueError(
            "planner=, horizon=, energy_steps=, waypoints=, state_weight=, glimpse_weight=, moment_weight=, "
            "first_order_weight=, samples=, iterations=, noise_beta=, action_cost=, hold_energy=, execute=, "
            "drift_correction=, hold_pose=, cem_result= and ensemble= apply to goal-reaching checkpoints; "
            "the reward agent plans with its saved MPPI settings"
        )
    if not ensemble:  # an ensemble's members hold their weights already
        agent.load_state_dict(payload["agent"])
    agent.generator.manual_seed(seed)
    return agent


def _goal_model(payload: dict, device) -> WorldModel:
    """The (untrained) world model a goal checkpoint's payload describes, on `device`."""
    cfg = from_dict(GoalAgentConfig, payload["agent_config"])
    return WorldModel(payload["obs_shapes"], payload["action_dim"], model_config(cfg.model)).to(device)


def _ensemble(first: WorldModel, payload: dict, path, others: list, env, action_dim: int, device, waypoints):
    """`first` (with its weights from `payload`) and the models of the goal checkpoints `others` as one
    `ModelEnsemble`, each checked against `env` and the first's action size."""
    if waypoints:
        raise ValueError("waypoints=true with an ensemble: its members' memories live in different latent spaces")
    first.load_state_dict(payload["agent"]["model"])
    members = [first]
    for other in others:
        member = load_checkpoint(other)
        if member["kind"] != "goal" or member["action_dim"] != action_dim:
            raise ValueError(
                f"ensemble member {other} is not a goal-reaching model with {action_dim} actions like {path}; "
                "every member must be trained (python -m train.offline) on the same task"
            )
        if env is not None:
            check_env_shapes(other, member["obs_shapes"], env.observation_space)
        model = _goal_model(member, device)
        model.load_state_dict(member["agent"]["model"])
        members.append(model)
    return ModelEnsemble(members)


def check_env_shapes(path, shapes: dict, space) -> None:
    """Raise, naming the mismatch and the fix, when `space` (an env's dict observation space) does not
    serve the inputs of shapes `shapes` a checkpoint's model was trained on."""
    served = {k: tuple(space[k].shape) for k in shapes if k in space.spaces}
    wrong = [
        f"{k}: trained on {tuple(v)}, the environment gives {served.get(k)}"
        for k, v in shapes.items()
        if served.get(k) != tuple(v)
    ]
    if wrong:
        raise ValueError(
            f"checkpoint {path} does not fit this environment's observations ({', '.join(wrong)}). Make the "
            "environment with the observation mode the training data was collected with (e.g. obs=proprio+pixels "
            "for a model trained with agent.inputs=state+pixels on a proprio+pixels collection)"
        )


def with_planning(
    cfg: GoalAgentConfig,
    *,
    planner: str | None = None,
    horizon: int | None = None,
    energy_steps: str | None = None,
    state_weight: float | None = None,
    glimpse_weight: float | None = None,
    moment_weight: float | None = None,
    first_order_weight: float | None = None,
    samples: int | None = None,
    iterations: int | None = None,
    noise_beta: float | None = None,
    action_cost: float | None = None,
    hold_energy: float | None = None,
    execute: int | None = None,
    drift_correction: bool | None = None,
    hold_pose: Sequence[float] | None = None,
    cem_result: str | None = None,
) -> GoalAgentConfig:
    """`cfg` with another planner, planning horizon, goal-energy steps, state-part, glimpse or moment weight, control
    cost, hold energy, the sampling planner's (CEM's or MPPI's) samples per iteration or iterations, CEM's
    noise colour or returned plan, the actions executed from each plan, the drift correction, or the pose hold
    (None keeps the saved one; a pose hold replaces a saved energy hold)."""
    if planner is not None:
        cfg = dataclasses.replace(cfg, planner=planner)
    if horizon is not None:
        cfg = dataclasses.replace(
            cfg,
            cem=dataclasses.replace(cfg.cem, horizon=horizon),
            mppi=dataclasses.replace(cfg.mppi, horizon=horizon),
            gradient=dataclasses.replace(cfg.gradient, horizon=horizon),
        )
    if energy_steps is not None:
        cfg = dataclasses.replace(cfg, steps=energy_steps)
    if state_weight is not None:
        cfg = dataclasses.replace(cfg, state_weight=state_weight)
    if glimpse_weight is not None:
        cfg = dataclasses.replace(cfg, glimpse_weight=glimpse_weight)
    if moment_weight is not None:
        cfg = dataclasses.replace(cfg, moment_weight=moment_weight)
    if first_order_weight is not None:
        cfg = dataclasses.replace(cfg, first_order_weight=first_order_weight)
    if action_cost is not None:
        cfg = dataclasses.replace(cfg, action_cost=action_cost)
    if hold_pose is not None:
        cfg = dataclasses.replace(cfg, hold_pose=tuple(hold_pose), hold_energy=hold_energy or 0.0)
    elif hold_energy is not None:
        cfg = dataclasses.replace(cfg, hold_energy=hold_energy)
    if execute is not None:
        cfg = dataclasses.replace(cfg, execute=execute)
    if drift_correction is not None:
        cfg = dataclasses.replace(cfg, drift_correction=drift_correction)
    if cem_result is not None:
        if cfg.planner not in ("cem", "hybrid"):
            raise ValueError(f"cem_result= picks CEM's returned plan (planner=cem or hybrid), not {cfg.planner}")
        cfg = dataclasses.replace(cfg, cem=dataclasses.replace(cfg.cem, result=cem_result))
    cfg = _with_sampler(cfg, samples, iterations, noise_beta)
    section = getattr(cfg, {"hybrid": "cem"}.get(cfg.planner, cfg.planner), None)  # None: build_planner says
    plan_length = section.horizon if section is not None else cfg.execute
    if not 1 <= cfg.execute <= plan_length:
        raise ValueError(
            f"execute={cfg.execute}: the actions executed from each plan must be between 1 and the plan's "
            f"{plan_length} (its horizon)"
        )
    return cfg


def _with_sampler(
    cfg: GoalAgentConfig, samples: int | None, iterations: int | None, noise_beta: float | None
) -> GoalAgentConfig:
    """`cfg` with its sampling planner's samples per iteration, iterations and (CEM's) noise colour
    replaced where given."""
    changes = {
        k: v for k, v in (("samples", samples), ("iterations", iterations), ("noise_beta", noise_beta)) if v is not None
    }
    if not changes:
        return cfg
    # The sampling planner in use: CEM (also inside `hybrid`) or MPPI; the gradient planner samples nothing.
    field_name = {"cem": "cem", "hybrid": "cem", "mppi": "mppi"}.get(cfg.planner)
    if noise_beta is not None:
        if field_name != "cem":
            raise ValueError(f"noise_beta= colours CEM's samples (planner=cem or hybrid), not planner={cfg.planner}")
        if noise_beta < 0:
            raise ValueError(f"noise_beta={noise_beta}: 0 is white noise, larger is smoother; must be >= 0")
    if field_name is None:
        raise ValueError(f"samples= and iterations= set a sampling planner's budget; planner={cfg.planner} has none")
    sampler = getattr(cfg, field_name)
    for name in ("samples", "iterations"):
        if name in changes and changes[name] < 1:
            raise ValueError(f"{name}={changes[name]}: the sampling planners need at least 1")
    if changes.get("samples", sampler.samples) < sampler.elites:
        raise ValueError(
            f"samples={changes['samples']} is fewer than the {cfg.planner} planner's {sampler.elites} elites; "
            f"use samples >= {sampler.elites}"
        )
    return dataclasses.replace(cfg, **{field_name: dataclasses.replace(sampler, **changes)})
