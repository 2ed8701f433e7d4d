"""The glimpse (`glimpse`): a crop of the frame less its background, centred on the foreground's centroid."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from world_model import Batch, WorldModel, preset
from world_model.encoders import Glimpse

torch.set_num_threads(1)
A, K, G = 2, 4, 6
SIZE = 32
SHAPES = {"state": (2,), "pixels": (3, SIZE, SIZE)}
FLOOR = 200  # a uniform grey floor, uint8
L_SHAPE = torch.tensor([[1, 0, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.bool)  # no rotational symmetry


def _scene(shape: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """A `(3, SIZE, SIZE)` uint8 frame: the floor, with `shape` drawn in dark blue, scaled 2x, at (row, col)."""
    frame = torch.full((3, SIZE, SIZE), FLOOR, dtype=torch.uint8)
    mask = shape.repeat_interleave(2, 0).repeat_interleave(2, 1)
    h, w = mask.shape
    patch = frame[:, row : row + h, col : col + w]
    patch[:, mask] = torch.tensor([20, 40, 160], dtype=torch.uint8)[:, None]
    return frame


def _fitted(side: int = 12) -> Glimpse:
    glimpse = Glimpse(SIZE, side, channels=4, depth=1)
    floors = torch.full((5, 3, SIZE, SIZE), FLOOR, dtype=torch.uint8)
    floors[0] = _scene(L_SHAPE, 3, 3)  # an object in a minority of frames does not enter the median
    glimpse.fit_background(floors)
    return glimpse


def test_the_background_is_the_per_pixel_median_and_must_be_fitted():
    glimpse = Glimpse(SIZE, 12, channels=4, depth=1)
    with pytest.raises(RuntimeError, match=r"call fit_background\(frames\)"):
        glimpse.crop(_scene(L_SHAPE, 5, 5)[None])
    glimpse = _fitted()
    torch.testing.assert_close(glimpse.background, torch.full((3, SIZE, SIZE), FLOOR / 255.0))
    with pytest.raises(ValueError, match=r"frames must be \(N >= 3, 3, 32, 32\)"):
        glimpse.fit_background(torch.zeros(5, 3, 16, 16, dtype=torch.uint8))


def test_the_crop_follows_the_object_and_keeps_its_orientation():
    glimpse = _fitted()
    frames = torch.stack(
        [
            _scene(L_SHAPE, 4, 6),
            _scene(L_SHAPE, 18, 15),  # the same shape moved by whole pixels
            _scene(L_SHAPE.flip(0), 4, 6),  # turned (a mirror here: an L flipped is an L turned by 90 degrees)
            torch.full((3, SIZE, SIZE), FLOOR, dtype=torch.uint8),  # nothing but the floor
        ]
    )
    crops, centre = glimpse.crop(frames)
    # Centroids in [-1, 1] pixel-centre coordinates: the moved shape's by exactly its shift; the empty frame's 0.
    torch.testing.assert_close(centre[1] - centre[0], torch.tensor([9.0, 14.0]) * 2 / SIZE)
    torch.testing.assert_close(centre[3], torch.zeros(2))
    torch.testing.assert_close(crops[1], crops[0], atol=1e-5, rtol=0)  # where it is leaves the crop unchanged
    assert (crops[2] - crops[0]).abs().max() > 0.3  # how it is turned does not
    assert crops[3].abs().max() == 0  # the floor itself is subtracted
    whole = (frames[0].float() / 255.0 - glimpse.background).abs().sum()
    assert crops[0].abs().sum() >= 0.95 * whole  # the whole object is in the crop


def _model(**overrides) -> WorldModel:
    cfg = preset("tiny", **{"latent_dim": 16, "state_latent": K, "glimpse": 12, "glimpse_dims": G, **overrides})
    wm = WorldModel(SHAPES, A, cfg)
    wm.fit_background(torch.full((3, 3, SIZE, SIZE), FLOOR, dtype=torch.uint8))
    return wm


def test_the_glimpse_fills_the_pixel_parts_last_dimensions_and_trains():
    torch.manual_seed(0)
    wm = _model(latent_norm="none")
    frames = torch.stack([_scene(L_SHAPE, 4, 6), _scene(L_SHAPE, 18, 15), _scene(L_SHAPE.flip(0), 4, 6)])
    z = wm.encode({"state": torch.zeros(3, 2), "pixels": frames})
    assert z.shape == (3, 16)
    # Moving the object changes the full-frame part and leaves the glimpse's; turning it changes the glimpse's.
    torch.testing.assert_close(z[1, -G:], z[0, -G:], atol=1e-5, rtol=0)
    assert not torch.allclose(z[1, K:-G], z[0, K:-G]) and not torch.allclose(z[2, -G:], z[0, -G:])
    # The target encoder got the same background, and the loss reaches the glimpse's CNN.
    torch.testing.assert_close(wm.target_encoder.glimpse.background, wm.encoder.glimpse.background)
    pixels = torch.stack([_scene(L_SHAPE, 2 + i, 3 + 2 * i) for i in range(4 * 3)]).view(4, 3, 3, SIZE, SIZE)
    batch = Batch({"state": torch.randn(4, 3, 2), "pixels": pixels}, torch.rand(3, 3, A) * 2 - 1)
    loss, _ = wm.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and p.grad.any() for p in wm.encoder.glimpse.trunk.parameters())


def test_a_saved_glimpse_model_keeps_its_background():
    wm = _model()
    state = wm.state_dict()
    assert "encoder.glimpse.background" in state and bool(state["encoder.glimpse.fitted"])
    other = WorldModel(SHAPES, A, wm.cfg)
    other.load_state_dict(state)
    obs = {"state": torch.zeros(1, 2), "pixels": _scene(L_SHAPE, 4, 6)[None]}
    torch.testing.assert_close(other.encode(obs), wm.encode(obs))


def test_glimpse_config_errors_name_the_fix():
    base = dict(latent_dim=16, state_latent=K, glimpse=12, glimpse_dims=G)
    for bad in (dict(state_latent=0), dict(glimpse_dims=12), dict(glimpse=2), dict(frame_stack=2)):
        with pytest.raises(ValueError, match="a glimpse is a crop side >= 4 pixels"):
            preset("tiny", **{**base, **bad})
    with pytest.raises(ValueError, match="fit_background needs a model built with glimpse > 0"):
        WorldModel(SHAPES, A, preset("tiny", state_latent=K)).fit_background(torch.zeros(3, 3, SIZE, SIZE))
    assert dataclasses.replace(preset("tiny", **base)).glimpse == 12


def test_offline_training_fits_the_background_to_the_training_frames(dataset, tmp_path):
    from agent.config import GoalAgentConfig, ModelConfig
    from train.config import OfflineConfig
    from train.dataset import EpisodeStore
    from train.offline import OfflineTrainer
    from train.run_dir import RunDir

    overrides = dict(latent_dim=16, state_latent=K, glimpse=12, glimpse_dims=G)
    model = ModelConfig(size="tiny", overrides=overrides)
    agent = GoalAgentConfig(inputs="state+pixels", model=model, batch_size=8, horizon=3)
    cfg = OfflineConfig(dataset=str(dataset), updates=1, run_dir=str(tmp_path), progress=False, threads=1, agent=agent)
    run = RunDir(tmp_path)
    run.prepare(cfg, resume=False)
    trainer = OfflineTrainer(cfg, EpisodeStore(dataset), torch.device("cpu"), run)
    frames = torch.as_tensor(trainer.train_replay.observations("pixels"))
    median = frames.float().div(255.0).median(dim=0).values
    torch.testing.assert_close(trainer.model.encoder.glimpse.background, median)
    assert bool(trainer.model.target_encoder.glimpse.fitted)


def test_the_goal_energy_weighs_the_glimpse_on_its_own():
    from agent.config import GoalAgentConfig, ModelConfig
    from agent.factory import build_goal_agent

    cfg = GoalAgentConfig(inputs="state+pixels", model=ModelConfig(size="tiny"), state_weight=0.0, glimpse_weight=0.2)
    agent = build_goal_agent(cfg, _model(), A, generator=torch.Generator())
    assert agent.objective.weights.tolist() == pytest.approx([0.0] * K + [1.0] * (16 - K - G) + [0.2] * G)
    plain = WorldModel(SHAPES, A, preset("tiny", state_latent=K))
    with pytest.raises(ValueError, match="glimpse_weight=0.2 weighs a glimpse's dimensions, and this model has none"):
        build_goal_agent(cfg, plain, A, generator=torch.Generator())
    with pytest.raises(ValueError, match="glimpse_weight=-1.0: must be >= 0"):
        GoalAgentConfig(glimpse_weight=-1.0)


def test_the_moments_place_and_turn_the_object_in_the_same_units():
    """Centroid by the exact shift; the third-order phase turns three times the object's turn, so the turn
    entries move along a circle of the object's radius of gyration over 3; an empty frame gives zeros."""
    glimpse = _fitted()
    frames = torch.stack(
        [
            _scene(L_SHAPE, 4, 6),
            _scene(L_SHAPE, 18, 15),  # moved
            _scene(L_SHAPE.rot90(1, (0, 1)), 4, 6),  # turned by 90 degrees
            torch.full((3, SIZE, SIZE), FLOOR, dtype=torch.uint8),
        ]
    )
    m = glimpse.moments(frames)
    assert m.shape == (4, 4)
    torch.testing.assert_close(m[1, :2] - m[0, :2], torch.tensor([9.0, 14.0]) * 2 / SIZE)
    torch.testing.assert_close(m[1, 2:], m[0, 2:], atol=1e-5, rtol=0)  # a move leaves the turn entries
    # The radius of gyration over 3, from the drawn pixels (each of the L's 5 squares is 2x2 pixels).
    mask = _scene(L_SHAPE, 4, 6)[0] != FLOOR
    rows, cols = torch.nonzero(mask, as_tuple=True)
    x, y = cols.float() * 2 / SIZE, rows.float() * 2 / SIZE
    radius = ((x - x.mean()) ** 2 + (y - y.mean()) ** 2).mean().sqrt()
    torch.testing.assert_close(m[0, 2:].norm(), radius / 3, rtol=1e-4, atol=0)
    torch.testing.assert_close(m[2, 2:].norm(), radius / 3, rtol=1e-4, atol=0)
    # A quarter turn turns the phase by three quarters: the entries turn by +-90 degrees about the origin.
    assert abs(float(m[0, 2:] @ m[2, 2:])) < 1e-4 * float(radius**2)
    torch.testing.assert_close(m[3], torch.zeros(4))


def test_the_first_order_turns_once_per_turn_and_ignores_a_marks_contrast():
    """Order 1 turns with the object (a quarter turn: a quarter turn of its entries, the third order's the
    other way round), on a circle of the radius of gyration; a dark mark on the object leaves it unchanged
    (its weight is clipped) where the centroid moves towards the mark."""
    glimpse = Glimpse(SIZE, 12, channels=4, depth=1, orders=(1, 3))
    glimpse.fit_background(torch.full((3, 3, SIZE, SIZE), FLOOR, dtype=torch.uint8))
    marked = _scene(L_SHAPE, 4, 6)
    marked[:, 4:6, 6:8] = 0  # the L's top square in black
    frames = torch.stack(
        [
            _scene(L_SHAPE, 4, 6),
            _scene(L_SHAPE, 18, 15),
            _scene(L_SHAPE.rot90(1, (0, 1)), 4, 6),
            _scene(L_SHAPE.rot90(2, (0, 1)), 4, 6),
            marked,
        ]
    )
    m = glimpse.moments(frames)
    assert m.shape == (5, 6)
    first, third = m[:, 2:4], m[:, 4:6]
    torch.testing.assert_close(first[1], first[0], atol=1e-5, rtol=0)  # a move leaves it
    torch.testing.assert_close(first[0].norm(), 3 * third[0].norm(), rtol=1e-4, atol=0)  # r against r / 3

    def cross(a, b):
        return float(a[0] * b[1] - a[1] * b[0])

    r2 = float(first[0] @ first[0])
    assert abs(float(first[0] @ first[2])) < 1e-4 * r2 and abs(cross(first[0], first[2])) > 0.99 * r2
    assert cross(first[0], first[2]) * cross(third[0], third[2]) < 0  # 90 degrees against 270
    torch.testing.assert_close(first[3], -first[0], atol=1e-5, rtol=0)  # a half turn
    # The mark's contrast is clipped: the same direction (the radius of gyration, on the raw weight, changes).
    torch.testing.assert_close(first[4] / first[4].norm(), first[0] / first[0].norm(), atol=1e-5, rtol=0)
    assert float((m[4, :2] - m[0, :2]).norm()) > 0.01


def test_moment_dimensions_are_the_glimpses_last_four_times_the_gain_and_the_energy_weighs_them():
    from agent.config import GoalAgentConfig, ModelConfig
    from agent.factory import build_goal_agent

    wm = _model(latent_norm="none", moment_gain=5.0)
    frames = torch.stack([_scene(L_SHAPE, 4, 6), _scene(L_SHAPE.flip(0), 10, 12)])
    z = wm.encode({"state": torch.zeros(2, 2), "pixels": frames})
    assert z.shape == (2, 16)
    torch.testing.assert_close(z[:, -4:], 5.0 * wm.encoder.glimpse.moments(frames))
    torch.testing.assert_close(wm.target_encoder({"state": torch.zeros(2, 2), "pixels": frames})[:, -4:], z[:, -4:])
    cfg = GoalAgentConfig(inputs="state+pixels", model=ModelConfig(size="tiny"), glimpse_weight=0.5, moment_weight=30)
    agent = build_goal_agent(cfg, wm, A, generator=torch.Generator())
    assert agent.objective.weights.tolist() == pytest.approx([1.0] * (16 - G) + [0.5] * (G - 4) + [30.0] * 4)
    with pytest.raises(ValueError, match="moment_weight=30 weighs a glimpse's moments, and this model has none"):
        build_goal_agent(cfg, _model(), A, generator=torch.Generator())
    both = _model(latent_norm="none", moment_gain=5.0, moment_orders=[1, 3], glimpse_dims=8)  # a list, as hydra's
    assert both.cfg.moment_orders == (1, 3) and both.cfg.moment_dims == 6
    z = both.encode({"state": torch.zeros(2, 2), "pixels": frames})
    torch.testing.assert_close(z[:, -6:], 5.0 * both.encoder.glimpse.moments(frames))
    agent = build_goal_agent(cfg, both, A, generator=torch.Generator())
    assert agent.objective.weights.tolist() == pytest.approx([1.0] * 8 + [0.5] * 2 + [30.0] * 6)
    shared = dataclasses.replace(cfg, first_order_weight=0.25)  # the first-order pair follows the centroid's
    agent = build_goal_agent(shared, both, A, generator=torch.Generator())
    assert agent.objective.weights.tolist() == pytest.approx(
        [1.0] * 8 + [0.5] * 2 + [30.0] * 2 + [7.5] * 2 + [30.0] * 2
    )
    with pytest.raises(ValueError, match="first_order_weight=0.25 weighs a glimpse's first-order orientation"):
        build_goal_agent(shared, wm, A, generator=torch.Generator())
    from agent.planning import Planning  # what load_agent and eval.evaluate apply

    planned = Planning(moment_weight=3.0, first_order_weight=0.5).apply(cfg)
    assert (planned.moment_weight, planned.first_order_weight) == (3.0, 0.5)


def test_the_moments_prediction_weight_scales_their_share_of_the_prediction_loss():
    """The moments' dimensions (the latent's last moment_dims) weigh moment_prediction_weight in the loss, the
    others as before; the same sequences' loss grows by exactly the moments' extra share."""
    plain = _model(latent_norm="none", moment_gain=5.0, moment_orders=[1, 3], glimpse_dims=8)
    heavy = _model(
        latent_norm="none", moment_gain=5.0, moment_orders=[1, 3], glimpse_dims=8, moment_prediction_weight=10
    )
    heavy.load_state_dict(plain.state_dict())
    assert heavy._dim_weights.tolist() == [1.0] * 10 + [10.0] * 6
    z, a = torch.randn(4, 3, 16), torch.randn(3, 3, A)  # (T+1, B, D), (T, B, A)
    with torch.no_grad():
        zs = plain.rollout(z[0], a)[1:]
    err = (zs - z[1:]).pow(2)
    expected = [(err * w).mean(dim=(1, 2)) for w in (1.0, torch.tensor([1.0] * 10 + [10.0] * 6))]
    loss_plain, loss_heavy = plain.latent_loss(z, a)[0], heavy.latent_loss(z, a)[0]
    assert float(loss_heavy - loss_plain) == pytest.approx(
        float(((expected[1] - expected[0]) * plain._step_weights(3, z.device)).sum()) * plain.cfg.prediction_weight,
        rel=1e-4,
    )


def test_the_pose_hold_reads_a_moment_models_own_latents():
    """On real encodings: the same scene holds, a move or a quarter turn does not; the pose hold replaces a
    saved energy hold, and a model without moments is refused."""
    from agent.config import GoalAgentConfig, ModelConfig
    from agent.factory import build_goal_agent
    from agent.objectives import PoseReached
    from agent.planning import Planning

    both = _model(latent_norm="none", moment_gain=5.0, moment_orders=[1, 3], glimpse_dims=8)
    saved = GoalAgentConfig(inputs="state+pixels", model=ModelConfig(size="tiny"), hold_energy=2.0)
    cfg = Planning(hold_pose=[0.1, 15]).apply(saved)
    assert cfg.hold_pose == (0.1, 15.0) and cfg.hold_energy == 0.0
    agent = build_goal_agent(cfg, both, A, generator=torch.Generator())
    assert isinstance(agent.hold, PoseReached)
    frames = torch.stack([_scene(L_SHAPE, 4, 6), _scene(L_SHAPE, 18, 15), _scene(L_SHAPE.rot90(1, (0, 1)), 4, 6)])
    with torch.no_grad():
        z = both.encode({"state": torch.zeros(3, 2), "pixels": frames})
    assert agent.hold(z[0], z[0]) and not agent.hold(z[1], z[0]) and not agent.hold(z[2], z[0])
    with pytest.raises(ValueError, match="hold_pose reads the glimpse's moments; this model has none"):
        build_goal_agent(cfg, _model(), A, generator=torch.Generator())


def test_moment_config_errors_name_the_fix():
    base = dict(latent_dim=16, state_latent=K, glimpse=12, glimpse_dims=G, latent_norm="none")
    for bad in (dict(glimpse=0, glimpse_dims=0), dict(glimpse_dims=4), dict(moment_gain=-1.0)):
        with pytest.raises(ValueError, match="take the last 4 of a glimpse's dimensions"):
            preset("tiny", **{**base, "moment_gain": 20.0, **bad})
    with pytest.raises(ValueError, match="take the last 6 of a glimpse's dimensions"):
        preset("tiny", **{**base, "moment_gain": 20.0, "moment_orders": (1, 3)})
    for bad in ((), (2,), (3, 3)):
        with pytest.raises(ValueError, match="names distinct orientation orders among 1 and 3"):
            preset("tiny", **{**base, "moment_gain": 20.0, "moment_orders": bad})
    with pytest.raises(ValueError, match="set latent_norm=none"):
        preset("tiny", **{**base, "moment_gain": 20.0, "latent_norm": "layernorm"})
    with pytest.raises(
        ValueError, match="moment_prediction_weight=10.0 weighs the glimpse's moments .* moment_gain > 0"
    ):
        preset("tiny", **{**base, "moment_prediction_weight": 10.0})
    from agent.config import GoalAgentConfig

    with pytest.raises(ValueError, match="moment_weight=-1.0: must be >= 0"):
        GoalAgentConfig(moment_weight=-1.0)
    with pytest.raises(ValueError, match="first_order_weight=-1.0: must be >= 0"):
        GoalAgentConfig(first_order_weight=-1.0)
