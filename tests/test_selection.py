"""Choosing which encoder to freeze by its goal energy's AUC on labelled goal scenes (train/selection.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agent.objectives import GoalEnergy
from train.dataset import EpisodeStore
from train.logger import Logger
from train.selection import EncoderSelection, GoalScenes, auc, scene_energies


def _scenes(dataset) -> GoalScenes:
    """Ten frames of the tiny dataset as scenes of two goals (two more frames), labels of both kinds."""
    episode = EpisodeStore(dataset).read(0)
    pick = {k: episode[k] for k in ("state", "pixels")}
    return GoalScenes(
        scenes={k: v[:10] for k, v in pick.items()},
        goals={k: v[10:12] for k, v in pick.items()},
        goal_index=np.arange(10) % 2,
        within=np.arange(10) < 4,
    )


def test_goal_scenes_round_trip_and_refuse_what_they_cannot_hold(dataset, tmp_path):
    scenes = _scenes(dataset)
    scenes.save(tmp_path / "s.npz")
    back = GoalScenes.load(tmp_path / "s.npz")
    for k in ("state", "pixels"):
        np.testing.assert_array_equal(back.scenes[k], scenes.scenes[k])
        np.testing.assert_array_equal(back.goals[k], scenes.goals[k])
    np.testing.assert_array_equal(back.goal_index, scenes.goal_index)
    assert back.within.dtype == bool and (back.within == scenes.within).all()
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="--scenes-out"):
        GoalScenes.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="outside the 2 goals"):
        GoalScenes(scenes.scenes, scenes.goals, np.full(10, 2), scenes.within)
    with pytest.raises(ValueError, match="another length"):
        GoalScenes(scenes.scenes, scenes.goals, scenes.goal_index, scenes.within[:3])


def test_scene_energies_score_each_scene_against_its_own_goal(dataset):
    scenes = _scenes(dataset)

    def encode(obs):  # a latent of the state alone
        return obs["state"].float()

    energy = GoalEnergy("l2", "final")
    got = scene_energies(encode, energy.distance, scenes, ("state",), torch.device("cpu"))
    goal = scenes.goals["state"][scenes.goal_index].astype(np.float32)
    np.testing.assert_allclose(got, ((scenes.scenes["state"] - goal) ** 2).sum(-1), rtol=1e-5)
    with pytest.raises(ValueError, match="no \\['glimpse'\\] observations"):
        scene_energies(encode, energy.distance, scenes, ("glimpse",), torch.device("cpu"))
    assert auc(np.array([0.1, 0.9, 0.5]), np.array([True, False, False])) == 1.0


def test_the_selection_keeps_the_best_scored_model_and_optimiser():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    optim = torch.optim.AdamW(model.parameters())
    scores = iter([0.6, 0.9, 0.7])
    selection = EncoderSelection(lambda: next(scores), every_s=10)
    states = []
    for wall_s in (0.0, 10.0, 20.0):
        assert selection.due(wall_s)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        metrics = selection.check(wall_s, model, optim)
        assert not selection.due(wall_s + 9)
        model(torch.ones(1, 2)).sum().backward()
        optim.step()
    assert metrics == {"select/auc": 0.7, "select/best_auc": 0.9, "select/best_wall_s": 10.0}
    selection.restore_best(model, optim)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, states[1][k], rtol=0, atol=0)
    assert optim.state_dict()["state"][0]["step"] == 1  # the optimiser as it was at the best check
    with pytest.raises(ValueError, match="select_every_s"):
        EncoderSelection(lambda: 0.0, every_s=0)


def test_training_freezes_the_encoder_that_scored_best(dataset, tmp_path):
    from tests.test_frozen_encoder import _cfg, _encoder_state, _trainer

    _scenes(dataset).save(tmp_path / "scenes.npz")
    cfg = _cfg(
        dataset,
        tmp_path,
        updates=100_000,
        time_limit_s=1.5,
        freeze_encoder_s=0.5,
        select_scenes=str(tmp_path / "scenes.npz"),
        select_every_s=1e-6,  # score before every update
    )
    trainer = _trainer(cfg, dataset, tmp_path)
    real_score, seen = trainer.selection.score, []

    def score():  # the third encoder scores best; the real AUC is computed too, for the log
        seen.append(_encoder_state(trainer.model))
        return 1.0 + real_score() if len(seen) == 3 else real_score()

    trainer.selection.score = score
    logger = Logger(trainer.run.root, cfg.updates, progress=False, tensorboard=False)
    trainer.fit(logger)
    logger.close()
    assert len(seen) > 3 and trainer.latents is not None
    for k, v in _encoder_state(trainer.model).items():
        torch.testing.assert_close(v, seen[2][k], rtol=0, atol=0, msg=f"encoder {k} is not the best-scored one")
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    aucs = [m["select/auc"] for m in logged if "select/auc" in m]
    assert len(aucs) == len(seen) and all(0 <= a <= 2 for a in aucs)


def test_selection_without_a_freeze_is_refused_by_name(dataset, tmp_path):
    from tests.test_frozen_encoder import _cfg, _trainer

    cfg = _cfg(dataset, tmp_path, select_scenes=str(tmp_path / "scenes.npz"))
    with pytest.raises(ValueError, match="give freeze_encoder_s"):
        _trainer(cfg, dataset, tmp_path)


def test_the_selection_scores_the_learned_dimensions_and_leaves_the_moments_out():
    """A glimpse's moments are fixed: with their weight an untrained encoder would score as well as they do."""
    from agent.config import GoalAgentConfig, ModelConfig
    from train.selection import selection_energy
    from world_model import WorldModel, preset

    cfg = preset("tiny", latent_dim=16, state_latent=4, glimpse=12, glimpse_dims=6, latent_norm="none", moment_gain=20)
    model = WorldModel({"state": (2,), "pixels": (3, 32, 32)}, 2, cfg)
    agent = GoalAgentConfig(inputs="state+pixels", model=ModelConfig(size="tiny"), state_weight=0.0, moment_weight=30)
    assert selection_energy(agent, model).weights.tolist() == [0.0] * 4 + [1.0] * 8 + [0.0] * 4
