"""Offline world-model training throughput with 1 and 2 processes on this machine (issue: scale out).

    python -m benchmarks.distributed [--updates 90] [--dataset data/goal/reacher] [--batch 128]

Trains the default goal agent's pixel world model (64x64) from a reward-free dataset (collected here,
100 random reacher episodes, when the folder is missing) with
  - one process, 1 torch thread;  - one process, 2 threads;  - torchrun, 2 processes x 1 thread (gloo, DDP),
all at the same global batch, and prints samples/s measured between the first and the last log point
(start-up, data loading and the first updates excluded). Writes benchmarks/results/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

from eval.machine import machine

ROOT = pathlib.Path(__file__).resolve().parents[1]


def ensure_dataset(path: pathlib.Path) -> None:
    if path.exists():
        return
    cmd = [sys.executable, "-m", "train.collect", "task=goal/reacher", "episodes=100", "obs=pixels"]
    subprocess.run([*cmd, "workers=1", f"out={path}", "progress=false"], check=True, cwd=ROOT)


def throughput(run_dir: pathlib.Path, batch: int) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    first, last = rows[0], rows[-1]
    return (last["step"] - first["step"]) * batch / (last["time/wall_s"] - first["time/wall_s"])


def run(label: str, launcher: list[str], threads: int, args, tmp: pathlib.Path) -> float:
    run_dir = tmp / "".join(c if c.isalnum() else "_" for c in label)
    overrides = [
        f"dataset={args.dataset}",
        f"updates={args.updates}",
        f"eval_every={args.updates // 3}",
        f"checkpoint_every={args.updates}",
        f"agent.batch_size={args.batch}",
        f"threads={threads}",
        f"run_dir={run_dir}",
        "progress=false",
        "device=cpu",
    ]
    subprocess.run([*launcher, "-m", "train.offline", *overrides], check=True, cwd=ROOT, capture_output=True)
    return throughput(run_dir, args.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/bench/reacher")
    parser.add_argument("--updates", type=int, default=90)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/distributed.md")
    args = parser.parse_args()
    ensure_dataset(ROOT / args.dataset)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    setups = [
        ("1 process, 1 thread", [sys.executable], 1),
        ("1 process, 2 threads", [sys.executable], 2),
        ("2 processes (torchrun, gloo), 1 thread each", torchrun, 1),
    ]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wp-dist-"))
    try:
        results = [(label, run(label, launcher, threads, args, tmp)) for label, launcher, threads in setups]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = results[0][1]
    lines = [
        f"Offline JEPA world-model training, 64x64 pixels, global batch {args.batch}, horizon 3, "
        f"{args.updates} updates; {machine()}",
        "",
        "| set-up | samples/s | vs 1 process, 1 thread |",
        "|---|---|---|",
        *[f"| {label} | {value:.0f} | {value / base:.2f}x |" for label, value in results],
        "",
        f"command: python -m benchmarks.distributed --updates {args.updates} --batch {args.batch}",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
