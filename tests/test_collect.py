"""Datasets: round trip, atomic episodes, resume after kill -9, reproducibility across worker counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from train.collect import CollectConfig, collect
from train.dataset import EpisodeStore


def _cfg(out, **kw) -> CollectConfig:
    base = dict(task="goal/two-rooms", episodes=3, out=str(out), obs="state", progress=False)
    return CollectConfig(**{**base, **kw})


def _assert_same(a: EpisodeStore, b: EpisodeStore) -> None:
    assert a.indices() == b.indices()
    for i in a.indices():
        x, y = a.read(i), b.read(i)
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_round_trip_pixels_stay_uint8(tmp_path):
    store = collect(_cfg(tmp_path, episodes=2, obs="state+pixels", size=32))
    assert store.indices() == [0, 1]
    ep = EpisodeStore(tmp_path).read(0)
    steps = len(ep["action"])
    assert ep["pixels"].shape == (steps + 1, 3, 32, 32) and ep["pixels"].dtype == np.uint8
    assert ep["state"].shape == (steps + 1, 4) and ep["state"].dtype == np.float32
    assert ep["truncated"][-1] and not ep["truncated"][:-1].any()
    assert np.all(np.abs(ep["action"]) <= 1) and ep["env_steps"].sum() == 2 * steps
    assert "goal" not in ep, "reward-free datasets never store the goal"


def test_settings_mismatch_is_refused(tmp_path):
    collect(_cfg(tmp_path, episodes=1))
    with pytest.raises(ValueError, match="other settings"):
        collect(_cfg(tmp_path, episodes=1, policy="smooth"))


def test_unknown_policy(tmp_path):
    with pytest.raises(ValueError, match="random, smooth"):
        collect(_cfg(tmp_path, policy="expert"))


def test_workers_do_not_change_the_data(tmp_path):
    one = collect(_cfg(tmp_path / "one", episodes=3, workers=1))
    two = collect(_cfg(tmp_path / "two", episodes=3, workers=2))
    vector = collect(_cfg(tmp_path / "vector", episodes=3, workers=2, vector=True))
    _assert_same(one, two)
    _assert_same(one, vector)


def test_killed_collection_resumes_without_loss_or_duplicates(tmp_path):
    reference = collect(_cfg(tmp_path / "ref", episodes=40))
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "train.collect",
        "task=goal/two-rooms",
        "episodes=40",
        f"out={out}",
        "obs=state",
        "progress=false",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "episodes").glob("ep_*.npz"))) < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(EpisodeStore(out).indices())
    assert 3 <= partial < 40, "the kill should land mid-collection"
    resumed = collect(_cfg(out, episodes=40))
    _assert_same(reference, resumed)


def test_push_policy_moves_the_block_and_is_refused_where_it_cannot_work(tmp_path):
    store = collect(_cfg(tmp_path / "push", task="goal/push-t", episodes=2, policy="push"))
    for i in store.indices():
        block = store.read(i)["state"][:, 2:4]  # state: pusher (2), block x, y, cos, sin, velocities
        assert np.linalg.norm(block[-1] - block[0]) > 0.05, "the scripted policy makes contact and pushes"
    with pytest.raises(ValueError, match="written for goal/push-t"):
        collect(_cfg(tmp_path / "reacher", task="goal/reacher", policy="push"))
    with pytest.raises(ValueError, match="vector=false"):
        collect(_cfg(tmp_path / "vector", task="goal/push-t", policy="push", vector=True, workers=2))


def test_push_smooth_draws_push_or_smooth_per_episode_from_the_episode_stream(tmp_path):
    from envs.tasks.push_t import scripted_push
    from train.dataset import episode_rng
    from train.policies import POLICIES, smooth_policy

    store = collect(_cfg(tmp_path, task="goal/push-t", episodes=6, policy="push-smooth"))
    kinds = []
    for i in store.indices():
        ep = store.read(i)
        rng = episode_rng(0, i)
        kind = POLICIES["push-smooth"].start(rng)
        kinds.append(kind is smooth_policy)
        # The first recorded action is the drawn policy's, from the rest of the episode's stream.
        pusher, (x, y, cos, sin) = ep["state"][0, :2], ep["state"][0, 2:6]
        qpos = np.array([x, y, np.arctan2(sin, cos), *pusher])
        first = smooth_policy(rng, np.zeros(2), {}) if kinds[-1] else scripted_push(rng, np.zeros(2), qpos)
        np.testing.assert_allclose(ep["action"][0], first, atol=1e-5)
    assert any(kinds) and not all(kinds), "six episodes hold both kinds"
    with pytest.raises(ValueError, match="written for goal/push-t"):
        collect(_cfg(tmp_path / "reacher", task="goal/reacher", policy="push-smooth"))
