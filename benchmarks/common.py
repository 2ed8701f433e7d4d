"""Helpers for benchmark scripts: the machine description and repeated timings."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from eval.machine import machine

__all__ = ["machine", "timeit"]


def timeit(fn: Callable[[], object], repeats: int, warmup: int = 2) -> dict[str, float]:
    """min/median/max seconds of `fn()` over `repeats` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"min": min(times), "median": statistics.median(times), "max": max(times)}
