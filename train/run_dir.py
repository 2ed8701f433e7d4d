"""Run folders: the saved config (checked on resume), and where each artefact goes.

<run_dir>/config.yaml            the full config of the run
<run_dir>/metrics.jsonl          every logged metric, one JSON line per record
<run_dir>/tb/                    TensorBoard events
<run_dir>/curve.csv              evaluations in TD-MPC2's format (step,reward,seed / step,success,seed)
<run_dir>/checkpoints/latest.pt  the last checkpoint (written atomically)
<run_dir>/replay/                every collected episode (train.dataset format; replay/rank<r>/ per
                                 rank in a torchrun run)
<run_dir>/videos/eval_<step>.mp4 the first evaluation episode of each evaluation
"""

from __future__ import annotations

import dataclasses
import pathlib

import torch
import yaml

from train.config import RESUMABLE_CHANGES


class RunDir:
    def __init__(self, root: str | pathlib.Path):
        self.root = pathlib.Path(root)
        self.config = self.root / "config.yaml"
        self.metrics = self.root / "metrics.jsonl"
        self.curve = self.root / "curve.csv"
        self.checkpoint = self.root / "checkpoints" / "latest.pt"
        self.replay = self.root / "replay"
        self.videos = self.root / "videos"

    def prepare(self, cfg, *, resume: bool) -> None:
        """Save the config of a new run, or check it against the saved one when resuming.

        Raises:
            FileExistsError: a new run would overwrite an existing one.
            ValueError: a resumed run's settings differ from the saved ones (names the keys).
        """
        data = dataclasses.asdict(cfg)
        if resume:
            if not self.checkpoint.exists():
                raise FileNotFoundError(f"cannot resume: no checkpoint at {self.checkpoint}")
            saved = yaml.safe_load(self.config.read_text())
            diff = config_differences(saved, data, dataclasses.asdict(type(cfg)()))
            if diff:
                raise ValueError(f"cannot resume {self.root}: settings differ from the saved run in {diff}")
            return
        if self.checkpoint.exists() or self.metrics.exists():
            raise FileExistsError(f"{self.root} already holds a run; pass resume=true or choose another run_dir")
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))


def config_differences(saved: dict, now: dict, defaults: dict | None, prefix: str = "") -> list[str]:
    """The dotted keys (e.g. `agent.lr`) whose values differ between a saved run's config and this one's,
    except `RESUMABLE_CHANGES`. A key the saved config lacks is a setting added to the code since the run
    started: it matches when this run leaves it at its default (`defaults`), which is how the run ran."""
    defaults, keys = defaults if isinstance(defaults, dict) else {}, []
    for key in sorted(set(saved) | set(now)):
        name = prefix + key
        if name in RESUMABLE_CHANGES:
            continue
        default = defaults.get(key)
        if key not in saved and key in defaults and now.get(key) == default:
            continue
        if isinstance(saved.get(key), dict) and isinstance(now.get(key), dict):
            keys += config_differences(saved[key], now[key], default, name + ".")
        elif saved.get(key) != now.get(key):
            keys.append(name)
    return keys


def resolve_device(name: str) -> torch.device:
    """`auto` -> CUDA when available, else CPU; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name} but CUDA is not available here; use device=auto or device=cpu")
    return device


def obs_shapes(space) -> dict[str, tuple[int, ...]]:
    """The model's input shapes from an env's dict observation space (the goal entry is not an input)."""
    return {k: tuple(space[k].shape) for k in ("state", "pixels") if k in space.spaces}
