"""What distributed training needs from the model side: batch statistics averaged over ranks, with gradient.

`BatchSync(world_size)` is the `sync` the anti-collapse terms take (world_model.regularisers): it
averages a tensor over every process of the default process group with a differentiable all-reduce,
so that N ranks holding B/N samples each optimise exactly the objective of one process holding B.
`Forward` lets DistributedDataParallel wrap a loss that is not a module's `forward`.
Process-group set-up lives with the training commands (train/distributed.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import nn


class BatchSync:
    """Averages tensors over the ranks of the default process group (identity when `world_size == 1`).

    `__call__` is differentiable: its backward sums the ranks' gradients, which, once DDP averages the
    parameter gradients, gives the gradient of the global-batch objective. `shared` returns rank 0's
    tensor on every rank (for random draws that must agree, such as SIGReg's directions).
    """

    def __init__(self, world_size: int = 1):
        self.world_size = world_size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return x
        return _AllReduceSum.apply(x) / self.world_size

    def shared(self, x: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return x
        x = x.contiguous()
        dist.broadcast(x, src=0)
        return x


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; the gradient of every rank's input is the sum of the ranks' output gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.detach().clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


class Forward(nn.Module):
    """Presents `fn`, a computation on `module`'s parameters, as a module's forward, so DDP can wrap it.

    DDP all-reduces the gradients of the parameters its wrapped module owns when a backward follows
    its forward; a loss method (`WorldModel.loss`) is not a forward, so it is passed in here as `fn`.
    """

    def __init__(self, module: nn.Module, fn: Callable):
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, *args, **kwargs):
        return self.fn(*args, **kwargs)
