"""World model: shapes, rollout, target encoder, learning on a linear toy, collapse, probe isolation."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.toys import LinearToy
from world_model import Batch, WorldModel, preset
from world_model.encoders import KeypointTrunk, stack_frames
from world_model.heads import TwoHot
from world_model.regularisers import collapse_metrics, sigreg, vicreg

torch.set_num_threads(1)
A = 3


def _obs(shapes, lead=(5,), g=None):
    g = g or torch.Generator().manual_seed(0)
    out = {}
    if "state" in shapes:
        out["state"] = torch.randn(*lead, *shapes["state"], generator=g)
    if "pixels" in shapes:
        out["pixels"] = torch.randint(0, 256, (*lead, *shapes["pixels"]), generator=g, dtype=torch.uint8)
    return out


@pytest.mark.parametrize(
    "shapes",
    [
        {"state": (7,)},
        {"pixels": (3, 64, 64)},
        {"pixels": (3, 84, 84)},
        {"pixels": (3, 96, 96)},
        {"state": (7,), "pixels": (3, 64, 64)},
    ],
    ids=["state", "pixels64", "pixels84", "pixels96", "state+pixels"],
)
@pytest.mark.parametrize("norm", ["simnorm", "layernorm", "none"])
def test_encode_shapes_and_dtypes(shapes, norm):
    wm = WorldModel(shapes, A, preset("tiny", latent_norm=norm, latent_dim=16))
    z = wm.encode(_obs(shapes))
    assert z.shape == (5, 16) and z.dtype == torch.float32
    if norm == "simnorm":
        torch.testing.assert_close(z.view(5, -1, 8).sum(-1), torch.ones(5, 2))


def test_frame_stack():
    shapes = {"pixels": (3, 64, 64)}
    wm = WorldModel(shapes, A, preset("tiny", frame_stack=3))
    pixels = torch.randint(0, 256, (4, 2, 3, 64, 64), dtype=torch.uint8)
    stacked = stack_frames(pixels, 3)
    assert stacked.shape == (4, 2, 9, 64, 64)
    torch.testing.assert_close(stacked[2, :, :3], pixels[0])  # oldest first
    torch.testing.assert_close(stacked[2, :, 6:], pixels[2])
    torch.testing.assert_close(stacked[0, :, :3], pixels[0])  # padded by repeating the first frame
    assert wm.encode({"pixels": stacked[0]}).shape == (2, 16)
    loss, _ = wm.loss(Batch({"pixels": pixels}, torch.zeros(3, 2, A)))
    assert torch.isfinite(loss)


@pytest.mark.parametrize("history", [1, 3])
def test_rollout_equals_repeated_predict(history):
    wm = WorldModel({"state": (7,)}, A, preset("tiny", history=history))
    z0 = wm.encode(_obs({"state": (7,)}, lead=(4,)))
    actions = torch.rand(5, 4, A) * 2 - 1
    zs = wm.rollout(z0, actions)
    assert zs.shape == (6, 4, 16)
    z, past = z0, []
    for t in range(5):
        window = torch.stack(past[-(history - 1) :]) if history > 1 and past else None
        nxt = wm.predict(z, actions[t], window)
        torch.testing.assert_close(zs[t + 1], nxt)
        past.append(z)
        z = nxt


def test_history_loss_predicts_from_encoded_context_frames():
    """With history 2 the first frame is the predictor's past: the loss is the rollout from frame 1
    with frame 0's latent as context, against frames 2..T (not a rollout that invents its past)."""
    torch.manual_seed(0)
    wm = WorldModel({"state": (7,)}, A, preset("tiny", history=2, anti_collapse="none"))
    obs = {"state": torch.randn(5, 4, 7)}
    actions = torch.rand(4, 4, A) * 2 - 1
    _, metrics = wm.loss(Batch(obs, actions))
    with torch.no_grad():
        past = wm.encode({"state": obs["state"][0]}).unsqueeze(0)  # (1, B, D)
        zs = wm.rollout(wm.encode({"state": obs["state"][1]}), actions[1:], past)
        targets = wm.encode_target({"state": obs["state"][2:].reshape(-1, 7)}).view(3, 4, -1)
        per_step = (zs[1:] - targets).pow(2).mean(dim=(1, 2))
        expected = (wm._step_weights(3, per_step.device) * per_step).sum()
    assert metrics["pred_loss"] == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="history=2 needs sequences of more than 1 steps"):
        wm.loss(Batch({"state": obs["state"][:2]}, actions[:1]))


def test_target_encoder_gets_no_gradient_and_follows_ema():
    toy = LinearToy(generator=torch.Generator().manual_seed(0))
    wm = WorldModel({"state": (12,)}, 2, preset("tiny", ema_tau=0.1))
    batch, _ = toy.batch(16, 3, torch.Generator().manual_seed(1))
    before = [p.clone() for p in wm.target_encoder.parameters()]
    loss, _ = wm.loss(batch)
    loss.backward()
    assert all(p.grad is None for p in wm.target_encoder.parameters())
    assert all(p.grad is not None for p in wm.encoder.parameters())
    with torch.no_grad():
        for p in wm.encoder.parameters():
            p.add_(1.0)
    wm.update_target()
    for old, new, online in zip(before, wm.target_encoder.parameters(), wm.encoder.parameters(), strict=True):
        torch.testing.assert_close(new, old + 0.1 * (online - old))


def _noise_batch(g: torch.Generator) -> Batch:
    # Every observation is fresh noise: nothing about the next one is predictable, so a constant
    # latent is the trivial minimiser of the prediction loss.
    return Batch({"state": torch.randn(4, 128, 12, generator=g)}, torch.rand(3, 128, 2, generator=g) * 2 - 1)


def _train(cfg, steps, seed=0, lr=2e-3, noise=False):
    toy = LinearToy(generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    wm = WorldModel({"state": (12,)}, 2, cfg)
    opt = torch.optim.Adam(wm.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed + 1)
    history = []
    for _ in range(steps):
        batch = _noise_batch(g) if noise else toy.batch(128, 3, g)[0]
        loss, metrics = wm.loss(batch, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        wm.update_target()
        history.append(metrics)
    return wm, toy, history


def _r2_linear_probe(wm, toy) -> float:
    batch, states = toy.batch(2048, 1, torch.Generator().manual_seed(99))
    with torch.no_grad():
        z = wm.encode({"state": batch.obs["state"][0]})
    x = states[0]
    feats = torch.cat([z, torch.ones(len(z), 1)], 1)
    half = len(z) // 2
    w = torch.linalg.lstsq(feats[:half], x[:half]).solution
    residual = x[half:] - feats[half:] @ w
    return 1 - (residual.pow(2).sum() / (x[half:] - x[half:].mean(0)).pow(2).sum()).item()


def test_learns_linear_toy_and_latent_recovers_state():
    cfg = preset("tiny", latent_dim=16, hidden_dim=64, anti_collapse="vicreg", vicreg_std_target=0.8)
    wm, toy, hist = _train(cfg, steps=300)
    first, last = hist[0]["pred_loss"], sum(h["pred_loss"] for h in hist[-10:]) / 10
    assert last < first / 10, (first, last)
    assert _r2_linear_probe(wm, toy) > 0.9


def test_collapse_is_measured_and_prevented():
    base = preset("tiny", latent_dim=16, hidden_dim=64, target="stopgrad", latent_norm="none")
    _, _, collapsed = _train(dataclasses.replace(base, anti_collapse="none"), steps=200, lr=1e-2, noise=True)
    vic = dataclasses.replace(base, anti_collapse="vicreg", vicreg_std_target=0.8)
    _, _, healthy = _train(vic, steps=200, lr=1e-2, noise=True)
    assert collapsed[-1]["z_std"] < 0.3 * collapsed[0]["z_std"], "without the term the latent collapses"
    assert collapsed[-1]["z_std"] < 0.1 * healthy[-1]["z_std"]
    assert healthy[-1]["z_std_min"] > 0.3 and healthy[-1]["z_rank"] > 3


def _losses_without_and_with(field: str, weight: float, steps: int, **loss_kwargs):
    """`((loss, metrics) without, (loss, metrics) with)` the term `field` at `weight`, on the same networks."""
    obs = torch.randn(steps + 1, 16, 7, generator=torch.Generator().manual_seed(0))
    batch = Batch({"state": obs}, torch.zeros(steps, 16, A))
    results = []
    for w in (0.0, weight):
        torch.manual_seed(0)  # the same networks
        wm = WorldModel({"state": (7,)}, A, preset("tiny", **{field: w}))
        results.append(wm.loss(batch, **loss_kwargs))
    return results


def test_contrastive_term_adds_its_weighted_infonce():
    (plain, plain_metrics), (both, metrics) = _losses_without_and_with("contrastive_weight", 2.0, steps=3)
    assert "contrastive_loss" not in plain_metrics
    assert (both - plain).item() == pytest.approx(2.0 * metrics["contrastive_loss"], rel=1e-4)
    assert metrics["contrastive_loss"] > 0.0
    assert 0.0 <= metrics["contrastive_acc"] <= 1.0
    for bad in (dict(contrastive_weight=-1.0), dict(contrastive_temperature=0.0)):
        with pytest.raises(ValueError, match="contrastive"):
            preset("tiny", **bad)


def test_contrastive_infonce_prefers_predictions_nearest_their_own_targets():
    wm = WorldModel({"state": (7,)}, A, preset("tiny", latent_dim=8))
    targets = torch.randn(3, 10, 8, generator=torch.Generator().manual_seed(0))
    exact, near, swapped = {}, {}, {}
    right = wm._contrastive(targets.clone(), targets, exact)
    noisy = wm._contrastive(targets + 0.3 * torch.randn(3, 10, 8), targets, near)
    wrong = wm._contrastive(targets.roll(1, dims=1), targets, swapped)
    assert right < noisy < wrong
    assert exact["contrastive_acc"] == 1.0 and swapped["contrastive_acc"] == 0.0


def test_contrastive_alone_keeps_a_predictable_latent_spread_and_informative():
    # On pure noise InfoNCE has nothing to tell apart and a constant latent is optimal for it too; on the
    # predictable linear toy it holds the spread that the prediction loss alone lets shrink.
    base = preset("tiny", latent_dim=16, hidden_dim=64, target="stopgrad", latent_norm="none", anti_collapse="none")
    _, _, shrunk = _train(base, steps=300)
    wm, toy, held = _train(dataclasses.replace(base, contrastive_weight=1.0), steps=300)
    assert held[-1]["z_std"] > 5 * shrunk[-1]["z_std"]
    assert held[-1]["contrastive_acc"] > 0.3 and _r2_linear_probe(wm, toy) > 0.99


def test_sigreg_prefers_gaussian_latents():
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(512, 16, generator=g)
    collapsed = torch.zeros(512, 16) + 0.01 * torch.randn(512, 16, generator=g)
    lg, _ = sigreg(gauss, directions=64, knots=17, generator=torch.Generator().manual_seed(1))
    lc, _ = sigreg(collapsed, directions=64, knots=17, generator=torch.Generator().manual_seed(1))
    assert lg < 0.1 * lc
    a, _ = sigreg(gauss, directions=64, knots=17, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, lg)  # same generator seed, same directions


def test_sigreg_training_keeps_rank():
    cfg = preset(
        "tiny",
        latent_dim=16,
        hidden_dim=64,
        target="stopgrad",
        anti_collapse="sigreg",
        anti_collapse_weight=0.1,
        latent_norm="none",
    )
    _, _, hist = _train(cfg, steps=150, lr=5e-3)
    assert hist[-1]["z_std_min"] > 0.2 and hist[-1]["z_rank"] > 3


def test_sigreg_beside_vicreg_adds_its_weighted_term():
    (plain, plain_metrics), (both, metrics) = _losses_without_and_with(
        "sigreg_weight", 0.5, steps=2, generator=torch.Generator().manual_seed(1)
    )
    assert "sigreg" not in plain_metrics and metrics["anti_collapse"] == pytest.approx(plain_metrics["anti_collapse"])
    assert (both - plain).item() == pytest.approx(0.5 * metrics["sigreg"], rel=1e-4)
    with pytest.raises(ValueError, match="anti_collapse=vicreg only"):
        preset("tiny", anti_collapse="sigreg", sigreg_weight=0.5)


def test_vicreg_variance_term():
    z = torch.randn(256, 8)
    loss_spread, _ = vicreg(z, std_target=1.0, cov_weight=0.0)
    loss_flat, _ = vicreg(z * 0.01, std_target=1.0, cov_weight=0.0)
    assert loss_spread < 0.1 < loss_flat


def test_collapse_metrics():
    m = collapse_metrics(torch.randn(1000, 8))
    assert m["z_rank"] > 7.5 and abs(m["z_std"] - 1) < 0.1
    line = torch.randn(1000, 1) * torch.ones(1, 8)
    assert collapse_metrics(line)["z_rank"] < 1.1


def test_probe_gradients_do_not_reach_encoder():
    shapes = {"pixels": (3, 64, 64)}
    wm = WorldModel(shapes, A, preset("tiny", probe_size=8))
    pixels = torch.randint(0, 256, (3, 4, 3, 64, 64), dtype=torch.uint8)
    z = wm.encode({"pixels": pixels[0]})
    wm.probe.loss(z, pixels[0]).backward()
    assert all(p.grad is None for p in wm.encoder.parameters())
    assert all(p.grad is not None for p in wm.probe.parameters())
    _, metrics = wm.loss(Batch({"pixels": pixels}, torch.zeros(2, 4, A)))
    assert "probe_loss" in metrics


def test_heads_and_two_hot():
    two_hot = TwoHot(101, -10, 10)
    x = torch.tensor([-50.0, -1.0, 0.0, 0.3, 7.0, 300.0])
    target = two_hot.encode(x)
    torch.testing.assert_close(target.sum(-1), torch.ones(6))
    decoded = two_hot.decode(torch.log(target.clamp_min(1e-12)))
    torch.testing.assert_close(decoded, x, rtol=1e-3, atol=1e-3)
    wm = WorldModel({"state": (7,)}, A, preset("tiny", reward_head=True, num_values=4, termination_head=True))
    z, a = torch.randn(5, 16), torch.rand(5, A)
    assert wm.reward(z, a).shape == (5, 21)
    assert wm.values(z, a).shape == (4, 5, 21)
    assert wm.termination(z).shape == (5,)
    batch = Batch({"state": torch.randn(4, 5, 7)}, torch.rand(3, 5, A), torch.randn(3, 5), torch.zeros(3, 5))
    _, metrics = wm.loss(batch)
    assert {"reward_loss", "termination_loss", "z_std", "z_rank", "wm_loss"} <= set(metrics)


def test_bad_config_is_explained():
    with pytest.raises(ValueError, match="anti_collapse"):
        preset("tiny", anti_collapse="barlow")
    with pytest.raises(ValueError, match="tiny, default, large"):
        preset("huge")
    with pytest.raises(ValueError, match="generator"):
        wm = WorldModel({"state": (7,)}, A, preset("tiny", anti_collapse="sigreg"))
        wm.loss(Batch({"state": torch.randn(3, 4, 7)}, torch.zeros(2, 4, A)))


@pytest.mark.parametrize("dims", [0, 4])
def test_inverse_dynamics_reads_only_its_leading_dims(dims):
    # Only the inverse-dynamics term counts here; with no latent norm latent dimension i is computed by
    # row i of the encoder's last linear map alone, so the rows the inverse head does not read get no gradient.
    cfg = preset(
        "tiny", latent_norm="none", anti_collapse="none", prediction_weight=0.0, inverse_dynamics=1.0, inverse_dims=dims
    )
    wm = WorldModel({"state": (7,)}, A, cfg)
    assert wm.inverse[0].in_features == 2 * (dims or cfg.latent_dim)
    total, metrics = wm.loss(Batch({"state": torch.randn(3, 6, 7)}, torch.rand(2, 6, A)))
    total.backward()
    row_grads = wm.encoder.head[-1].weight.grad.abs().sum(1)  # (D,)
    read = dims or cfg.latent_dim
    assert (row_grads[:read] > 0).all()
    assert (row_grads[read:] == 0).all()
    assert "idm_loss" in metrics
    with pytest.raises(ValueError, match="inverse_dims"):
        preset("tiny", inverse_dims=17)


def test_keypoints_are_the_softmax_weighted_location_of_each_map(monkeypatch):
    trunk = KeypointTrunk(3, 16, channels=4, depth=1, keypoints=2)  # a 4x4 location grid
    maps = torch.zeros(1, 2, 4, 4)
    maps[0, 0, 1, 3] = 50.0  # keypoint 0 peaks at row 1, column 3: x = 1, y = -1/3
    monkeypatch.setattr(trunk.net, "forward", lambda x: maps)  # the softmax alone; a flat map gives the centre
    points = trunk(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    assert points.shape == (1, 4)
    assert points[0].tolist() == pytest.approx([1.0, -1 / 3, 0.0, 0.0], abs=1e-4)


def test_keypoint_encoder_moves_with_the_image_and_trains():
    cfg = preset("tiny", keypoints=3, state_latent=4)
    wm = WorldModel({"state": (2,), "pixels": (3, 32, 32)}, 2, cfg)
    assert isinstance(wm.encoder.pixel_net, KeypointTrunk) and wm.encoder.pixel_net.out_dim == 6
    pixels = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    pixels[0, :, 2:6, 2:6], pixels[1, :, 24:28, 24:28] = 255, 255  # a bright square in two places
    z = wm.encode({"state": torch.zeros(2, 2), "pixels": pixels})
    assert z.shape == (2, 16) and not torch.allclose(z[0, 4:], z[1, 4:])
    z.sum().backward()
    assert wm.encoder.pixel_net.log_temperature.grad is not None


def test_keypoint_pixel_part_has_no_more_rank_than_its_points():
    # One keypoint (2 coordinates) read linearly into an 8-number pixel part: rank at most 2 over a batch.
    cfg = preset("tiny", keypoints=1, state_latent=8, latent_norm="none")
    wm = WorldModel({"state": (2,), "pixels": (3, 32, 32)}, 2, cfg)
    pixels = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    z = wm.encode({"state": torch.randn(64, 2), "pixels": pixels})[:, 8:]  # (64, 8), the pixel part
    assert torch.linalg.matrix_rank(z - z.mean(0), rtol=1e-4) <= 2


def test_keypoints_config_is_checked():
    with pytest.raises(ValueError, match="map latent"):
        preset("tiny", keypoints=4, map_channels=4, latent_dim=64)
    with pytest.raises(ValueError, match="needs pixel observations"):
        WorldModel({"state": (3,)}, 2, preset("tiny", keypoints=4))


def test_state_prediction_weight_scales_the_state_parts_prediction_error():
    shapes = {"state": (2,), "pixels": (3, 32, 32)}
    batch = Batch(_obs(shapes, lead=(4, 6)), torch.rand(3, 6, A))
    losses = []
    for weight in (0.0, 1.0, 3.0):
        torch.manual_seed(0)  # the same initial networks for every weight
        wm = WorldModel(shapes, A, preset("tiny", state_latent=4, state_prediction_weight=weight))
        losses.append(wm.loss(batch)[1]["pred_loss"])
    base, state_part = losses[0], losses[1] - losses[0]  # the pixels' part, and the state part at weight 1
    assert state_part > 0 and losses[2] == pytest.approx(base + 3 * state_part, rel=1e-4)
    with pytest.raises(ValueError, match="needs state_latent"):
        preset("tiny", state_prediction_weight=2.0)


@pytest.mark.parametrize("target", ["ema", "stopgrad"])
def test_state_norm_standardises_by_the_fitted_data_and_is_saved(target):
    g = torch.Generator().manual_seed(1)
    # Dimensions of very different scales and offsets, one constant (as in seed data that never moves it).
    states = torch.randn(500, 3, generator=g) * torch.tensor([3.0, 0.1, 0.0]) + torch.tensor([1.0, -2.0, 5.0])
    wm = WorldModel({"state": (3,)}, A, preset("tiny", state_norm="data", target=target))
    raw = WorldModel({"state": (3,)}, A, preset("tiny", target=target))
    raw.load_state_dict({k: v for k, v in wm.state_dict().items() if not k.endswith(("state_shift", "state_scale"))})
    wm.fit_state_norm(states)
    enc = wm.encoder
    torch.testing.assert_close(enc.state_shift, states.mean(0))
    torch.testing.assert_close(enc.state_scale, torch.tensor([3.0, 0.1, 0.01]), rtol=0.1, atol=0)  # floor: 0.01
    x = states[:5]
    standard = ((x - states.mean(0)) / enc.state_scale).clamp(-10, 10)
    torch.testing.assert_close(wm.encode({"state": x}), raw.encode({"state": standard}))
    torch.testing.assert_close(wm.encode_target({"state": x}), raw.encode_target({"state": standard}))
    # Far outside the fitted data (the constant dimension moves): clipped at 10 standard deviations.
    assert wm.encoder._state({"state": torch.tensor([[1.0, -2.0, 6.0]])})[0, 2] == 10.0
    loaded = WorldModel({"state": (3,)}, A, preset("tiny", state_norm="data", target=target))
    loaded.load_state_dict(wm.state_dict())
    torch.testing.assert_close(loaded.encode({"state": x}), wm.encode({"state": x}))


def test_state_norm_needs_state_inputs_and_fitting_checks_shapes():
    with pytest.raises(ValueError, match="state_norm=none for pixels alone"):
        WorldModel({"pixels": (3, 64, 64)}, A, preset("tiny", state_norm="data"))
    with pytest.raises(ValueError, match="state_norm"):
        preset("tiny", state_norm="running")
    with pytest.raises(ValueError, match=r"\(N >= 2, 3\)"):
        WorldModel({"state": (3,)}, A, preset("tiny", state_norm="data")).fit_state_norm(torch.zeros(10, 4))
    with pytest.raises(ValueError, match="state_norm=data"):
        WorldModel({"state": (3,)}, A, preset("tiny")).fit_state_norm(torch.zeros(10, 3))


def test_change_weights_favour_dimensions_that_change_little_within_a_floor():
    from world_model.model import CHANGE_FLOOR, change_weights

    z = torch.zeros(5, 8, 3)  # (T+1, B, D)
    z[:, :, 0] = torch.arange(5.0)[:, None]  # moves by 1 every step (the pusher)
    z[2:, :4, 1] = 0.3  # moves by 0.3, once, in half the batch (the block at contact)
    w = change_weights(z)  # dimension 2 never moves: it gets the floor's cap
    assert w.mean().item() == pytest.approx(1.0)
    assert w[0] < w[1] < w[2]
    power = z.diff(dim=0).pow(2).mean(dim=(0, 1))  # (3,): 1, 0.09 / 8, 0
    assert (w[2] / w[0]).item() == pytest.approx(1.0 / (CHANGE_FLOOR * power.mean().item()), rel=1e-4)
    assert (w[1] / w[0]).item() == pytest.approx(1.0 / power[1].item(), rel=1e-4)


def test_change_weighted_loss_weighs_the_prediction_error_by_dimension():
    steps, obs = 3, torch.randn(4, 16, 7, generator=torch.Generator().manual_seed(0))
    batch = Batch({"state": obs}, torch.zeros(steps, 16, A))
    losses = []
    for weighted in (False, True):
        torch.manual_seed(0)  # the same networks
        wm = WorldModel({"state": (7,)}, A, preset("tiny", change_weighted=weighted, anti_collapse="none"))
        losses.append(wm.loss(batch)[1]["pred_loss"])
    assert losses[0] != pytest.approx(losses[1], rel=1e-3)
