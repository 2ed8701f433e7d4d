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
from agent.planning import Planning
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
    ensemble: Sequence[str | os.PathLike] = (),
    planning: Planning | None = None,
    **settings,
):
    """Rebuild the agent saved in a checkpoint (reward-driven or goal-reaching) on `device`.

    A goal-reaching agent plans with its saved settings, less those that `planning` (or the same settings
    given as keywords, e.g. `horizon=20`: `agent.planning.Planning`'s fields) replace. With `env`, its
    observations must have the shapes the model was trained on (`check_env_shapes`).

    `ensemble` names further goal checkpoints whose models plan together with this one's
    (`agent.ensemble.ModelEnsemble`: the energy is the mean of the members' energies). The planning settings
    are this checkpoint's; the members' memory graphs live in their own latent spaces, so an ensemble plans
    straight at the goal.
    """
    unknown = sorted(set(settings) - set(Planning.names()))
    if unknown:
        raise TypeError(f"load_agent got unknown planning settings {unknown}; known: {', '.join(Planning.names())}")
    planning = dataclasses.replace(planning or Planning(), **settings)
    payload = load_checkpoint(path)
    generator = make_generator(device, seed)
    shapes, action_dim = payload["obs_shapes"], payload["action_dim"]
    if env is not None:
        check_env_shapes(path, shapes, env.observation_space)
    if payload["kind"] == "reward":
        if planning.given() or ensemble:
            raise ValueError(
                f"{'=, '.join(planning.given() + (['ensemble'] if ensemble else []))}= apply to goal-reaching "
                "checkpoints; the reward agent plans with its saved MPPI settings"
            )
        cfg = from_dict(RewardAgentConfig, payload["agent_config"])
        agent = build_reward_agent(
            cfg, shapes, action_dim, device=device, generator=generator, discount=payload["discount"]
        )
    elif payload["kind"] == "goal":
        cfg = planning.apply(from_dict(GoalAgentConfig, payload["agent_config"]))
        model = _goal_model(payload, device)
        graph = None
        if ensemble:
            model = _ensemble(model, payload, path, list(ensemble), env, action_dim, device, planning.waypoints)
        elif planning.waypoints is not False and "memory" in payload:
            memory = payload["memory"]
            graph = LandmarkGraph(**{**memory, "latents": memory["latents"].to(device)})
        agent = build_goal_agent(cfg, model, action_dim, generator=generator, waypoints=graph)
    else:
        raise ValueError(f"checkpoint {path} holds an unknown agent kind {payload['kind']!r}")
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
