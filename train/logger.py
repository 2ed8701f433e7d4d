"""Logging: `metrics.jsonl` always, TensorBoard events, and a console progress bar."""

from __future__ import annotations

import json
import pathlib
import time

from tqdm import tqdm


class Logger:
    """Writes `{"step": ..., "split/name": value}` lines and TensorBoard scalars; drives the progress bar.

    Args:
        run_dir: the run folder (`metrics.jsonl` and `tb/` go there).
        total_steps: for the progress bar and its ETA.
        initial_step: where a resumed run starts.
        progress: show the console bar.
        tensorboard: write TensorBoard events.
    """

    def __init__(
        self,
        run_dir: pathlib.Path,
        total_steps: int,
        *,
        initial_step: int = 0,
        progress: bool = True,
        tensorboard: bool = True,
    ):
        self.path = run_dir / "metrics.jsonl"
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"))
        self.bar = tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True, disable=not progress)
        self._last = initial_step
        self._start = time.perf_counter()
        self._start_step = initial_step

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Record `metrics` (keys `split/name`) at env step `step`."""
        elapsed = time.perf_counter() - self._start
        metrics = {
            **metrics,
            "time/steps_per_s": (step - self._start_step) / max(elapsed, 1e-9),
            "time/elapsed_s": elapsed,
        }
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self.tb is not None:
            for key, value in metrics.items():
                self.tb.add_scalar(key, value, step)
        self.bar.update(step - self._last)
        self._last = step
        shown = {k.split("/")[-1]: f"{v:.3g}" for k, v in metrics.items() if k in _SHOWN}
        self.bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()


_SHOWN = ("train/episode_return", "eval/return", "eval/success", "time/steps_per_s")
