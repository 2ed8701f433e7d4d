"""Benchmark: dm_control's own step against our env layer, and collection throughput.

    python -m benchmarks.env_speed [--steps 3000]

Prints steps per second (control steps) of dm_control's `env.step` and of `make_env(...).step` with
action repeat 1 (state, and 64x64 pixels) for walker-walk, cheetah-run and reacher-easy, measured
interleaved in one process so that machine noise hits both; then collection throughput with 1 and 2
worker processes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from benchmarks.common import machine  # noqa: E402
from envs import make_env  # noqa: E402
from train.collect import CollectConfig, collect  # noqa: E402

TASKS = {
    "walker-walk": ("walker", "walk"),
    "cheetah-run": ("cheetah", "run"),
    "reacher-easy": ("reacher", "easy"),
}


def _rate(step, reset, steps: int) -> float:
    reset()
    start = time.perf_counter()
    for _ in range(steps):
        if step():
            reset()
    return steps / (time.perf_counter() - start)


def _raw(domain: str, task: str, steps: int) -> float:
    from dm_control import suite

    env = suite.load(domain, task, task_kwargs={"random": 0})
    spec = env.action_spec()
    actions = np.random.default_rng(0).uniform(spec.minimum, spec.maximum, (steps, *spec.shape))
    it = iter(actions)
    return _rate(lambda: env.step(next(it)).last(), env.reset, steps)


def _ours(name: str, obs: str, steps: int) -> float:
    env = make_env(f"dmc/{name}", obs=obs, action_repeat=1)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, *env.action_space.shape)).astype(np.float32)
    it = iter(actions)

    def step() -> bool:
        _, _, terminated, truncated, _ = env.step(next(it))
        return terminated or truncated

    rate = _rate(step, lambda: env.reset(seed=0), steps)
    env.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pixel-steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--episodes", type=int, default=40, help="collection: state episodes (pixels: a quarter)")
    parser.add_argument("--only-collection", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        "| task | dm_control steps/s (best) | ours state steps/s (best) | overhead, median of paired runs "
        "| overhead, best vs best | ours pixels 64x64 steps/s |"
    )
    print("|---|---|---|---|---|---|")
    for name, (domain, task) in {} if args.only_collection else TASKS.items():
        raw, ours = [], []
        for _ in range(args.repeats):  # interleaved pairs: machine noise hits both sides of a pair alike
            raw.append(_raw(domain, task, args.steps))
            ours.append(_ours(name, "state", args.steps))
        pixels = _ours(name, "pixels", args.pixel_steps)
        paired = float(np.median([r / o for r, o in zip(raw, ours, strict=True)])) - 1
        best = max(raw) / max(ours) - 1
        print(
            f"| {name} | {max(raw):,.0f} | {max(ours):,.0f} | {paired:+.0%} | {best:+.0%} | {pixels:,.0f} |", flush=True
        )
    raw = max(_raw("walker", "walk", args.steps) for _ in range(5))
    print(f"\ndm_control walker-walk alone, same moment: {raw:,.0f} control steps/s (best of 5)")
    print("\n| collection (walker-walk, random policy, start-up incl.) | episodes | workers | steps/s | vs raw |")
    print("|---|---|---|---|---|")
    for obs, episodes in (("state", args.episodes), ("pixels", max(2, args.episodes // 4))):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                cfg = CollectConfig(
                    task="dmc/walker-walk",
                    episodes=episodes,
                    out=out,
                    obs=obs,
                    workers=workers,
                    progress=False,
                )
                start = time.perf_counter()
                collect(cfg)
                rate = episodes * 1000 / (time.perf_counter() - start)
            print(f"| {obs} | {episodes} | {workers} | {rate:,.0f} | {rate / raw:.0%} |", flush=True)


if __name__ == "__main__":
    main()
