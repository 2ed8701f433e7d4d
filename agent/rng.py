"""Saved randomness that may come from another device type."""

from __future__ import annotations

import torch


def restore_generator(generator: torch.Generator, state: torch.Tensor) -> bool:
    """Set `generator` to a saved `state` when the state is of the generator's own device type.

    Why: a CPU generator's state (the Mersenne Twister's, 5056 bytes) and a CUDA one's (seed and offset,
    16 bytes) do not convert, and `set_state` refuses the other kind. A checkpoint trained on a GPU and
    loaded on a CPU (or the reverse) then keeps the generator as it was seeded; evaluations reseed it per
    episode anyway. Returns whether the state was restored.
    """
    if state.numel() != generator.get_state().numel():
        return False
    generator.set_state(state)
    return True
