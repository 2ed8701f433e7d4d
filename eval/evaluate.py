"""The eval command: an agent x tasks (or a suite) x seeds x episodes, in parallel workers.

    python -m eval.evaluate task=dmc/walker-walk episodes=10 seeds=[0,1,2] workers=2
    python -m eval.evaluate task=goal checkpoint=runs/reacher/checkpoints/latest.pt video=2
    python -m eval.evaluate task=goal/push-t-block obs=proprio+pixels checkpoint=<a>.pt ensemble=[<b>.pt]
    python -m eval.evaluate task=goal/push-t obs=state checkpoint=<ck> budget=40   # + the peers' protocol

Results folder (`out`):
    episodes.jsonl                      one line per episode (task, obs, run_seed, episode, seed, return, ...)
    summary.json                        per task: mean, std, IQM [95% CI over seeds], success rate (the
                                        final state in tolerance), reached rate (any state was), final
                                        distance; the machine, the wall time and the command's settings;
                                        with `budget=N`, the rate within tolerance at some step of the first
                                        N decisions (the protocol of LeWM's and DINO-WM's Push-T figures)
    summary.md                          the same as a Markdown table
    videos/<task>/seed<S>_ep<E>.mp4     recorded episodes (`video` per task and seed)
    videos/<task>/seed<S>_tiled.mp4     with `tile=true`, those episodes tiled in one video
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import imageio.v2 as imageio
import numpy as np
from tqdm import tqdm

from agent.planning import Planning
from envs import make_env
from eval.episode import run_episode
from eval.machine import machine
from eval.stats import summarize
from eval.suites import resolve
from eval.video import VideoRecorder, tile, write_video


@dataclass(frozen=True)
class EvalConfig:
    """Settings of `python -m eval.evaluate` (field names are the command-line keys).

    `device`: where checkpoints' agents plan: `auto` (CUDA when present, else the CPU), `cpu`, `cuda`,
    `cuda:1`, ... Each worker process loads its own copy there. Random agents ignore it.

    The keys from `planner` to `adapt_pull` are `agent.planning.Planning`'s: each replaces a goal checkpoint's
    saved planning setting (None keeps it); `ensemble` names further checkpoints that plan beside `checkpoint`.
    """

    task: str = "dmc/walker-walk"
    obs: str | None = None
    checkpoint: str | None = None
    planner: str | None = None
    horizon: int | None = None
    energy_steps: str | None = None
    waypoints: bool | None = None
    state_weight: float | None = None
    glimpse_weight: float | None = None
    moment_weight: float | None = None
    first_order_weight: float | None = None
    samples: int | None = None
    iterations: int | None = None
    noise_beta: float | None = None
    action_cost: float | None = None
    hold_energy: float | None = None
    execute: int | None = None
    drift_correction: bool | None = None
    hold_pose: list[float] | None = None
    cem_result: str | None = None
    perturbations: int | None = None
    perturbation_std: float | None = None
    adapt_steps: int | None = None
    adapt_lr: float | None = None
    adapt_pull: float | None = None
    ensemble: list[str] = field(default_factory=list)
    budget: int = 0
    episodes: int = 10
    seeds: list[int] = field(default_factory=lambda: [0])
    workers: int = 1
    video: int = 0
    video_format: str = "mp4"
    tile: bool = False
    render_size: int = 256
    render_quality: str = "video"
    out: str = "eval_results"
    progress: bool = True
    device: str = "auto"


@dataclass(frozen=True)
class Job:
    task: str
    obs: str
    run_seed: int
    episode: int
    checkpoint: str | None
    video: str | None
    render_size: int
    render_quality: str = "video"
    size: int = 64
    action_repeat: int | None = None
    planning: Planning = Planning()
    ensemble: tuple[str, ...] = ()
    device: str = "cpu"


def episode_seed(run_seed: int, episode: int) -> int:
    """The env seed of evaluation episode `episode` of seed `run_seed` (never a training seed)."""
    return int(np.random.SeedSequence([run_seed, episode, 0xE7A1]).generate_state(1)[0])


def task_slug(task: str) -> str:
    return task.replace("/", "_")


_CACHE: dict = {}  # per worker process: (task, obs, sizes, action repeat) -> env
_AGENT: dict = {}  # per worker process: the last agent loaded, under "key" and "agent"


def make_agent(
    checkpoint: str | None,
    env,
    seed: int,
    planning: Planning | None = None,
    device: str = "cpu",
    ensemble: tuple[str, ...] = (),
):
    """A random agent, or the agent saved in `checkpoint` on `device` (`auto`: CUDA when present), with
    `planning` in place of its saved settings where given."""
    if checkpoint is None:
        if ensemble:
            raise ValueError("ensemble= lists models that plan beside checkpoint=; give checkpoint= as well")
        from agent.random_agent import RandomAgent

        return RandomAgent(env.action_space.shape[0], rng=np.random.default_rng(seed))
    from agent.checkpoint import load_agent
    from train.run_dir import resolve_device

    return load_agent(checkpoint, env, seed=seed, device=resolve_device(device), planning=planning, ensemble=ensemble)


def run_job(job: Job) -> dict:
    """One evaluation episode (in a worker process); returns its summary row."""
    key = (job.task, job.obs, job.render_size, job.render_quality, job.size, job.action_repeat)
    if key not in _CACHE:
        _CACHE[key] = make_env(
            job.task,
            obs=job.obs,
            size=job.size,
            action_repeat=job.action_repeat,
            render_size=job.render_size,
            render_quality=job.render_quality,
        )
    env = _CACHE[key]
    seed = episode_seed(job.run_seed, job.episode)
    # The checkpoint's modification time is part of the key: training rewrites the same file between
    # evaluations, and the worker must plan with the new one.
    stamps = [os.stat(p).st_mtime_ns for p in ((job.checkpoint,) if job.checkpoint else ()) + job.ensemble]
    agent_key = (job.checkpoint, *stamps, job.task, job.obs, job.device, job.planning, job.ensemble)
    if _AGENT.get("key") != agent_key:
        agent = make_agent(job.checkpoint, env, seed, job.planning, job.device, job.ensemble)
        _AGENT.update(key=agent_key, agent=agent)
    agent = _AGENT["agent"]
    reseed(agent, seed)
    recorder = VideoRecorder(job.video) if job.video else None
    start = time.perf_counter()
    episode = run_episode(env, agent, seed=seed, recorder=recorder)
    row = {"task": job.task, "obs": job.obs, "run_seed": job.run_seed, "episode": job.episode, **episode.summary()}
    row["wall_s"] = time.perf_counter() - start
    row["ms_per_action"] = 1e3 * row["wall_s"] / max(episode.length, 1)  # planning + env step + rendering
    return row


def reseed(agent, seed: int) -> None:
    """Reseed an agent's randomness for an episode: each episode's agent randomness then depends on its
    own seed only, whichever worker (or loop) runs it, without reloading the agent."""
    if hasattr(agent, "rng"):
        agent.rng = np.random.default_rng(seed)
    if hasattr(agent, "generator"):
        agent.generator.manual_seed(seed)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes that run `run_job` (spawned: safe with threads and CUDA in the parent), one torch thread each."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init)


def jobs_for(cfg: EvalConfig, out: pathlib.Path) -> list[Job]:
    jobs, planning = [], Planning.of(cfg)
    for task, obs in resolve(cfg.task, cfg.obs):
        for run_seed in cfg.seeds:
            for ep in range(cfg.episodes):
                video = None
                if ep < cfg.video:
                    video = str(out / "videos" / task_slug(task) / f"seed{run_seed}_ep{ep}.{cfg.video_format}")
                jobs.append(
                    Job(
                        task,
                        obs,
                        run_seed,
                        ep,
                        cfg.checkpoint,
                        video,
                        cfg.render_size,
                        cfg.render_quality,
                        planning=planning,
                        ensemble=tuple(cfg.ensemble),
                        device=cfg.device,
                    )
                )
    return jobs


def evaluate(cfg: EvalConfig) -> dict:
    """Run every job, write the results folder, and return the summary."""
    out = pathlib.Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = jobs_for(cfg, out)
    start = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="eval", unit="ep", disable=not cfg.progress)
    rows = []
    if cfg.workers <= 1:
        for job in jobs:
            rows.append(run_job(job))
            bar.update(1)
    else:
        with worker_pool(cfg.workers) as pool:
            for row in pool.map(run_job, jobs):
                rows.append(row)
                bar.update(1)
    bar.close()
    wall = time.perf_counter() - start
    if cfg.tile and cfg.video:
        _tile_videos(jobs, cfg)
    return write_results(out, rows, wall, settings=dataclasses.asdict(cfg), budget=cfg.budget)


def _tile_videos(jobs: list[Job], cfg: EvalConfig) -> None:
    groups: dict[pathlib.Path, list[str]] = {}
    for job in jobs:
        if job.video:
            path = pathlib.Path(job.video)
            groups.setdefault(path.with_name(f"seed{job.run_seed}_tiled.{cfg.video_format}"), []).append(job.video)
    for target, paths in groups.items():
        videos = [list(imageio.mimread(p, memtest=False)) for p in paths]
        write_video(target, tile(videos))


def reached_within(rows: list[dict], budget: int) -> float:
    """The share of goal episodes `rows` within tolerance at some step of their first `budget` decisions."""
    if any("first_success" not in r for r in rows):
        raise ValueError("budget= needs episodes that record first_success (evaluated by this version)")
    return float(np.mean([r["first_success"] is not None and r["first_success"] <= budget for r in rows]))


def write_results(
    out: pathlib.Path, rows: list[dict], wall: float, settings: dict | None = None, budget: int = 0
) -> dict:
    """Write `episodes.jsonl`, `summary.json` (with the command's `settings`, where given) and `summary.md`.

    `budget` > 0 adds each goal task's rate of episodes within tolerance at some step of their first
    `budget` decisions: the protocol behind LeWM's and DINO-WM's Push-T figures in stable-worldmodel
    (an episode ends at its first success within a budget of twice the goal's distance in steps).
    """
    with (out / "episodes.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    summary: dict = {"machine": machine(), "wall_time_s": wall, "tasks": {}}
    if settings is not None:
        summary["settings"] = settings
    for task in dict.fromkeys(r["task"] for r in rows):
        task_rows = [r for r in rows if r["task"] == task]
        summary["tasks"][task] = {
            "obs": task_rows[0]["obs"],
            **summarize(task_rows),
            "ms_per_action": float(np.mean([r["ms_per_action"] for r in task_rows])),
        }
        distances = [r["final_distance"] for r in task_rows if r.get("final_distance") is not None]
        if distances:
            summary["tasks"][task]["final_distance"] = float(np.mean(distances))
        errors = [r["final_errors"] for r in task_rows if r.get("final_errors")]
        if errors:  # each error's mean at the end, e.g. push-t's angle beside its position
            summary["tasks"][task]["final_errors"] = {k: float(np.mean([e[k] for e in errors])) for k in errors[0]}
        reached = [r["ever_success"] for r in task_rows if r.get("ever_success") is not None]
        if reached:  # within tolerance at some step, where `success` asks for the final state
            summary["tasks"][task]["reached_rate"] = float(np.mean(reached))
        if budget and reached:
            summary["tasks"][task]["budget"] = budget
            summary["tasks"][task]["reached_in_budget_rate"] = reached_within(task_rows, budget)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown(summary))
    return summary


def markdown(summary: dict) -> str:
    lines = [
        "| task | obs | episodes | seeds | return mean ± std | IQM [95% CI] | success | reached | final distance "
        "| ms/action |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task, s in summary["tasks"].items():
        success = f"{s['success_rate']:.2f} ± {s['success_std']:.2f}" if "success_rate" in s else "-"
        reached = f"{s['reached_rate']:.2f}" if "reached_rate" in s else "-"
        lines.append(
            f"| {task} | {s['obs']} | {s['episodes']} | {s['seeds']} | {s['mean']:.1f} ± {s['std']:.1f} | "
            f"{s['iqm']:.1f} [{s['iqm_ci'][0]:.1f}, {s['iqm_ci'][1]:.1f}] | {success} | {reached} | "
            f"{s.get('final_distance', float('nan')):.3f} | {s['ms_per_action']:.1f} |"
        )
    for task, s in summary["tasks"].items():
        if "budget" in s:
            lines.append(
                f"\n{task} within tolerance at some step of the first {s['budget']} decisions (the peers' protocol): "
                f"{s['reached_in_budget_rate']:.2f}"
            )
        if "final_errors" in s:
            errors = ", ".join(f"{k} {v:.3f}" for k, v in s["final_errors"].items())
            lines.append(f"\n{task} final errors (mean): {errors}")
    lines.append(f"\nmachine: {summary['machine']}; wall time {summary['wall_time_s']:.1f} s")
    return "\n".join(lines) + "\n"


def main() -> None:
    from eval.app import run_app

    def body(cfg: EvalConfig) -> None:
        summary = evaluate(cfg)
        print(markdown(summary))
        print(f"results in {cfg.out}")

    run_app("evaluate", EvalConfig, body, pathlib.Path(__file__).with_name("conf"))


if __name__ == "__main__":
    main()
