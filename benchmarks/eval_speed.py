"""Benchmark: evaluating 10 random-agent episodes of dmc/walker-walk, without and with 256x256 video.

    python -m benchmarks.eval_speed

Wall time with 1 and 2 worker processes, state observations, for: no video; the first episode
recorded (at the default `video` render quality, and at the `fast` quality used for observations);
every episode recorded. Recording cost = wall time with video - wall time without, set against the
wall time without video (the simulation and the episode loop).
"""

from __future__ import annotations

import tempfile
import time

from benchmarks.common import machine
from envs.rendering import configure_gl
from eval.evaluate import EvalConfig, evaluate


def wall(workers: int, video: int, quality: str = "video") -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = EvalConfig(
            task="dmc/walker-walk",
            episodes=10,
            seeds=[0],
            workers=workers,
            video=video,
            render_size=256,
            render_quality=quality,
            out=out,
            progress=False,
        )
        start = time.perf_counter()
        evaluate(cfg)
        return time.perf_counter() - start


def main() -> None:
    configure_gl()
    print(f"machine: {machine()}")
    print(
        "| workers | recorded | wall, no video (s) | wall with video (s) | recording cost (s) | cost / no-video wall |"
    )
    print("|---|---|---|---|---|---|")
    for workers in (1, 2):
        plain = wall(workers, 0)
        for label, video, quality in (
            ("1 episode, video quality", 1, "video"),
            ("1 episode, fast quality", 1, "fast"),
            ("10 episodes, video quality", 10, "video"),
        ):
            recorded = wall(workers, video, quality)
            cost = recorded - plain
            print(
                f"| {workers} | {label} | {plain:.1f} | {recorded:.1f} | {cost:.1f} | {cost / plain:.2f} |", flush=True
            )


if __name__ == "__main__":
    main()
