"""Benchmark: the cost of one agent decision in online training (plan one action + one update).

    python -m benchmarks.decision_cost [--task dmc/cartpole-swingup] [--decisions 40] [--rounds 7] [--bf16]

Times the default reward-driven agent at the task's sizes on made-up observations and batches, in the
ways a 2-core CPU can run it, interleaved round by round so that machine noise hits every way alike:

- sequential, N threads: plan, then update, torch using N intra-op threads (the loop without overlap);
- overlapped, 1 thread each: the world-model step in a background thread while the caller plans and
  trains the policy prior (`overlap=true`, the default), for each `policy_batch` given;
- with `--bf16`, the overlapped way and every `--size` again with the updates under bf16 autocast
  (`precision=bf16`; planning stays fp32), which CPUs with AMX run several times faster per product.

Prints the median (min-max) milliseconds per decision, the same for planning alone (evaluation), and the
projected wall time of a 100k-step run (50k decisions at action repeat 2, plus 10 evaluations of 10
episodes of 500 decisions) against TD-MPC2's ~1.7 s per decision on one core of this kind of CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch

from agent.config import RewardAgentConfig
from agent.factory import build_reward_agent, make_generator
from benchmarks.common import machine
from envs import make_env
from train.accel import autocast
from world_model import Batch

TDMPC2_S_PER_DECISION = 1.7


def _batches(obs_dim: int, action_dim: int, cfg: RewardAgentConfig, n: int, g: torch.Generator) -> list[Batch]:
    T, B = cfg.horizon, cfg.batch_size
    return [
        Batch(
            {"state": torch.randn(T + 1, B, obs_dim, generator=g)},
            torch.rand(T, B, action_dim, generator=g) * 2 - 1,
            torch.randn(T, B, generator=g),
        )
        for _ in range(n)
    ]


def _agent(obs_dim: int, action_dim: int, cfg: RewardAgentConfig, overlap: bool, precision: str = "fp32"):
    torch.manual_seed(0)
    agent = build_reward_agent(
        cfg, {"state": (obs_dim,)}, action_dim, device="cpu", generator=make_generator("cpu", 0), discount=0.99
    )
    agent.autocast = autocast(torch.device("cpu"), precision)
    if overlap:
        agent.overlap(make_generator("cpu", 1))
    return agent


def _override_value(text: str) -> bool | int | float | str:
    """`true`/`false`, an int, a float, else the text itself (e.g. `latent_norm=layernorm`)."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _with_model(base: RewardAgentConfig, spec: str) -> RewardAgentConfig:
    """`base` with a model preset (`medium`) or comma-separated overrides (`hidden_dim=256,residual=false`)."""
    if "=" not in spec:
        return dataclasses.replace(base, model=dataclasses.replace(base.model, size=spec))
    pairs = [kv.split("=") for kv in spec.split(",")]
    if any(len(kv) != 2 or not kv[0] for kv in pairs):
        raise ValueError(
            f"--size {spec!r}: write a preset (medium) or key=value pairs joined by commas, no spaces, "
            "e.g. latent_dim=512,residual=false"
        )
    extra = {k: _override_value(v) for k, v in pairs}
    return dataclasses.replace(base, model=dataclasses.replace(base.model, overrides={**base.model.overrides, **extra}))


def _decisions(agent, obs: dict, batches: list[Batch]) -> float:
    """Seconds per decision: act, then update (which returns at once when overlapped)."""
    start = time.perf_counter()
    for batch in batches:
        agent.act(obs, explore=True)
        agent.update(batch)
    agent.flush()
    return (time.perf_counter() - start) / len(batches)


def _plans(agent, obs: dict, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        agent.act(obs)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="dmc/cartpole-swingup")
    parser.add_argument("--decisions", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--policy-batch", type=int, nargs="*", default=[128])
    parser.add_argument(
        "--size", nargs="*", default=[], help="extra model presets or key=value overrides, timed overlapped"
    )
    parser.add_argument("--bf16", action="store_true", help="also time the overlapped ways under bf16 autocast")
    args = parser.parse_args()
    env = make_env(args.task)
    obs_dim, action_dim = env.observation_space["state"].shape[0], env.action_space.shape[0]
    env.close()
    base = RewardAgentConfig()
    ways = {f"sequential, {n} thread{'s' * (n > 1)}": (n, False, base, "fp32") for n in (1, 2)}
    models = {"": base, **{f", model {spec}": _with_model(base, spec) for spec in args.size}}
    for suffix, cfg in models.items():
        for prec in ("fp32", "bf16") if args.bf16 else ("fp32",):
            ways[f"overlapped, 1 thread each{suffix}{', bf16' * (prec == 'bf16')}"] = (1, True, cfg, prec)
    for pb in args.policy_batch:
        cfg = dataclasses.replace(base, policy_batch=pb)
        ways[f"overlapped, 1 thread each, policy_batch={pb}"] = (1, True, cfg, "fp32")
    agents = {name: _agent(obs_dim, action_dim, cfg, overlap, prec) for name, (_, overlap, cfg, prec) in ways.items()}
    g = torch.Generator().manual_seed(0)
    batches = _batches(obs_dim, action_dim, base, args.decisions, g)
    obs = {"state": np.zeros(obs_dim, np.float32)}
    decide = {name: [] for name in ways}
    plan = {n: [] for n in (1, 2)}
    for _ in range(args.rounds + 1):  # the first round warms up and is dropped
        for name, (threads, *_) in ways.items():
            torch.set_num_threads(threads)
            decide[name].append(_decisions(agents[name], obs, batches))
        for n in plan:
            torch.set_num_threads(n)
            plan[n].append(_plans(agents["sequential, 1 thread"], obs, args.decisions))
    print(f"machine: {machine()}")
    print(f"task {args.task}: state {obs_dim}, action {action_dim}; batch {base.batch_size}, horizon {base.horizon}")
    print(f"rounds {args.rounds} x {args.decisions} decisions\n")
    eval_s = 10 * 10 * 500 * statistics.median(plan[2][1:])
    print("| way | ms per decision (median, min-max) | projected 100k run (+ evaluation with 2 threads) | vs TD-MPC2 |")
    print("|---|---|---|---|")
    for name, times in decide.items():
        t = [x * 1e3 for x in times[1:]]
        med = statistics.median(t)
        total_min = (50_000 * med / 1e3 + eval_s) / 60
        ratio = TDMPC2_S_PER_DECISION * 1e3 / med
        print(f"| {name} | {med:.1f} ({min(t):.1f}-{max(t):.1f}) | {total_min:.0f} min | {ratio:.0f}x cheaper |")
    for n, times in plan.items():
        t = [x * 1e3 for x in times[1:]]
        spread = f"{statistics.median(t):.1f} ({min(t):.1f}-{max(t):.1f})"
        print(f"| planning one action alone, {n} thread(s) | {spread} | | |")


if __name__ == "__main__":
    main()
