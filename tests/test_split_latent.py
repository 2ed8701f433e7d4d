"""A latent split between state and pixels (`state_latent`): each part normalised and fed on its own."""

from __future__ import annotations

import pytest
import torch

from world_model import Batch, WorldModel, preset
from world_model.regularisers import vicreg

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
    with pytest.raises(ValueError, match="needs map_predictor=mlp"):
        preset("tiny", state_latent=K, map_channels=4, latent_dim=K + 64)
    with pytest.raises(ValueError, match="latent_dim = state_latent"):
        preset("tiny", state_latent=K, map_channels=4, latent_dim=64, map_predictor="mlp")
    with pytest.raises(ValueError, match="needs state and pixel observations"):
        WorldModel({"pixels": (3, 32, 32)}, A, _map_cfg())


def _map_cfg(**overrides):
    # tiny preset at 32x32: a 4x4 map of 4 channels beside the K state dimensions
    return preset("tiny", state_latent=K, map_channels=4, latent_dim=K + 64, map_predictor="mlp", **overrides)


def test_state_beside_a_map_latent():
    torch.manual_seed(0)  # (a location of tiny spread at initialisation would show LayerNorm's epsilon)
    wm = WorldModel(SHAPES, A, _map_cfg())
    obs = _obs(5)
    z = wm.encode(obs)
    assert z.shape == (5, K + 64)
    state, locations = z[:, :K], z[:, K:].view(5, 16, 4)  # location-major map: (B, L, C)
    torch.testing.assert_close(state.var(1, unbiased=False), torch.ones(5), atol=1e-2, rtol=0)
    torch.testing.assert_close(locations.mean(2), torch.zeros(5, 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(locations.var(2, unbiased=False), torch.ones(5, 16), atol=1e-2, rtol=0)
    other_state = wm.encode({**obs, "state": obs["state"] + 1.0})
    torch.testing.assert_close(other_state[:, K:], z[:, K:])  # the map ignores the state
    assert not torch.allclose(other_state[:, :K], z[:, :K])
    z1 = wm.predict(z, torch.rand(5, A))  # the predictor keeps both normalisations
    torch.testing.assert_close(z1[:, K:].view(5, 16, 4).var(2, unbiased=False), torch.ones(5, 16), atol=1e-2, rtol=0)


def test_map_and_state_parts_each_get_their_anti_collapse_term():
    torch.manual_seed(0)
    cfg = _map_cfg(history=2, anti_collapse="vicreg", inverse_dims=K, inverse_dynamics=1.0)
    wm = WorldModel(SHAPES, A, cfg)
    obs = _obs(4 * 6)
    batch = Batch({k: v.view(4, 6, *v.shape[1:]) for k, v in obs.items()}, torch.rand(3, 6, A) * 2 - 1)
    loss, metrics = wm.loss(batch)
    assert torch.isfinite(loss) and {"anti_collapse", "state_anti_collapse", "state_vicreg_var"} <= set(metrics)
    loss.backward()
    assert all(p.grad is not None for p in wm.encoder.parameters())
    # The state part's frames are samples of K numbers; the map's locations samples of C = 4 numbers.
    z = torch.randn(24, K + 64)
    metrics = {}
    term = wm._anti_collapse(z, None, lambda x: x, metrics)
    kw = dict(std_target=cfg.vicreg_std_target, cov_weight=cfg.vicreg_cov_weight)
    state, locations = vicreg(z[:, :K], **kw)[0], vicreg(z[:, K:].reshape(-1, 4), **kw)[0]
    torch.testing.assert_close(term, cfg.anti_collapse_weight * (state + locations))
    assert metrics["state_anti_collapse"] == pytest.approx(state.item())


# A state split in two (`state_split`): push-t's pusher entries (position, speed) against the block's.
PUSHER = [0, 1, 9, 10]


def _state_split_model(**overrides):
    return WorldModel({"state": (11,)}, A, preset("tiny", state_latent=K, state_split=PUSHER, **overrides))


def test_a_state_split_gives_each_group_of_entries_its_own_normalised_part():
    wm = _state_split_model()
    state = torch.randn(5, 11, generator=torch.Generator().manual_seed(0))
    z = wm.encode({"state": state})
    assert z.shape == (5, 16)
    for part in (z[:, :K], z[:, K:]):
        torch.testing.assert_close(part.mean(1), torch.zeros(5), atol=1e-5, rtol=0)
    moved_pusher, moved_block = state.clone(), state.clone()
    moved_pusher[:, PUSHER] += 1.0
    moved_block[:, [2, 3, 4, 5, 6, 7, 8]] += 1.0
    pusher_z, block_z = wm.encode({"state": moved_pusher}), wm.encode({"state": moved_block})
    torch.testing.assert_close(pusher_z[:, K:], z[:, K:])  # the rest ignores the named entries
    torch.testing.assert_close(block_z[:, :K], z[:, :K])  # and the leading part the others
    assert not torch.allclose(pusher_z[:, :K], z[:, :K]) and not torch.allclose(block_z[:, K:], z[:, K:])


def test_a_state_split_model_trains_and_its_config_survives_a_saved_list():
    torch.manual_seed(0)
    wm = _state_split_model(inverse_dims=K, inverse_dynamics=1.0)
    batch = Batch({"state": torch.randn(3, 4, 11)}, torch.rand(2, 4, A) * 2 - 1)
    loss, metrics = wm.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and "idm_loss" in metrics
    assert all(p.grad is not None for p in wm.encoder.rest_net.parameters())
    # Hydra and checkpoints hand the indices back as a list; the config keeps a tuple (hashable, typed).
    assert preset("tiny", state_latent=K, state_split=list(PUSHER)).state_split == tuple(PUSHER)


def test_state_split_errors_name_the_fix():
    with pytest.raises(ValueError, match="it needs state_latent > 0"):
        preset("tiny", state_split=[0, 1])
    with pytest.raises(ValueError, match="names distinct state entries"):
        preset("tiny", state_latent=K, state_split=[0, 0])
    with pytest.raises(ValueError, match="needs state observations only"):
        WorldModel(SHAPES, A, preset("tiny", state_latent=K, state_split=[0]))
    with pytest.raises(ValueError, match=r"must name some, not all, of the 11 state entries \(indices 0-10\)"):
        WorldModel({"state": (11,)}, A, preset("tiny", state_latent=K, state_split=[0, 11]))
