"""A latent split between state and pixels (`state_latent`): each part normalised and fed on its own."""

from __future__ import annotations

import pytest
import torch

from world_model import Batch, WorldModel, preset

torch.set_num_threads(1)
A, K = 2, 4
SHAPES = {"state": (2,), "pixels": (3, 32, 32)}


def _obs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "state": torch.randn(n, 2, generator=g),
        "pixels": torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
    }


def test_each_part_is_normalised_and_reads_its_own_input():
    wm = WorldModel(SHAPES, A, preset("tiny", state_latent=K))
    obs = _obs(5)
    z = wm.encode(obs)
    for part in (z[:, :K], z[:, K:]):  # (LayerNorm's epsilon shows on a 4-number part of small spread)
        torch.testing.assert_close(part.mean(1), torch.zeros(5), atol=1e-5, rtol=0)
        torch.testing.assert_close(part.var(1, unbiased=False), torch.ones(5), atol=1e-2, rtol=0)
    other_state = wm.encode({**obs, "state": obs["state"] + 1.0})
    other_pixels = wm.encode({**obs, "pixels": _obs(5, seed=1)["pixels"]})
    torch.testing.assert_close(other_state[:, K:], z[:, K:])  # the pixels' part ignores the state
    torch.testing.assert_close(other_pixels[:, :K], z[:, :K])  # and the state's part the pixels
    assert not torch.allclose(other_state[:, :K], z[:, :K]) and not torch.allclose(other_pixels[:, K:], z[:, K:])
    # The predictor keeps the parts normalised on their own as well.
    z1 = wm.predict(z, torch.rand(5, A))
    torch.testing.assert_close(z1[:, :K].var(1, unbiased=False), torch.ones(5), atol=1e-2, rtol=0)


def test_inverse_dynamics_on_the_state_part_leaves_the_pixels_alone():
    torch.manual_seed(0)
    cfg = preset("tiny", state_latent=K, inverse_dims=K, inverse_dynamics=1.0, history=2)
    wm = WorldModel(SHAPES, A, cfg)
    obs = _obs(4 * 6)
    batch = Batch({k: v.view(4, 6, *v.shape[1:]) for k, v in obs.items()}, torch.rand(3, 6, A) * 2 - 1)
    loss, metrics = wm.loss(batch)
    assert torch.isfinite(loss) and "idm_loss" in metrics
    idm = wm.inverse(torch.cat([wm.encode(obs)[:2, :K], wm.encode(obs)[2:4, :K]], -1))
    torch.autograd.backward(idm.sum())
    assert all(p.grad is None or not p.grad.any() for p in wm.encoder.pixel_net.parameters())
    assert all(p.grad is not None and p.grad.any() for p in wm.encoder.state_net.parameters())


def test_split_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="state_latent=16 must be in"):
        preset("tiny", state_latent=16)
    with pytest.raises(ValueError, match="needs state and pixel observations"):
        WorldModel({"pixels": (3, 32, 32)}, A, preset("tiny", state_latent=K))
    with pytest.raises(ValueError, match="vector latent"):
        preset("tiny", state_latent=K, map_channels=4, latent_dim=64)
