"""Speed options of the training commands: bf16 autocast and torch.compile (both off by default).

bf16 autocast helps on GPUs with bf16 tensor cores and on CPUs with AMX/AVX-512 bf16; on an AVX2-only CPU
it is several times slower (benchmarks/results/wm_update.md), hence `precision=fp32` by default. Compiled
modules keep their parameters and state-dict keys (`nn.Module.compile`), so checkpoints are unchanged.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the context in which losses are computed: bf16 autocast on `device`, or nothing."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {PRECISIONS}")
    if precision == "fp32":
        return contextlib.nullcontext
    return functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)


def compile_modules(*modules: nn.Module | None, backend: str = "inductor") -> None:
    """Compile each module's forward in place with torch.compile (dynamic shapes: batch sizes vary).

    Compilation happens at the first call and takes tens of seconds on a CPU; it pays off in long runs.
    """
    for module in modules:
        if module is not None:
            module.compile(dynamic=True, backend=backend)
