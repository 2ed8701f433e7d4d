"""Benchmark: one world-model training step (forward + backward + Adam) at batch 256.

    python -m benchmarks.wm_update [--repeats 20]

For the default state model (walker-walk sizes: S=24, A=6) and the default 64x64 pixel model, at
horizon 3 and 5, with 1 and 2 CPU threads; prints the median (min-max) milliseconds and the parameter
counts. TD-MPC2's update on this CPU, one thread: 816 ms (5M model), 219 ms (1M model).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import machine, timeit
from world_model import Batch, WorldModel, preset

MODELS = {
    "state": ({"state": (24,)}, dict(reward_head=True)),
    "pixels64": ({"pixels": (3, 64, 64)}, dict(reward_head=True)),
    "state-medium": ({"state": (24,)}, dict(reward_head=True)),
    "pixels64-medium": ({"pixels": (3, 64, 64)}, dict(reward_head=True)),
}
TDMPC2_MS = 816.0


def _batch(shapes, horizon: int, batch: int, g: torch.Generator) -> Batch:
    obs = {}
    if "state" in shapes:
        obs["state"] = torch.randn(horizon + 1, batch, *shapes["state"], generator=g)
    if "pixels" in shapes:
        obs["pixels"] = torch.randint(0, 256, (horizon + 1, batch, *shapes["pixels"]), generator=g, dtype=torch.uint8)
    return Batch(obs, torch.rand(horizon, batch, 6, generator=g) * 2 - 1, torch.randn(horizon, batch, generator=g))


def step_fn(wm: WorldModel, opt, batch: Batch, bf16: bool):
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _ = wm.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        wm.update_target()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast (slower on most CPUs)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        "| model | params | horizon | threads | precision | ms per update (median, min-max) | vs TD-MPC2 5M (816 ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for name, (shapes, extra) in MODELS.items():
        size = "medium" if name.endswith("-medium") else "default"
        wm = WorldModel(shapes, 6, preset(size, **extra))
        opt = torch.optim.Adam(wm.parameters(), lr=3e-4)
        params = wm.parameter_counts()["total"]
        for horizon in (3, 5):
            batch = _batch(shapes, horizon, args.batch, g)
            for threads in (1, 2):
                torch.set_num_threads(threads)
                for bf16 in (False, True) if args.bf16 else (False,):
                    t = timeit(step_fn(wm, opt, batch, bf16), args.repeats)
                    ms = {k: v * 1e3 for k, v in t.items()}
                    spread = f"{ms['median']:.1f} ({ms['min']:.1f}-{ms['max']:.1f})"
                    precision = "bf16" if bf16 else "fp32"
                    ratio = TDMPC2_MS / ms["median"]
                    print(
                        f"| {name} | {params:,} | {horizon} | {threads} | {precision} | {spread} | {ratio:.1f}x |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
