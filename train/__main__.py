"""`python -m train task=dmc/walker-walk`: train the reward-driven agent online (hydra overrides)."""

from __future__ import annotations

import pathlib

from eval.app import run_app
from train.config import TrainConfig
from train.online import train


def _body(cfg: TrainConfig) -> None:
    result = train(cfg)
    print(
        f"trained {cfg.task} for {result['step']} steps in {result['wall_s'] / 60:.1f} min; "
        f"last eval return {result.get('eval/return', float('nan')):.1f}"
    )
    print(f"run folder: {cfg.run_dir} (curve.csv, videos/, checkpoints/latest.pt, metrics.jsonl)")


def main() -> None:
    run_app("train", TrainConfig, _body, pathlib.Path(__file__).with_name("conf"))


if __name__ == "__main__":
    main()
