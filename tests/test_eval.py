"""Evaluation: the episode loop, statistics, videos, curves and the eval command end to end."""

from __future__ import annotations

import json

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

from eval.curves import CurveWriter, comparison, markdown_table, plot, read_curves, reference_path
from eval.episode import run_episode
from eval.evaluate import EvalConfig, evaluate
from eval.stats import iqm, summarize
from eval.suites import resolve
from eval.video import VideoRecorder, tile, write_video


class CountingEnv(gym.Env):
    """Reward = step index; ends after `length` steps; 'success' once the counter passes `goal_at`."""

    observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)})
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, length=5, goal_at=None, terminate=False):
        self.length, self.goal_at, self.terminate = length, goal_at, terminate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return {"state": np.zeros(1, np.float32)}, {}

    def step(self, action):
        self.t += 1
        info = {"env_steps": 2}
        if self.goal_at is not None:
            info.update(success=self.t >= self.goal_at, goal_distance=max(0, self.goal_at - self.t))
        done = self.t >= self.length
        obs = {"state": np.full(1, self.t, np.float32)}
        return obs, float(self.t), done and self.terminate, done and not self.terminate, info

    def render(self):
        frame = np.zeros((32, 48, 3), np.uint8)
        frame[:, : self.t] = 200
        return frame


class ConstantAgent:
    def __init__(self):
        self.resets, self.calls = 0, 0

    def reset(self):
        self.resets += 1

    def act(self, obs, *, goal=None, explore=False):
        self.calls += 1
        return np.zeros(1, np.float32)


def test_run_episode_counts_and_success():
    agent, steps = ConstantAgent(), []
    ep = run_episode(CountingEnv(length=5), agent, seed=3, on_step=steps.append)
    assert (ep.length, ep.env_steps, ep.total_return, ep.success) == (5, 10, 15.0, None)
    assert agent.resets == 1 and agent.calls == 5 and len(steps) == 5
    assert steps[-1].truncated and not steps[-1].terminated and steps[0].next_obs["state"][0] == 1
    goal = run_episode(CountingEnv(length=6, goal_at=4, terminate=True), ConstantAgent(), seed=0)
    assert goal.success and goal.ever_success and goal.final_distance == 0
    assert goal.first_success == 4  # success came with the fourth decision's state
    miss = run_episode(CountingEnv(length=3, goal_at=4), ConstantAgent(), seed=0)
    assert miss.success is False and miss.ever_success is False and miss.final_distance == 1
    assert miss.first_success is None


def test_summary_statistics_by_hand():
    rows = [
        {"run_seed": 0, "total_return": 1.0, "success": True},
        {"run_seed": 0, "total_return": 3.0, "success": False},
        {"run_seed": 1, "total_return": 5.0, "success": True},
        {"run_seed": 1, "total_return": 7.0, "success": True},
    ]
    s = summarize(rows)
    assert s["episodes"] == 4 and s["seeds"] == 2
    assert s["mean"] == pytest.approx(4.0)  # mean of per-seed means 2 and 6
    assert s["std"] == pytest.approx(np.std([2.0, 6.0], ddof=1))
    assert s["iqm"] == pytest.approx(4.0)  # middle two of 1, 3, 5, 7
    assert s["iqm_ci"][0] <= s["iqm"] <= s["iqm_ci"][1]
    assert s["success_rate"] == pytest.approx(0.75)
    assert iqm(list(range(8))) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_video_records_frames_and_reads_back(tmp_path):
    path = tmp_path / "videos" / "ep.mp4"
    env = CountingEnv(length=7, goal_at=10)
    run_episode(env, ConstantAgent(), seed=0, recorder=VideoRecorder(path, fps=10))
    frames = imageio.mimread(path, memtest=False)
    assert len(frames) == 8  # the reset frame and one per step
    assert frames[0].shape == (32, 48, 3)
    gif = write_video(tmp_path / "ep.gif", [np.full((16, 16, 3), i * 20, np.uint8) for i in range(5)])
    assert len(imageio.mimread(gif)) == 5
    grid = tile([[np.zeros((4, 6, 3), np.uint8)] * 3, [np.ones((4, 6, 3), np.uint8)] * 2, [np.zeros((4, 6, 3))] * 1])
    assert len(grid) == 3 and grid[0].shape == (8, 12, 3)
    with pytest.raises(ValueError, match=".mp4 or .gif"):
        write_video(tmp_path / "x.avi", grid)


def test_curves_and_comparison_table(tmp_path):
    writer = CurveWriter(tmp_path / "a.csv")
    for seed, values in ((0, [10.0, 500.0]), (1, [20.0, 700.0])):
        for step, v in zip((0, 100_000), values, strict=True):
            writer.add(step, v, seed)
    curve, metric = read_curves([tmp_path / "a.csv"])
    assert metric == "reward" and curve[1] == [(0, 20.0), (100_000, 700.0)]
    rows = comparison(curve, "dmc/walker-walk", [100_000])
    assert rows[0].ours == [500.0, 700.0]
    ref, _ = read_curves([reference_path("tdmpc2", "dmc/walker-walk")])
    expected = sorted(v for points in ref.values() for s, v in points if s == 100_000)
    assert sorted(rows[0].theirs["tdmpc2"]) == expected and len(expected) == 3
    table = markdown_table(rows)
    assert "| 100,000 | 600.0 ± 100.0 (n=2) |" in table and "tdmpc2" in table
    png = plot(curve, "dmc/walker-walk", tmp_path / "plot.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_suites_resolve():
    assert ("dmc/walker-walk", "state") in resolve("dmc-core")
    goal_tasks = ("goal/push-t", "goal/push-t-block", "goal/push-t-block-aa", "goal/reacher", "goal/two-rooms")
    assert resolve("goal") == [(t, "pixels") for t in goal_tasks]
    assert resolve("dmc/walker-walk,dmc/cheetah-run", obs="pixels") == [
        ("dmc/walker-walk", "pixels"),
        ("dmc/cheetah-run", "pixels"),
    ]
    with pytest.raises(KeyError, match="dmc-core"):
        resolve("dmc-cor")


def test_random_agent_on_dm_control_end_to_end(tmp_path):
    cfg = EvalConfig(
        task="dmc/cartpole-swingup",
        episodes=2,
        seeds=[0, 1],
        video=1,
        render_size=64,
        out=str(tmp_path),
        progress=False,
    )
    summary = evaluate(cfg)
    task = summary["tasks"]["dmc/cartpole-swingup"]
    assert task["episodes"] == 4 and task["seeds"] == 2 and 0 < task["mean"] < 400
    rows = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["env_steps"] == 1000 for r in rows)
    for seed in (0, 1):
        video = tmp_path / "videos" / "dmc_cartpole-swingup" / f"seed{seed}_ep0.mp4"
        frames = imageio.mimread(video, memtest=False)
        assert len(frames) == 501 and frames[0].shape == (64, 64, 3)
    assert "dmc/cartpole-swingup" in (tmp_path / "summary.md").read_text()
    saved = json.loads((tmp_path / "summary.json").read_text())["settings"]  # the command that made it
    assert saved["task"] == "dmc/cartpole-swingup" and saved["seeds"] == [0, 1] and saved["samples"] is None
    again = evaluate(EvalConfig(**{**cfg.__dict__, "video": 0, "out": str(tmp_path / "again")}))
    assert again["tasks"]["dmc/cartpole-swingup"]["mean"] == task["mean"], "evaluation is seeded"


def test_goal_task_video_shows_goal_beside_frame(tmp_path):
    from envs import make_env

    env = make_env("goal/two-rooms", obs="state", render_size=48)
    path = tmp_path / "goal.mp4"
    ep = run_episode(env, ConstantAgent2D(), seed=0, recorder=VideoRecorder(path))
    frames = imageio.mimread(path, memtest=False)
    assert frames[0].shape == (48, 96, 3), "live frame and goal side by side"
    assert ep.success is not None and ep.final_distance > 0
    assert ep.final_errors and next(iter(ep.final_errors.values())) == ep.final_distance
    env.close()


class ConstantAgent2D(ConstantAgent):
    def act(self, obs, *, goal=None, explore=False):
        return np.zeros(2, np.float32)


class ImaginingAgent(ConstantAgent):
    """Shows an imagined plan only from its second action on, as a planning agent does."""

    def imagined_frames(self):
        return None if self.calls < 2 else np.full((3, 8, 8, 3), 200, np.uint8)


def test_video_with_imagined_panel_appearing_mid_episode(tmp_path):
    path = tmp_path / "imagined.mp4"
    run_episode(CountingEnv(length=4), ImaginingAgent(), seed=0, recorder=VideoRecorder(path))
    frames = imageio.mimread(path, memtest=False)
    assert len(frames) == 5 and {f.shape for f in frames} == {(32, 80, 3)}  # frame + 32-wide imagined panel


def test_goal_summary_reports_success_at_the_end_and_reached_at_any_step(tmp_path):
    from eval.evaluate import write_results

    row = {"task": "goal/push-t", "obs": "pixels", "run_seed": 0, "total_return": 0.0, "ms_per_action": 50.0}
    rows = [
        {
            **row,
            "episode": 0,
            "success": True,
            "ever_success": True,
            "first_success": 30,
            "final_distance": 0.01,
            "final_errors": {"angle": 0.1},
        },
        {
            **row,
            "episode": 1,
            "success": False,
            "ever_success": True,
            "first_success": 55,
            "final_distance": 0.05,
            "final_errors": {"angle": 0.3},
        },
        {**row, "episode": 2, "success": False, "ever_success": False, "first_success": None, "final_distance": 0.3},
        {**row, "episode": 3, "success": False, "ever_success": False, "first_success": None, "final_distance": 0.2},
    ]
    task = write_results(tmp_path, rows, wall=1.0, budget=40)["tasks"]["goal/push-t"]
    assert task["success_rate"] == 0.25 and task["reached_rate"] == 0.5
    assert task["budget"] == 40 and task["reached_in_budget_rate"] == 0.25  # episode 1 got there after 55
    assert task["final_errors"] == {"angle": pytest.approx(0.2)}  # over the episodes that report errors
    text = (tmp_path / "summary.md").read_text()
    assert "| 0.25 ± 0.00 | 0.50 | 0.140 |" in text and "final errors (mean): angle 0.200" in text
    assert "some step of the first 40 decisions (the peers' protocol): 0.25" in text
    # Rows from before `first_success` was recorded cannot answer a budget, and say so.
    with pytest.raises(ValueError, match="budget= needs episodes that record first_success"):
        write_results(tmp_path, [{k: v for k, v in r.items() if k != "first_success"} for r in rows], 1.0, budget=40)
