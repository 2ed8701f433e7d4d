"""Summary statistics over episodes and seeds: mean, std, IQM with a bootstrap CI, success rate."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle 50% (the 25% trimmed mean, as rliable computes it)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    k = int(0.25 * len(x))
    return float(x[k : len(x) - k].mean())


def bootstrap_iqm_ci(
    by_seed: dict[int, list[float]], *, rng: np.random.Generator, resamples: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile CI of the IQM, resampling whole seeds with replacement (seeds are the unit of variation)."""
    groups = [np.asarray(v, dtype=np.float64) for v in by_seed.values()]
    if len(groups) < 2:
        value = iqm(np.concatenate(groups))
        return value, value
    stats = []
    for _ in range(resamples):
        pick = rng.integers(0, len(groups), len(groups))
        stats.append(iqm(np.concatenate([groups[i] for i in pick])))
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def summarize(episodes: list[dict], *, key: str = "total_return", seed: int = 0) -> dict:
    """Statistics of `episodes` (dicts with `run_seed`, `key` and optionally `success`).

    The run seed (one evaluation or training seed) is the statistical unit; its episodes are pooled.

    Returns:
        `episodes`, `seeds`, `mean` and `std` (over per-seed means; std is 0 for one seed), `iqm`,
        `iqm_ci` (95% bootstrap over seeds), and for goal tasks `success_rate` and its per-seed std.
    """
    by_seed: dict[int, list[float]] = defaultdict(list)
    success_by_seed: dict[int, list[float]] = defaultdict(list)
    for ep in episodes:
        by_seed[ep["run_seed"]].append(float(ep[key]))
        if ep.get("success") is not None:
            success_by_seed[ep["run_seed"]].append(float(ep["success"]))
    per_seed = np.array([np.mean(v) for v in by_seed.values()])
    values = np.concatenate([np.asarray(v) for v in by_seed.values()])
    out = {
        "episodes": len(values),
        "seeds": len(by_seed),
        "mean": float(per_seed.mean()),
        "std": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
        "iqm": iqm(values),
        "iqm_ci": list(bootstrap_iqm_ci(by_seed, rng=np.random.default_rng(seed))),
    }
    if success_by_seed:
        rates = np.array([np.mean(v) for v in success_by_seed.values()])
        out["success_rate"] = float(np.mean(np.concatenate([np.asarray(v) for v in success_by_seed.values()])))
        out["success_std"] = float(rates.std(ddof=1)) if len(rates) > 1 else 0.0
    return out
