"""A one-line description of the machine, recorded beside every result we publish."""

from __future__ import annotations

import os
import platform


def machine() -> str:
    """The CPU model, core count, GPU if any, and the Python and torch versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{gpu}, python {platform.python_version()}, torch {torch.__version__}"
