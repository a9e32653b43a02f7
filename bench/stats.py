"""Paired comparisons over seeds: mean difference, paired-bootstrap 95% CI, Wilcoxon signed-rank p, wins.

Two policies run with the same seed share the split, the clustering and the seed of every random choice
that does not depend on the policy, so the unit of comparison is the per-seed difference. "Ahead"
means the CI of the mean difference lies above 0; "behind" below 0; otherwise the data cannot tell.

With few seeds a percentile bootstrap is optimistic (5 identical-sign differences give a CI that
excludes 0, while the exact two-sided Wilcoxon p cannot go below 0.0625 at n = 5): both are reported.

"No clear difference" can mean "equal" or "too few seeds to tell": `detectable_effect` (the smallest true mean
difference a paired t-test finds with 80% power at the seeds run) and `seeds_needed` (the seeds that would find a
given difference) say which, from the spread of the per-seed differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

N_BOOT = 10_000
BOOT_SEED = 12345  # fixed: the same runs always give the same interval
MIN_SEEDS = 3  # fewer paired seeds give no verdict (a bootstrap over 1 or 2 values says nothing)


def paired_bootstrap_ci(diffs: Sequence[float], *, n_boot: int = N_BOOT, alpha: float = 0.05,
                        seed: int = BOOT_SEED) -> tuple[float, float]:
    """Percentile CI of the mean of `diffs`, resampling seeds with replacement."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        raise ValueError("no paired differences")
    if d.size == 1:
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def wilcoxon_p(diffs: Sequence[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p (exact for small n); None without scipy; 1.0 when every diff is 0."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        return None
    if np.all(d == 0):
        return 1.0
    try:
        from scipy.stats import wilcoxon
    except ImportError:  # scipy comes with scikit-learn, but the bootstrap does not need it
        return None
    return float(wilcoxon(d, zero_method="zsplit", alternative="two-sided").pvalue)


def _t(q: float, df: int) -> float:
    """The q-quantile of Student's t with df degrees of freedom (the normal's without scipy)."""
    try:
        from scipy.stats import t
    except ImportError:
        from statistics import NormalDist
        return NormalDist().inv_cdf(q)
    return float(t.ppf(q, df))


def detectable_effect(diffs: Sequence[float], *, power: float = 0.8, alpha: float = 0.05) -> float | None:
    """The smallest true mean difference a two-sided paired t-test at `alpha` detects with `power` over as many
    seeds as `diffs` has, taking their sample standard deviation as the truth: (t_(1-alpha/2) + t_power) x sd /
    sqrt(n), df = n - 1. None under 2 seeds."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size < 2:
        return None
    return float((_t(1 - alpha / 2, d.size - 1) + _t(power, d.size - 1)) * d.std(ddof=1) / np.sqrt(d.size))


def seeds_needed(sd: float, effect: float, *, power: float = 0.8, alpha: float = 0.05, limit: int = 10_000) -> int:
    """The fewest seeds (>= 2) whose paired t-test detects a true mean difference `effect` with `power`, when the
    per-seed differences spread with standard deviation `sd`; `limit` when even that many are not enough."""
    if effect <= 0:
        raise ValueError("effect must be > 0")
    for n in range(2, limit):
        if (_t(1 - alpha / 2, n - 1) + _t(power, n - 1)) * sd / np.sqrt(n) <= effect:
            return n
    return limit


def compare(a: Mapping[Any, float], b: Mapping[Any, float], *, n_boot: int = N_BOOT) -> dict[str, Any]:
    """a - b over the seeds both have: {diff, ci_low, ci_high, wins, ties, n, p_wilcoxon, verdict, detectable}.

    `wins`: seeds where a is strictly better; `verdict`: ahead / behind / no clear difference (from the CI),
    or "too few seeds" under MIN_SEEDS; `detectable`: `detectable_effect` of the differences (None under 2 seeds).
    """
    seeds = sorted(set(a) & set(b), key=str)
    if not seeds:
        raise ValueError("no seed in common")
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    low, high = paired_bootstrap_ci(diffs, n_boot=n_boot)
    return {
        "diff": round(float(np.mean(diffs)), 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "wins": sum(x > 0 for x in diffs),
        "ties": sum(x == 0 for x in diffs),
        "n": len(diffs),
        "p_wilcoxon": None if (p := wilcoxon_p(diffs)) is None else round(p, 4),
        "verdict": verdict(low, high) if len(diffs) >= MIN_SEEDS else "too few seeds",
        "detectable": None if (m := detectable_effect(diffs)) is None else round(m, 4),
    }


def stratified_bootstrap_ci(groups: Sequence[Sequence[float]], *, n_boot: int = N_BOOT, alpha: float = 0.05,
                            seed: int = BOOT_SEED) -> tuple[float, float]:
    """Percentile CI of the mean of the groups' means (each task weighs the same), resampling seeds with
    replacement within each group (the tasks themselves are fixed, not a sample of tasks)."""
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("every group needs at least one paired difference")
    rng = np.random.default_rng(seed)
    means = np.mean([a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1) for a in arrays], axis=0)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def verdict(ci_low: float, ci_high: float) -> str:
    if ci_low > 0:
        return "ahead"
    if ci_high < 0:
        return "behind"
    return "no clear difference"


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value)."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": round(float(arr.mean()), 4), "std": round(std, 4)}
