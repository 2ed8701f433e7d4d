"""The same training step and planning call on every device here: CPU, and CUDA when there is one.

    python -m benchmarks.devices [--repeats 20] [--batch 256]

Rows: one world-model update (forward + backward + Adam, batch 256, horizon 3) of the default state
and 64x64 pixel models, fp32 and bf16 autocast; one MPPI planning call with the default state model at
our default budget (128 x 3) and TD-MPC2's (512 x 6). CUDA timings synchronise before the clock stops.
Without a GPU it prints the CPU rows and says that no CUDA device was found.
"""

from __future__ import annotations

import argparse

import torch

from agent.mpc import LatentDynamics
from agent.planners import MPPI, MPPIConfig
from benchmarks.common import machine, timeit
from benchmarks.planning import A, reward_objective
from benchmarks.wm_update import _batch
from world_model import WorldModel, preset
from world_model.layers import mlp

MODELS = {"state": {"state": (24,)}, "pixels64": {"pixels": (3, 64, 64)}}
BUDGETS = {
    "default 128x3": MPPIConfig(horizon=3, prior_samples=0),
    "TD-MPC2 512x6": MPPIConfig(horizon=3, samples=512, iterations=6, elites=64, prior_samples=0),
}


def synced(fn, device: torch.device):
    def call():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def update_row(name: str, device: torch.device, precision: str, batch_size: int, repeats: int) -> str:
    torch.manual_seed(0)
    shapes = MODELS[name]
    wm = WorldModel(shapes, A, preset("default", reward_head=True)).to(device)
    opt = torch.optim.Adam(wm.parameters(), lr=3e-4)
    batch = _batch(shapes, 3, batch_size, torch.Generator().manual_seed(0)).to(device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss, _ = wm.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        wm.update_target()

    ms = timeit(synced(step, device), repeats)["median"] * 1e3
    return f"| update {name}, batch {batch_size} | {device.type} | {precision} | {ms:.2f} |"


def plan_row(budget: str, device: torch.device, repeats: int) -> str:
    torch.manual_seed(0)
    wm = WorldModel({"state": (24,)}, A, preset("default", reward_head=True, num_values=5)).to(device).eval()
    policy = mlp(wm.cfg.latent_dim, wm.cfg.hidden_dim, A, 2).to(device)
    objective, dynamics = reward_objective(wm, policy), LatentDynamics(wm, A)
    planner, g = MPPI(BUDGETS[budget]), torch.Generator(device=device).manual_seed(0)
    obs = {"state": torch.zeros(1, 24, device=device)}

    def act():
        with torch.no_grad():
            z = wm.encode(obs)[0]
        return planner.plan(z, dynamics, objective, generator=g).actions[0]

    ms = timeit(synced(act, device), repeats)["median"] * 1e3
    return f"| plan MPPI {budget} | {device.type} | fp32 | {ms:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        print(f"machine: {machine()}; GPU: {torch.cuda.get_device_name(0)}")
    else:
        print(f"machine: {machine()}; no CUDA device found: CPU rows only")
    print(f"CPU threads: {torch.get_num_threads()}\n")
    print("| call | device | precision | ms (median) |")
    print("|---|---|---|---|")
    for device in devices:
        for name in MODELS:
            for precision in ("fp32", "bf16"):
                print(update_row(name, device, precision, args.batch, args.repeats), flush=True)
        for budget in BUDGETS:
            print(plan_row(budget, device, args.repeats), flush=True)


if __name__ == "__main__":
    main()
