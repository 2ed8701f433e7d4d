"""Multi-process training on torch.distributed, set up from torchrun's environment.

    torchrun --nproc_per_node=2 -m train.offline dataset=data/goal/reacher     # offline, episodes sharded
    torchrun --nproc_per_node=2 -m train task=dmc/walker-walk                   # online, one collector per rank
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --nproc_per_node=8 -m train ...   # multi-node

Without torchrun's variables (WORLD_SIZE unset or 1) nothing here does anything and the single-process
path runs unchanged. With them: gloo on CPUs, NCCL on GPUs (one GPU per process, `cuda:<LOCAL_RANK>`),
gradients all-reduced by DistributedDataParallel, the anti-collapse terms' batch statistics all-reduced
(`world_model.distributed.BatchSync`), `batch_size` is the global batch (each rank samples its share),
and rank 0 alone writes checkpoints, logs, curves and videos.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from train.logger import Logger
from train.run_dir import RunDir, resolve_device
from world_model.distributed import BatchSync


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: `rank` of `world_size`, `local_rank` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def sync(self) -> BatchSync:
        return BatchSync(self.world_size)

    def local_batch(self, batch_size: int) -> int:
        """This rank's share of a global batch (which must split evenly)."""
        if batch_size % self.world_size:
            raise ValueError(
                f"batch_size={batch_size} does not split over {self.world_size} processes; "
                f"use a multiple of {self.world_size}"
            )
        return batch_size // self.world_size

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` in DistributedDataParallel (itself in one process)."""
        if not self.enabled:
            return module
        return nn.parallel.DistributedDataParallel(module)

    def sum(self, value: float) -> float:
        """`value` summed over ranks (a float on every rank)."""
        if not self.enabled:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t, group=_cpu_group())
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one."""
        return self.sum(1.0 if flag else 0.0) > 0

    def gather(self, obj) -> list:
        """Every rank's `obj` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj, group=_cpu_group())
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier(group=_cpu_group())

    def rng_key(self, *key: int) -> list[int]:
        """A numpy seed sequence key for this rank's own stream (the single-process key in one process)."""
        return [*key, self.rank] if self.enabled else list(key)

    def check_resume(self, saved_world_size: int) -> None:
        if saved_world_size != self.world_size:
            raise ValueError(
                f"the checkpoint was written by {saved_world_size} process(es) and this run has "
                f"{self.world_size}: resume with --nproc_per_node={saved_world_size} (each rank's random "
                "state and data shard are saved per rank)"
            )


ONE_PROCESS = Dist()
_CPU_GROUP = None


def _cpu_group():
    """A gloo group for the loop's small CPU-side agreements (NCCL only moves CUDA tensors)."""
    global _CPU_GROUP
    if _CPU_GROUP is None:
        _CPU_GROUP = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
    return _CPU_GROUP


def is_main_process() -> bool:
    """Rank 0 of a torchrun run, or a single process (for what only one process should print)."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(device_name: str) -> tuple[Dist, torch.device]:
    """Join the process group that torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Returns this process's `Dist` and device: `device_name` resolved as usual, except that on CUDA each
    process takes the GPU of its local rank.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        return Dist(), device
    info = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"local rank {info.local_rank} asks for GPU cuda:{info.local_rank}, but this machine has "
                f"{torch.cuda.device_count()}: run at most one process per GPU (torchrun --nproc_per_node), "
                "or train on the CPU with device=cpu"
            )
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    _cpu_group()  # created now, by every rank at once (creating a group is collective)
    return info, device


class NullLogger:
    """What ranks other than 0 log to: nothing."""

    def log(self, step: int, metrics: dict) -> None:
        pass

    def close(self) -> None:
        pass


def rank_logger(info: Dist, root, total: int, *, initial_step: int, progress: bool):
    """Rank 0's `Logger` (metrics.jsonl, TensorBoard, progress bar); a `NullLogger` on other ranks."""
    if not info.is_main:
        return NullLogger()
    return Logger(root, total, initial_step=initial_step, progress=progress)


def prepare_run(info: Dist, run: RunDir, cfg, *, resume: bool) -> None:
    """Rank 0 saves (or checks) the run's config; the other ranks wait for it."""
    if info.is_main:
        run.prepare(cfg, resume=resume)
    info.barrier()


def teardown(info: Dist) -> None:
    global _CPU_GROUP
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
        _CPU_GROUP = None
