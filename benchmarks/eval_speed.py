"""Benchmark: evaluating 10 random-agent episodes of dmc/walker-walk, without and with a 256x256 video.

    python -m benchmarks.eval_speed

Wall time with 1 and 2 worker processes, state observations; "video" records every episode at
256x256 (the `video` render quality) and encodes H.264. The recording cost is the difference between
the two, compared with the time of the simulation alone.
"""

from __future__ import annotations

import tempfile
import time

from benchmarks.common import machine
from eval.evaluate import EvalConfig, evaluate


def wall(workers: int, video: int, render_quality_fast: bool = False) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = EvalConfig(
            task="dmc/walker-walk",
            episodes=10,
            seeds=[0],
            workers=workers,
            video=video,
            render_size=256,
            out=out,
            progress=False,
        )
        start = time.perf_counter()
        evaluate(cfg)
        return time.perf_counter() - start


def main() -> None:
    print(f"machine: {machine()}")
    print("| workers | no video (s) | 10 videos 256x256 (s) | recording cost (s) | recording / simulation |")
    print("|---|---|---|---|---|")
    for workers in (1, 2):
        plain = wall(workers, 0)
        recorded = wall(workers, 10)
        cost = recorded - plain
        print(f"| {workers} | {plain:.1f} | {recorded:.1f} | {cost:.1f} | {cost / plain:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
