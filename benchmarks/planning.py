"""Benchmark: planning latency per action with the default world model, and energy against time on toys.

    python -m benchmarks.planning [--calls 100]

Part 1: median (min-max) ms to plan one action for each planner, at TD-MPC2's budget (512 samples x
6 iterations, horizon 3) and at our cheaper default, with the default state model (reward head + value
ensemble + a policy network for the terminal value, as TD-MPC2 plans) and with the 64x64 pixel
model (encoding the frame included), at 1 and 2 threads. TD-MPC2: 857 ms per action on one core here.
Part 2: final energy reached against wall time for each planner on the toy problems of the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch

from agent.mpc import LatentDynamics
from agent.objectives import GoalEnergy, RewardEnergy
from agent.planners import CEM, MPPI, CEMConfig, GradientConfig, GradientPlanner, HybridPlanner, MPPIConfig
from benchmarks.common import machine, timeit
from world_model import WorldModel, preset
from world_model.layers import mlp

TDMPC2_MS = 857.0
A = 6
MODELS = [
    ("state", {"state": (24,)}, "default"),
    ("pixels64", {"pixels": (3, 64, 64)}, "default"),
    ("state", {"state": (24,)}, "medium"),
]


def reward_objective(wm: WorldModel, policy) -> RewardEnergy:
    def reward(z, a):
        return wm.two_hot.decode(wm.reward(z, a))

    def value(z):
        logits = wm.values(z, torch.tanh(policy(z)), members=torch.tensor([0, 1]))  # TD-MPC2 averages 2 Qs
        return wm.two_hot.decode(logits).mean(0)

    return RewardEnergy(reward, value, discount=0.99)


def planner_set(budget: str, horizon: int = 3):
    if budget == "tdmpc2":
        mppi = MPPIConfig(horizon=horizon, samples=512, iterations=6, elites=64, prior_samples=0)
        cem = CEMConfig(horizon=horizon, samples=512, iterations=6, elites=64)
        grad = GradientConfig(horizon=horizon, restarts=8, iterations=20)
    else:
        mppi = MPPIConfig(horizon=horizon, prior_samples=0)
        cem = CEMConfig(horizon=horizon, samples=128, iterations=3, elites=16)
        grad = GradientConfig(horizon=horizon, restarts=4, iterations=4)
    refine = dataclasses.replace(grad, iterations=max(2, grad.iterations // 4))
    return {
        "mppi": MPPI(mppi),
        "cem": CEM(cem),
        "gradient": GradientPlanner(grad),
        "hybrid": HybridPlanner(CEM(cem), GradientPlanner(refine)),
    }


def latency(calls: int, only_default: bool = False) -> None:
    print("| model | planner | budget | threads | ms per action (median, min-max) | vs TD-MPC2 (857 ms) |")
    print("|---|---|---|---|---|---|")
    for name, shapes, size in MODELS[:1] if only_default else MODELS:
        torch.manual_seed(0)
        wm = WorldModel(shapes, A, preset(size, reward_head=True, num_values=5)).eval()
        policy = mlp(wm.cfg.latent_dim, wm.cfg.hidden_dim, A, 2)
        obs = {k: torch.zeros(1, *s, dtype=torch.uint8 if k == "pixels" else torch.float32) for k, s in shapes.items()}
        objective, dynamics = reward_objective(wm, policy), LatentDynamics(wm, A)
        budgets = ("default",) if only_default else ("default", "tdmpc2") if size == "default" else ("tdmpc2",)
        for budget in budgets:
            for pname, planner in planner_set(budget).items():
                for threads in (1, 2):
                    torch.set_num_threads(threads)
                    g = torch.Generator().manual_seed(0)

                    def act(planner=planner, g=g, wm=wm, obs=obs, dynamics=dynamics, objective=objective):
                        with torch.no_grad():
                            z = wm.encode(obs)[0]
                        return planner.plan(z, dynamics, objective, generator=g).actions[0]

                    t = {k: v * 1e3 for k, v in timeit(act, calls).items()}
                    spread = f"{t['median']:.1f} ({t['min']:.1f}-{t['max']:.1f})"
                    ratio = TDMPC2_MS / t["median"]
                    print(f"| {name} ({size}) | {pname} | {budget} | {threads} | {spread} | {ratio:.0f}x |", flush=True)


def energy_vs_time() -> None:
    sys.path.insert(0, ".")
    from tests.test_planners import PointMass, _lq_problem

    dyn, x0, objective, _, optimum = _lq_problem()
    problems = {
        "point mass (optimum 0)": (torch.zeros(2), PointMass(), GoalEnergy("l2"), torch.tensor([0.3, -0.2]), 0.0),
        f"linear-quadratic (optimum {optimum:.5f})": (x0, dyn, objective, torch.zeros(3), optimum),
    }
    print("\n| problem | planner | iterations | final energy | energy / optimum | wall ms |")
    print("|---|---|---|---|---|---|")
    torch.set_num_threads(1)
    for pname, (z0, dyn_, obj, goal, opt) in problems.items():
        for iters in (2, 5, 10, 20):
            for name, planner in {
                "cem": CEM(CEMConfig(horizon=5, samples=256, iterations=iters, elites=16)),
                "mppi": MPPI(
                    MPPIConfig(horizon=5, samples=256, iterations=iters, elites=32, temperature=20.0, init_std=1.0)
                ),
                "gradient": GradientPlanner(GradientConfig(horizon=5, restarts=4, iterations=iters * 10, lr=0.05)),
                "hybrid": HybridPlanner(
                    CEM(CEMConfig(horizon=5, samples=256, iterations=iters, elites=16)),
                    GradientPlanner(GradientConfig(horizon=5, iterations=iters * 5, lr=0.05)),
                ),
            }.items():
                start = time.perf_counter()
                r = planner.plan(z0, dyn_, obj, goal=goal, generator=torch.Generator().manual_seed(0))
                ms = (time.perf_counter() - start) * 1e3
                ratio = f"{r.energy.item() / opt:.4f}" if opt else "-"
                label = f"{iters}" if name in ("cem", "mppi") else f"{iters * 10 if name == 'gradient' else iters}"
                print(f"| {pname} | {name} | {label} | {r.energy.item():.3g} | {ratio} | {ms:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--only-default", action="store_true", help="the state model at our default budget only")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    latency(args.calls, args.only_default)
    if not args.only_default:
        energy_vs_time()


if __name__ == "__main__":
    main()
