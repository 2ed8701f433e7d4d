"""Learning curves in TD-MPC2's CSV format, plots against published curves, and comparison tables.

    python -m eval.curves csv=[runs/a/curve.csv,runs/b/curve.csv] task=dmc/walker-walk out=walker.png
    python -m eval.curves sweep=runs/dmc/walker-walk task=dmc/walker-walk     # every curve.csv below a folder

A curve CSV has columns `step,reward,seed` (or `step,success,seed` for goal tasks); `step` counts
control steps with the action repeat multiplied in. All given CSVs are pooled by seed, so a sweep's
per-seed files aggregate into one curve with its spread.
"""

from __future__ import annotations

import csv
import glob
import os
import pathlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

REFERENCE_DIR = pathlib.Path(__file__).with_name("reference")
REFERENCES = ("tdmpc2", "dreamerv3", "sac", "tdmpc")
Curve = dict[int, list[tuple[int, float]]]  # seed -> [(step, value)]


class CurveWriter:
    """Appends evaluation rows to a TD-MPC2-format CSV, flushing each row (a crash loses nothing)."""

    def __init__(self, path: str | os.PathLike, metric: str = "reward"):
        self.path = pathlib.Path(path)
        self.metric = metric
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"step,{metric},seed\n")

    def add(self, step: int, value: float, seed: int) -> None:
        with self.path.open("a") as f:
            f.write(f"{int(step)},{value:.4f},{int(seed)}\n")
            f.flush()
            os.fsync(f.fileno())


def read_curves(paths) -> tuple[Curve, str]:
    """Pool CSVs into `{seed: sorted [(step, value)]}` and return the metric name."""
    curve: Curve = defaultdict(list)
    metric = "reward"
    for path in paths:
        with open(path) as f:
            reader = csv.DictReader(f)
            metric = next(k for k in reader.fieldnames if k not in ("step", "seed"))
            for row in reader:
                curve[int(row["seed"])].append((int(float(row["step"])), float(row[metric])))
    return {s: sorted(v) for s, v in curve.items()}, metric


def reference_path(algo: str, task: str) -> pathlib.Path:
    """The published CSV of `algo` on `task` (e.g. `dmc/walker-walk` -> `tdmpc2/walker-walk.csv`)."""
    return REFERENCE_DIR / algo / f"{task.split('/', 1)[-1]}.csv"


def value_at(curve: Curve, step: int, tolerance: float = 0.1) -> list[float]:
    """Each seed's value at the evaluation nearest `step` (within `tolerance * step`)."""
    out = []
    for points in curve.values():
        s, v = min(points, key=lambda p: abs(p[0] - step))
        if abs(s - step) <= tolerance * max(step, 1):
            out.append(v)
    return out


@dataclass
class Row:
    step: int
    ours: list[float]
    theirs: dict[str, list[float]] = field(default_factory=dict)


def comparison(curve: Curve, task: str, steps: list[int]) -> list[Row]:
    """Our per-seed values and each reference's at the given steps."""
    rows = []
    refs = {a: read_curves([reference_path(a, task)])[0] for a in REFERENCES if reference_path(a, task).exists()}
    for step in steps:
        rows.append(Row(step, value_at(curve, step), {a: value_at(c, step) for a, c in refs.items()}))
    return rows


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f} (n={len(values)})"


def markdown_table(rows: list[Row], label: str = "worldplan") -> str:
    algos = sorted({a for r in rows for a in r.theirs})
    lines = [f"| step | {label} | " + " | ".join(algos) + " |", "|---|---|" + "---|" * len(algos)]
    for r in rows:
        lines.append(f"| {r.step:,} | {_cell(r.ours)} | " + " | ".join(_cell(r.theirs[a]) for a in algos) + " |")
    return "\n".join(lines)


def plot(
    curve: Curve,
    task: str,
    out: str | os.PathLike,
    *,
    label: str = "worldplan",
    metric: str = "reward",
    max_step: int | None = None,
) -> pathlib.Path:
    """Mean and min-max spread over seeds of our curve against the published ones, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    series = {label: curve}
    for algo in REFERENCES:
        if reference_path(algo, task).exists():
            series[algo] = read_curves([reference_path(algo, task)])[0]
    limit = max_step or max(s for points in curve.values() for s, _ in points)
    for name, c in series.items():
        steps = sorted({s for points in c.values() for s, _ in points if s <= limit * 1.05})
        stats = [value_at(c, s, tolerance=0.0) for s in steps]
        keep = [i for i, v in enumerate(stats) if v]
        xs = np.array([steps[i] for i in keep])
        mean = np.array([np.mean(stats[i]) for i in keep])
        lo, hi = np.array([min(stats[i]) for i in keep]), np.array([max(stats[i]) for i in keep])
        width = 2.5 if name == label else 1.2
        ax.plot(xs, mean, label=f"{name} ({len(c)} seeds)", linewidth=width, marker="o", markersize=3)
        ax.fill_between(xs, lo, hi, alpha=0.15)
    ax.set_xlabel("environment steps (action repeat included)")
    ax.set_ylabel(metric)
    ax.set_title(task)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


@dataclass(frozen=True)
class CurvesConfig:
    """Settings of `python -m eval.curves`."""

    csv: list[str] = field(default_factory=list)
    sweep: str | None = None
    task: str = "dmc/walker-walk"
    label: str = "worldplan"
    out: str = "curves.png"
    steps: list[int] = field(default_factory=lambda: [100_000, 500_000, 1_000_000])


def curve_files(csv: list[str], sweep: str | None = None) -> list[pathlib.Path]:
    """The CSVs to pool: the given paths (glob patterns expanded) and every `curve.csv` below `sweep`.

    A hydra sweep (`python -m train -m seed=0,1,2`) writes one run folder per job; pointing `sweep` at
    their common parent aggregates the seeds.
    """
    paths: list[pathlib.Path] = []
    for entry in csv:
        matches = sorted(glob.glob(entry)) if glob.has_magic(entry) else [entry]
        if not matches:
            raise FileNotFoundError(f"no file matches csv entry {entry!r}")
        paths += [pathlib.Path(m) for m in matches]
    if sweep is not None:
        found = sorted(pathlib.Path(sweep).rglob("curve.csv"))
        if not found:
            raise FileNotFoundError(f"no curve.csv below sweep={sweep}: is it the folder of the sweep's runs?")
        paths += found
    if not paths:
        raise ValueError("give csv=[path,...] (glob patterns allowed) or sweep=<folder of runs>: the curves to plot")
    return paths


def run(cfg: CurvesConfig) -> str:
    curve, metric = read_curves(curve_files(list(cfg.csv), cfg.sweep))
    png = plot(curve, cfg.task, cfg.out, label=cfg.label, metric=metric)
    table = markdown_table(comparison(curve, cfg.task, list(cfg.steps)), cfg.label)
    return f"{table}\n\nplot: {png}"


def main() -> None:
    from eval.app import run_app

    run_app("curves", CurvesConfig, lambda cfg: print(run(cfg)), pathlib.Path(__file__).with_name("conf"))


if __name__ == "__main__":
    main()
