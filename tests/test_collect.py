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


class _Centred:
    """A stand-in random stream with no spread and no noise: `scripted_push` then heads straight at its spot."""

    def normal(self, loc, scale, size):
        return np.zeros(size)

    def uniform(self, low, high, size=None):
        return np.zeros(size) if size is not None else 0.0


def test_scripted_push_aims_at_a_spot_of_the_t_turned_with_the_block():
    from envs.tasks.push_t import T_PARTS, random_t_point, scripted_push

    qpos = np.array([0.1, -0.1, np.pi / 2, 0.1, -0.5])  # the T turned a quarter; the pusher below its origin
    centred = scripted_push(_Centred(), np.zeros(2), qpos)
    np.testing.assert_allclose(centred, [0.0, 0.45], atol=1e-6)  # straight up at the origin
    # The bar's right end (0.1, 0.075) lies, turned a quarter, at (-0.075, 0.1) from the origin: up and left.
    off = scripted_push(_Centred(), np.zeros(2), qpos, point=(0.1, 0.075))
    heading = np.array([-0.075, 0.5]) / np.linalg.norm([-0.075, 0.5])
    np.testing.assert_allclose(off, 0.45 * heading, atol=1e-6)
    rng = np.random.default_rng(0)
    points = np.array([random_t_point(rng) for _ in range(2000)])
    inside = np.zeros(len(points), bool)
    for (cx, cy), (hx, hy) in T_PARTS:
        inside |= (np.abs(points[:, 0] - cx) <= hx) & (np.abs(points[:, 1] - cy) <= hy)
    assert inside.all()
    assert 0.5 < (points[:, 1] > 0.05).mean() < 0.65, "the bar holds 4/7 of the T's area"


def test_push_mix_draws_smooth_centred_or_off_centre_pushes_and_off_centre_ones_turn_the_t_more(tmp_path):
    from envs import make_env
    from envs.tasks.push_t import wrap_angle
    from eval.episode import run_episode
    from train.collect import PolicyActor
    from train.policies import POLICIES, TurnPush, push_policy, sim_state, smooth_policy

    kinds = [POLICIES["push-mix"].start(np.random.default_rng(s)) for s in range(400)]
    smooth = sum(k is smooth_policy for k in kinds)
    centred = sum(k is push_policy for k in kinds)
    turning = sum(isinstance(k, TurnPush) for k in kinds)
    assert smooth + centred + turning == 400 and 160 < smooth < 240 and 70 < centred < 130 and 70 < turning < 130
    # The same stream draws the same kinds: push-turn's off-centre episodes are push-mix's pushes.
    turn = [POLICIES["push-turn"].start(np.random.default_rng(s)) for s in range(400)]
    assert [k is smooth_policy for k in turn] == [k is smooth_policy for k in kinds]
    assert all(isinstance(k, TurnPush) for k in turn if k is not smooth_policy)
    turn3 = [POLICIES["push-turn3"].start(np.random.default_rng(s)) for s in range(400)]
    assert [k is smooth_policy for k in turn3] == [k is smooth_policy for k in kinds]
    assert all(isinstance(k, TurnPush) for k, m in zip(turn3, kinds, strict=True) if isinstance(m, TurnPush))
    pushes = sum(k is not smooth_policy for k in turn3)
    assert 0.65 * pushes < sum(isinstance(k, TurnPush) for k in turn3) < 0.85 * pushes
    env = make_env("goal/push-t-block", obs="proprio")
    angles: list[float] = []  # the block's angle after each step (the first step starts clear of the block)

    def record(transition) -> None:
        angles.append(sim_state(env)["qpos"][2])

    turned = {}
    for name, make in (("centred", lambda rng: push_policy), ("off", TurnPush)):
        total = 0.0
        for ep in range(4):
            rng = np.random.default_rng(ep)
            angles.clear()
            run_episode(env, PolicyActor(make(rng), rng, 2, sim=lambda: sim_state(env)), seed=ep, on_step=record)
            total += np.abs(wrap_angle(np.diff(angles))).sum()
        turned[name] = total
    env.close()
    assert turned["off"] > 1.5 * turned["centred"], turned
    with pytest.raises(ValueError, match="written for goal/push-t"):
        collect(_cfg(tmp_path, task="goal/reacher", policy="push-mix"))


def test_push_turn3_slow_paces_half_its_pushes_and_draws_push_turn3s_kinds():
    from train.policies import POLICIES, SLOW_MIN, Paced, TurnPush, push_policy, smooth_policy

    turn3 = [POLICIES["push-turn3"].start(np.random.default_rng(s)) for s in range(400)]
    slow = [POLICIES["push-turn3-slow"].start(np.random.default_rng(s)) for s in range(400)]
    inner = [k.policy if isinstance(k, Paced) else k for k in slow]
    # The kind is drawn first, from the same stream: the same smooth, centred and off-centre episodes.
    assert [k is smooth_policy for k in inner] == [k is smooth_policy for k in turn3]
    assert [k is push_policy for k in inner] == [k is push_policy for k in turn3]
    assert all(isinstance(k, TurnPush) == isinstance(m, TurnPush) for k, m in zip(inner, turn3, strict=True))
    pushes = [k for k in slow if k is not smooth_policy]
    paced = [k for k in pushes if isinstance(k, Paced)]
    assert 0.4 * len(pushes) < len(paced) < 0.6 * len(pushes)
    speeds = np.array([k.speed for k in paced])
    assert speeds.min() >= SLOW_MIN and speeds.max() <= 1 and speeds.std() > 0.15
    assert not any(isinstance(k, Paced) for k in turn3)


def test_paced_policy_is_the_same_push_scaled_to_its_top_speed():
    from envs.tasks.push_t import scripted_push
    from train.policies import Paced, push_policy

    qpos = np.array([0.1, -0.1, np.pi / 2, 0.1, -0.5])
    previous = np.array([0.3, -0.1], np.float32)
    paced = Paced(push_policy, 0.5)
    # With no spread and no noise the push heads straight at the T; paced, it is the push from previous / 0.5,
    # halved, so that its momentum carries in its own units.
    np.testing.assert_allclose(
        paced(_Centred(), previous, {"qpos": qpos}), 0.5 * scripted_push(_Centred(), previous / 0.5, qpos), atol=1e-6
    )
    rng = np.random.default_rng(0)
    action = np.zeros(2, np.float32)
    for _ in range(50):  # full-force noise and momentum never take it past its top speed
        action = paced(rng, action, {"qpos": qpos})
        assert np.abs(action).max() <= 0.5 + 1e-6
    assert paced.needs_sim
    with pytest.raises(ValueError, match=r"speed must be in \(0, 1\], got 0"):
        Paced(push_policy, 0)
