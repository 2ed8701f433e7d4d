"""Generator states restored across device types (checkpoints trained on a GPU, evaluated on a CPU)."""

from __future__ import annotations

import pytest
import torch

from agent.rng import restore_generator


def test_a_generator_state_of_the_same_device_type_is_restored():
    generator = torch.Generator().manual_seed(3)
    saved = generator.get_state()
    first = torch.rand(4, generator=generator)
    assert restore_generator(generator, saved)
    torch.testing.assert_close(torch.rand(4, generator=generator), first)


def test_a_state_of_another_device_type_leaves_the_generator_as_seeded():
    generator = torch.Generator().manual_seed(3)
    expected = torch.rand(4, generator=torch.Generator().manual_seed(3))
    cuda_like = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state: seed and offset
    assert not restore_generator(generator, cuda_like)
    torch.testing.assert_close(torch.rand(4, generator=generator), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_and_cuda_generator_states_are_refused_by_the_other_kind():
    cpu, cuda = torch.Generator().manual_seed(1), torch.Generator(device="cuda").manual_seed(1)
    assert not restore_generator(cuda, cpu.get_state())
    assert not restore_generator(cpu, cuda.get_state())
    assert restore_generator(cuda, torch.Generator(device="cuda").manual_seed(2).get_state())
