"""Offline training with the encoder frozen part-way (`freeze_encoder_s`): the predictor trains alone on
latents encoded once, the encoder stays exactly as it was, and a resumed run stays frozen."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agent.checkpoint import load_checkpoint
from agent.config import GoalAgentConfig, ModelConfig
from agent.planners import CEMConfig
from train.config import OfflineConfig
from train.dataset import EpisodeStore
from train.logger import Logger
from train.offline import OfflineTrainer, frozen_lr, train_offline
from train.run_dir import RunDir
from world_model import Batch, WorldModel, WorldModelConfig


def _cfg(dataset, run_dir, history=2, **kw) -> OfflineConfig:
    overrides = {**GoalAgentConfig().model.overrides, "history": history}
    agent = GoalAgentConfig(
        model=ModelConfig(size="tiny", overrides=overrides),
        cem=CEMConfig(horizon=3, samples=16, iterations=1, elites=4),
        batch_size=16,
        horizon=4,
    )
    base = dict(
        dataset=str(dataset),
        updates=60,
        eval_every=30,
        checkpoint_every=30,
        val_fraction=0.2,
        run_dir=str(run_dir),
        progress=False,
        threads=1,
        agent=agent,
    )
    return OfflineConfig(**{**base, **kw})


def _trainer(cfg, dataset, tmp_path) -> OfflineTrainer:
    run = RunDir(tmp_path)
    run.prepare(cfg, resume=False)
    torch.manual_seed(0)
    return OfflineTrainer(cfg, EpisodeStore(dataset), torch.device("cpu"), run)


def _encoder_state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.encoder.state_dict().items()}


def test_latent_loss_is_the_prediction_term_of_the_full_loss():
    # A fresh model's target encoder is its encoder's copy, so both losses see the same targets.
    cfg = WorldModelConfig(latent_dim=8, hidden_dim=16, history=2)
    torch.manual_seed(0)
    model = WorldModel({"state": (3,)}, 2, cfg)
    T, B = 5, 4
    batch = Batch({"state": torch.randn(T + 1, B, 3)}, torch.randn(T, B, 2))
    _, full = model.loss(batch)
    z = model.encode({"state": batch.obs["state"].flatten(0, 1)}).view(T + 1, B, -1)
    _, latent = model.latent_loss(z, batch.action)
    assert latent["pred_loss"] == pytest.approx(full["pred_loss"], rel=1e-5)
    assert latent["pred_loss_last"] == pytest.approx(full["pred_loss_last"], rel=1e-5)
    with pytest.raises(ValueError, match="history=2"):
        model.latent_loss(z[:2], batch.action[:1])


def test_replay_rows_gather_what_sample_returns(dataset, tmp_path):
    trainer = _trainer(_cfg(dataset, tmp_path), dataset, tmp_path)
    replay = trainer.train_replay
    rows = replay.sample_rows(8, 4, np.random.default_rng(3))
    batch = replay.sample(8, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(replay.gather("action", rows[:-1]), batch.action.numpy())
    np.testing.assert_array_equal(replay.gather("pixels", rows), batch.obs["pixels"].numpy())


def test_frozen_phase_trains_the_predictor_alone_on_the_cached_latents(dataset, tmp_path):
    cfg = _cfg(dataset, tmp_path, freeze_encoder_s=0.0, frozen_batch_size=24, frozen_horizon=6)
    trainer = _trainer(cfg, dataset, tmp_path)
    encoder_before = _encoder_state(trainer.model)
    predictor_before = [p.clone() for p in trainer.model.predictor.parameters()]
    before = trainer.validate()["val/pred_loss"]
    shapes, sample_rows = [], trainer.train_replay.sample_rows

    def recording(size, horizon, rng):
        shapes.append((size, horizon))
        return sample_rows(size, horizon, rng)

    trainer.train_replay.sample_rows = recording
    logger = Logger(trainer.run.root, cfg.updates, progress=False, tensorboard=False)
    result = trainer.fit(logger)
    logger.close()
    assert result["updates"] == cfg.updates
    assert set(shapes) == {(24, 6)}, "frozen updates take frozen_batch_size sequences of frozen_horizon"
    assert result["val/pred_loss"] < 0.8 * before, (before, result["val/pred_loss"])
    for k, v in _encoder_state(trainer.model).items():
        torch.testing.assert_close(v, encoder_before[k], rtol=0, atol=0, msg=f"encoder {k} changed")
    after = list(trainer.model.predictor.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(after, predictor_before, strict=True))
    # The cache is the encoder's latent of each replay row, as the planner would encode it.
    replay = trainer.train_replay
    rows = np.array([0, 7, replay.rows - 1])
    obs = {k: torch.from_numpy(replay.gather(k, rows)) for k in ("pixels",)}
    with torch.no_grad():
        torch.testing.assert_close(trainer.latents[torch.from_numpy(rows)], trainer.model.encode(obs))
    assert trainer.latents.shape == (replay.rows, trainer.model.cfg.latent_dim)
    assert load_checkpoint(trainer.run.checkpoint)["frozen"] is True


def test_a_run_resumed_after_freezing_stays_frozen(dataset, tmp_path):
    cfg = _cfg(dataset, tmp_path, updates=40, freeze_encoder_s=0.0)
    train_offline(dataclasses.replace(cfg, updates=20))
    first = load_checkpoint(RunDir(tmp_path).checkpoint)
    resumed = train_offline(dataclasses.replace(cfg, resume=True))
    second = load_checkpoint(RunDir(tmp_path).checkpoint)
    assert resumed["updates"] == 40 and second["frozen"] is True
    for k, v in first["agent"]["model"].items():
        if k.startswith("encoder."):
            torch.testing.assert_close(second["agent"]["model"][k], v, rtol=0, atol=0)


def test_without_freezing_the_encoder_trains(dataset, tmp_path):
    trainer = _trainer(_cfg(dataset, tmp_path, updates=3), dataset, tmp_path)
    before = _encoder_state(trainer.model)
    for _ in range(3):
        trainer.step()
    assert trainer.latents is None
    assert any(not torch.equal(v, before[k]) for k, v in _encoder_state(trainer.model).items())


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(freeze_encoder_s=-1.0), "seconds >= 0"),
        (dict(freeze_encoder_s=0.0, frozen_batch_size=0), "frozen_batch_size"),
        (dict(freeze_encoder_s=0.0, frozen_horizon=0), "frozen_horizon"),
    ],
)
def test_bad_freeze_settings_are_refused_by_name(dataset, tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        _trainer(_cfg(dataset, tmp_path, **change), dataset, tmp_path)


def test_frozen_lr_anneals_from_the_freeze_to_the_time_limit(dataset, tmp_path):
    cfg = _cfg(dataset, tmp_path, freeze_encoder_s=10.0, time_limit_s=30.0, frozen_lr_final=0.1)
    lr = cfg.agent.lr
    assert frozen_lr(cfg, 0.0) == frozen_lr(cfg, 10.0) == pytest.approx(lr)
    assert frozen_lr(cfg, 20.0) == pytest.approx(0.55 * lr)  # half way: the mean of the two ends
    assert frozen_lr(cfg, 30.0) == frozen_lr(cfg, 99.0) == pytest.approx(0.1 * lr)
    rates = [frozen_lr(cfg, t) for t in np.linspace(10, 30, 21)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False)), "the rate falls all the way"


def test_frozen_updates_take_the_annealed_rate(dataset, tmp_path):
    cfg = _cfg(dataset, tmp_path, freeze_encoder_s=0.0, time_limit_s=100.0, frozen_lr_final=0.0)
    trainer = _trainer(cfg, dataset, tmp_path)
    trainer.freeze()
    trainer.wall_s = 50.0  # half way through the frozen phase
    metrics = trainer.step()
    assert metrics["lr"] == pytest.approx(0.5 * cfg.agent.lr)
    assert {g["lr"] for g in trainer.optim.param_groups} == {metrics["lr"]}
    # Without the setting the rate stays the configured one.
    plain = _trainer(dataclasses.replace(cfg, frozen_lr_final=None), dataset, tmp_path / "plain")
    plain.freeze()
    plain.wall_s = 50.0
    assert "lr" not in plain.step()
    assert {g["lr"] for g in plain.optim.param_groups} == {cfg.agent.lr}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(freeze_encoder_s=0.0, time_limit_s=10.0, frozen_lr_final=1.5), r"in \[0, 1\]"),
        (dict(freeze_encoder_s=0.0, frozen_lr_final=0.1), "give both"),
        (dict(time_limit_s=10.0, frozen_lr_final=0.1), "give both"),
        (dict(freeze_encoder_s=10.0, time_limit_s=10.0, frozen_lr_final=0.1), "the later"),
    ],
)
def test_bad_frozen_lr_settings_are_refused_by_name(dataset, tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        _trainer(_cfg(dataset, tmp_path, **change), dataset, tmp_path)


def test_freezing_refuses_stacked_frames(dataset, tmp_path):
    cfg = _cfg(dataset, tmp_path, history=1, freeze_encoder_s=0.0)
    model = dataclasses.replace(cfg.agent.model, overrides={**cfg.agent.model.overrides, "frame_stack": 2})
    cfg = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, model=model))
    with pytest.raises(ValueError, match="frame_stack=2"):
        _trainer(cfg, dataset, tmp_path)
