"""`python -m train task=dmc/walker-walk`: train the reward-driven agent online (hydra overrides).

After training it plots the learning curve and prints where the curve, the video of the last
evaluation, the checkpoint and the metrics are.
"""

from __future__ import annotations

import pathlib

from eval.app import run_app
from eval.curves import plot, read_curves
from train.config import TrainConfig
from train.distributed import is_main_process
from train.online import train
from train.run_dir import RunDir


def _body(cfg: TrainConfig) -> None:
    result = train(cfg)
    if not is_main_process():
        return
    run = RunDir(cfg.run_dir)
    curve, metric = read_curves([run.curve])
    png = plot(curve, cfg.task, run.root / "curve.png", metric=metric)
    videos = sorted(run.videos.glob("eval_*.mp4"), key=lambda p: int(p.stem.split("_")[1]))
    print(
        f"trained {cfg.task} for {result['step']} steps in {result['wall_s'] / 60:.1f} min; "
        f"last evaluation: return {result.get('eval/return', float('nan')):.1f}"
    )
    print(f"learning curve: {run.curve} and {png}")
    print(f"video of the last evaluation: {videos[-1] if videos else 'none (video=false)'}")
    print(f"checkpoint: {run.checkpoint}; metrics: {run.metrics}")


def main() -> None:
    run_app("train", TrainConfig, _body, pathlib.Path(__file__).with_name("conf"))


if __name__ == "__main__":
    main()
