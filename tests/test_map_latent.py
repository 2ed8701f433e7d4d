"""Feature-map latents (`map_channels`): shapes, per-location normalisation, locality, loss, errors."""

from __future__ import annotations

import pytest
import torch

from world_model import Batch, WorldModel, preset
from world_model.config import map_side

torch.set_num_threads(1)
A = 2
PIXELS = {"pixels": (3, 32, 32)}  # tiny preset: 4x4 stem then one stride-2 layer -> a 4x4 map


def _cfg(**overrides):
    base = dict(map_channels=4, latent_dim=4 * 16, map_hidden=8)
    return preset("tiny", **{**base, **overrides})


def _pixels(*lead, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (*lead, 3, 32, 32), generator=g, dtype=torch.uint8)


def test_map_latent_is_normalised_per_location():
    cfg = _cfg()
    wm = WorldModel(PIXELS, A, cfg)
    z = wm.encode({"pixels": _pixels(5)})
    assert z.shape == (5, 64) and map_side(cfg) == 4
    per_location = z.view(5, 16, 4)  # location-major: (B, L, C)
    torch.testing.assert_close(per_location.mean(2), torch.zeros(5, 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_location.var(2, unbiased=False), torch.ones(5, 16), atol=1e-3, rtol=0)


def test_conv_predictor_is_local():
    # Two 3x3 layers (tiny preset: mlp_layers=1 -> one; use 2) and a 1x1 output: a change at one corner
    # of the map reaches at most two locations away.
    wm = WorldModel(PIXELS, A, _cfg(mlp_layers=2, latent_norm="none"))
    z = torch.randn(3, 64)
    a = torch.rand(3, A)
    moved = z.clone().view(3, 4, 4, 4)  # (B, row, column, C)
    moved[:, 0, 0] += 1.0
    delta = (wm.predict(moved.view(3, 64), a) - wm.predict(z, a)).view(3, 4, 4, 4).abs().sum((0, 3))
    assert delta[0, 0] > 0 and delta[2, 2] > 0
    assert delta[3, :].sum() == 0 and delta[:, 3].sum() == 0


@pytest.mark.parametrize("kind", ["conv", "mlp"])
def test_map_model_trains_and_plans_with_history(kind):
    torch.manual_seed(0)
    wm = WorldModel(PIXELS, A, _cfg(history=2, map_predictor=kind, inverse_dynamics=1.0))
    batch = Batch({"pixels": _pixels(4, 6)}, torch.rand(3, 6, A) * 2 - 1)
    loss, metrics = wm.loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and {"vicreg_var", "idm_loss", "pred_loss"} <= set(metrics)
    assert all(p.grad is not None for p in wm.encoder.parameters())
    zs = wm.rollout(wm.encode({"pixels": _pixels(6)}), torch.rand(4, 6, A))
    assert zs.shape == (5, 6, 64)


def test_map_anti_collapse_sees_locations_as_samples():
    # Every frame the same map whose locations differ: each flat dimension is constant over the batch
    # (collapsed to a flat VICReg), but the per-location C-vectors are spread, and those are the samples.
    cfg = _cfg(anti_collapse_weight=1.0, vicreg_std_target=1.0, vicreg_cov_weight=0.0)
    wm = WorldModel(PIXELS, A, cfg)
    locations = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))  # (L, C)
    locations = (locations - locations.mean(0)) / locations.std(0)  # std 1 per channel over locations
    z = locations.reshape(1, 64).repeat(8, 1)  # (8, L * C), location-major
    assert wm._anti_collapse(z, None, lambda x: x, {}) < 0.1
    flat = preset("tiny", latent_dim=64, anti_collapse_weight=1.0, vicreg_std_target=1.0, vicreg_cov_weight=0.0)
    assert WorldModel({"state": (7,)}, A, flat)._anti_collapse(z, None, lambda x: x, {}) > 0.9


def test_map_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="latent_dim = state_latent \\+ map_channels"):
        preset("tiny", map_channels=4, latent_dim=40)
    with pytest.raises(ValueError, match="set latent_dim=64"):
        WorldModel(PIXELS, A, preset("tiny", map_channels=4, latent_dim=4 * 64))
    with pytest.raises(ValueError, match="pixel observations only"):
        WorldModel({"state": (7,), **PIXELS}, A, _cfg())
    with pytest.raises(ValueError, match="layernorm or none"):
        preset("tiny", map_channels=4, latent_dim=64, latent_norm="simnorm")
    with pytest.raises(ValueError, match="map_predictor"):
        _cfg(map_predictor="attention")
