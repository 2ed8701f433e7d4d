"""The phantom-push table (`benchmarks.push_t_predicted_moves`): which starts count as still, moved, phantom or
missed, and that true and predicted moves are taken between the right frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.objectives import PoseReached
from benchmarks.push_t_moments import UNITS_PER_COORD
from benchmarks.push_t_predicted_moves import episode_moves, move_stats
from tests.test_glimpse import L_SHAPE, _model, _scene


def test_move_stats_counts_phantom_and_missed_pushes():
    true_move = np.array([0.0, 0.0, 0.0, 0.0, 0.02, 0.02, 0.003])  # four still, two moved, one in between
    predicted = np.array([0.0, 0.001, 0.006, 0.02, 0.019, 0.004, 0.0])
    error = np.array([0.0, 0.001, 0.006, 0.02, 0.001, 0.016, 0.003])
    s = move_stats(true_move, predicted, error)
    assert (s["starts"], s["still"], s["moved"]) == (7, 4, 2)
    assert s["phantom"] == pytest.approx(0.5)  # 0.006 and 0.02 predicted where nothing moved
    assert s["missed"] == pytest.approx(0.5)  # 0.004 predicted for a move of 0.02
    assert s["moved_rms_error"] == pytest.approx(np.sqrt((0.001**2 + 0.016**2) / 2))
    assert s["still_predicted_median"] == pytest.approx(0.0035)


def test_episode_moves_compares_each_start_with_the_frame_steps_later():
    model = _model(latent_norm="none", moment_gain=5.0, moment_orders=[1, 3], glimpse_dims=8, history=2)
    frames = [_scene(L_SHAPE, 4, 6)] * 4 + [_scene(L_SHAPE, 12, 10)] * 4  # the block moves between frames 3 and 4
    episode = {"state": np.zeros((8, 2), np.float32), "pixels": torch.stack(frames).numpy()}
    episode["action"] = np.zeros((7, 2), np.float32)
    pose = PoseReached(model.cfg.moment_orders, model.cfg.moment_gain, 1.0, 1.0)
    with torch.no_grad():
        z = model.encode({"state": torch.zeros(8, 2), "pixels": torch.stack(frames)})
    shift = float(pose.errors(z[4], z[3])[0]) * UNITS_PER_COORD
    assert shift > 0.05

    for steps in (1, 2):
        starts = np.arange(1, 8 - steps)  # the first frame is the second's past (history 2)

        def oracle(z0, actions, past, starts=starts):  # predicts exactly the frames len(actions) later
            assert torch.equal(z0, z[starts]) and torch.equal(past[0], z[starts - 1])
            return torch.stack([z0, *[z[starts + j + 1] for j in range(len(actions))]])

        model.rollout = oracle
        true_move, predicted, error, turn = episode_moves(model, pose, episode, steps)
        expected = np.array([shift if s <= 3 < s + steps else 0.0 for s in starts])  # those spanning frame 3 -> 4
        np.testing.assert_allclose(true_move, expected, atol=1e-5)
        np.testing.assert_allclose(predicted, expected, atol=1e-5)
        np.testing.assert_allclose(error, 0.0, atol=1e-6)
        np.testing.assert_allclose(turn, 0.0, atol=1e-4)
