"""(Re)build the memory graph of a goal-reaching checkpoint from its dataset, without training.

    python -m train.memory checkpoint=runs/goal/reacher/checkpoints/latest.pt dataset=data/goal/reacher

Offline training writes the memory into every checkpoint; this command changes its settings on a
trained model (more episodes, another join quantile) or gives one to a checkpoint written before the
memory existed. The checkpoint is rewritten atomically with the settings used recorded in its config.
"""

from __future__ import annotations

import dataclasses
import pathlib

import torch

from agent.checkpoint import load_checkpoint, save_checkpoint
from agent.config import GoalAgentConfig, from_dict
from agent.factory import model_config
from train.config import MemoryConfig
from train.dataset import EpisodeStore
from train.offline import build_memory, input_shapes, memory_indices
from train.run_dir import resolve_device
from world_model import WorldModel

SETTINGS = ("memory_episodes", "landmark_steps", "landmark_quantile", "join_quantile")


def rebuild_memory(cfg: MemoryConfig) -> dict:
    """Rewrite `cfg.checkpoint` with a memory built from `cfg.dataset`; return the memory's summary."""
    payload = load_checkpoint(cfg.checkpoint)
    if payload.get("kind") != "goal":
        raise ValueError(f"{cfg.checkpoint} holds a {payload.get('kind')!r} agent; the memory is for goal agents")
    agent_cfg = from_dict(GoalAgentConfig, payload["agent_config"])
    changes = {k: getattr(cfg, k) for k in SETTINGS if getattr(cfg, k) is not None}
    agent_cfg = dataclasses.replace(agent_cfg, **changes)
    if agent_cfg.memory_episodes < 1:
        raise ValueError("memory_episodes must be at least 1 to build a memory")
    store = EpisodeStore(cfg.dataset)
    inputs = tuple(agent_cfg.inputs.split("+"))
    if not store.indices():
        raise ValueError(f"{cfg.dataset} holds no episodes; collect them with `python -m train.collect`")
    shapes = input_shapes(store, inputs)  # raises, naming them, when the dataset lacks these inputs
    missing = [k for k in inputs if shapes[k] != tuple(payload["obs_shapes"][k])]
    if missing:
        raise ValueError(f"{cfg.dataset}'s {missing} do not match the shapes the checkpoint was trained on")
    device = resolve_device(cfg.device)
    model = WorldModel(payload["obs_shapes"], payload["action_dim"], model_config(agent_cfg.model)).to(device)
    model.load_state_dict(payload["agent"]["model"])
    model.eval()
    indices = memory_indices(store, cfg.val_fraction, agent_cfg.memory_episodes, cfg.seed)
    memory = build_memory(model, agent_cfg, store, indices, inputs, device)
    payload["memory"] = memory
    payload.pop("landmarks", None)  # the landmark set of older checkpoints, replaced by the memory
    payload["agent_config"] = dataclasses.asdict(agent_cfg)
    save_checkpoint(cfg.checkpoint, payload)
    return {
        "episodes": len(indices),
        "entries": len(memory["latents"]),
        "radius": memory["radius"],
        "join": memory["join"],
        "step": memory["step"],
    }


def main() -> None:
    from eval.app import run_app

    def body(cfg: MemoryConfig) -> None:
        torch.set_grad_enabled(False)
        out = rebuild_memory(cfg)
        print(
            f"memory of {out['entries']} observations from {out['episodes']} episodes written to {cfg.checkpoint} "
            f"(reach {out['radius']:.3g}, join {out['join']:.3g}, step {out['step']:.3g})"
        )

    run_app("memory", MemoryConfig, body, pathlib.Path(__file__).with_name("conf"))


if __name__ == "__main__":
    main()
