"""Choosing when to freeze the encoder by how well its goal energy tells scenes at a goal from scenes near it.

The goal energy a planner and its hold read (`agent.factory.observation_energy`) depends on the encoder alone. How
well it ranks scenes within a task's success tolerance of a goal below scenes just outside (its AUC) moves
by as much within one training as between trainings, and across push-t trainings it ranks them as their
planning success does (benchmarks/results/goal/README.md, thirty-ninth session). `train.offline` with
`select_scenes=F` and `freeze_encoder_s` scores the encoder on the labelled scenes of `F` every
`select_every_s` seconds before the freeze, keeps the model and optimiser at the best score, and freezes that
encoder: checkpoint selection on a held-out set, never a training signal. The scenes come from goals that no
evaluation uses (`benchmarks.push_t_hold --scenes-out F`).
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agent.checkpoint import atomic_write
from agent.config import GoalAgentConfig
from agent.factory import observation_energy
from agent.objectives import GoalEnergy

# Observations per encoder call when a scene set is scored.
SCORE_CHUNK = 512


@dataclass(frozen=True)
class GoalScenes:
    """Labelled scenes near goals.

    Attributes:
        scenes: observation key -> `(N, ...)` observations of the scenes (as the env gives them).
        goals: observation key -> `(G, ...)` observations of the goals.
        goal_index: `(N,)` which goal each scene is scored against.
        within: `(N,)` whether each scene is within the task's success tolerance of its goal.
    """

    scenes: dict[str, np.ndarray]
    goals: dict[str, np.ndarray]
    goal_index: np.ndarray
    within: np.ndarray

    def __post_init__(self):
        n, g = len(self.goal_index), len(next(iter(self.goals.values()), ()))
        if set(self.scenes) != set(self.goals) or not self.scenes:
            raise ValueError(f"scenes have {sorted(self.scenes)} observations and goals {sorted(self.goals)}")
        if any(len(v) != n for v in self.scenes.values()) or len(self.within) != n:
            raise ValueError(f"{n} goal indices, and scenes or labels of another length")
        if n and not (self.goal_index.min() >= 0 and self.goal_index.max() < g):
            raise ValueError(f"goal indices outside the {g} goals")

    def save(self, path: str | pathlib.Path) -> None:
        """Write to an `.npz` atomically (`agent.checkpoint.atomic_write`)."""
        arrays = {f"scene/{k}": v for k, v in self.scenes.items()}
        arrays |= {f"goal/{k}": v for k, v in self.goals.items()}
        atomic_write(path, lambda f: np.savez(f, goal_index=self.goal_index, within=self.within, **arrays))

    @classmethod
    def load(cls, path: str | pathlib.Path) -> GoalScenes:
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no goal scenes at {path}: write them with `python -m benchmarks.push_t_hold --task <task> "
                f"--scenes-out {path}`"
            )
        with np.load(path) as data:
            part = {name: data[name] for name in data.files}
        return cls(
            scenes={k.split("/", 1)[1]: v for k, v in part.items() if k.startswith("scene/")},
            goals={k.split("/", 1)[1]: v for k, v in part.items() if k.startswith("goal/")},
            goal_index=part["goal_index"],
            within=part["within"].astype(bool),
        )


def auc(energy: np.ndarray, positive: np.ndarray) -> float:
    """The chance that a positive scores a lower energy than a negative (ties count half)."""
    pos, neg = energy[positive], energy[~positive]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs scenes both within and outside tolerance")
    lower = (pos[:, None] < neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(lower / (len(pos) * len(neg)))


@torch.no_grad()
def scene_energies(
    encode: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scenes: GoalScenes,
    keys: tuple[str, ...],
    device,
) -> np.ndarray:
    """`(N,)` goal energy of each scene against its goal: `distance(z (n, D), goal (n, D)) -> (n,)` on the
    latents `encode({key: (n, ...)}) -> (n, D)` gives (e.g. `WorldModel.encode` and `GoalEnergy.distance`); a
    `distance` that keeps more per scene (e.g. per-dimension terms `(n, D)`) gives `(N, D)`."""
    missing = [k for k in keys if k not in scenes.scenes]
    if missing:
        raise ValueError(f"the goal scenes have no {missing} observations (they have {sorted(scenes.scenes)})")

    def latents(obs: dict[str, np.ndarray]) -> torch.Tensor:
        rows = len(obs[keys[0]])
        parts = [
            encode({k: torch.as_tensor(obs[k][i : i + SCORE_CHUNK]).to(device) for k in keys})
            for i in range(0, rows, SCORE_CHUNK)
        ]
        return torch.cat(parts)

    goals = latents(scenes.goals)[torch.as_tensor(scenes.goal_index, device=device)]
    return distance(latents(scenes.scenes), goals).cpu().numpy()


def selection_energy(cfg: GoalAgentConfig, model) -> GoalEnergy:
    """The goal energy an encoder is scored by: the agent's observation energy (`observation_energy`) on the
    learned dimensions alone. A glimpse's moments (`moment_gain`) are fixed features that training cannot
    change; with their weight, an untrained encoder, whose learned part is near zero, scores as the moments
    do (AUC 0.96 on push-t's scenes) and would be the one kept."""
    if model.cfg.moment_gain:
        cfg = dataclasses.replace(cfg, moment_weight=0.0)
    return observation_energy(cfg, model)


class EncoderSelection:
    """Scores the encoder on goal scenes on a schedule and keeps the best-scoring model and optimiser state.

    Args:
        score: `() -> float`, the current model's AUC on the scenes (higher is better).
        every_s: seconds of training between scores.
    """

    def __init__(self, score: Callable[[], float], every_s: float):
        if every_s <= 0:
            raise ValueError(f"select_every_s={every_s}: give seconds > 0")
        self.score, self.every_s = score, every_s
        self.next_s = 0.0
        self.best_auc, self.best_wall_s, self.best_state = float("-inf"), None, None

    def due(self, wall_s: float) -> bool:
        return wall_s >= self.next_s

    def check(self, wall_s: float, model: torch.nn.Module, optim: torch.optim.Optimizer) -> dict[str, float]:
        """Score now; keep a copy of `model` and `optim` when this is the best so far. Returns the metrics."""
        value = self.score()
        self.next_s = wall_s + self.every_s
        if value > self.best_auc:
            self.best_auc, self.best_wall_s = value, wall_s
            self.best_state = copy.deepcopy((model.state_dict(), optim.state_dict()))
        return {"select/auc": value, "select/best_auc": self.best_auc, "select/best_wall_s": self.best_wall_s}

    def restore_best(self, model: torch.nn.Module, optim: torch.optim.Optimizer) -> None:
        """Put the best-scoring state back (nothing scored: left as is)."""
        if self.best_state is None:
            return
        model_state, optim_state = self.best_state
        model.load_state_dict(model_state)
        optim.load_state_dict(optim_state)
