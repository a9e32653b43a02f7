"""bench.class_weight: dev-only sweep of the probe's class weighting (seeded draws, pure rendering)."""

from __future__ import annotations

import numpy as np

from bench import class_weight as cw


def test_a_rare_label_gains_from_balanced_weights_on_a_toy_split() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])
    pool_y = ["a"] * 180 + ["b"] * 15 + ["c"] * 5
    dev_y = ["a", "b", "c"] * 20
    lab = {"a": 0, "b": 1, "c": 2}

    def points(ys: list[str]) -> np.ndarray:
        return np.array([centres[lab[y]] for y in ys]) + rng.normal(0, 2.0, (len(ys), 2))

    cw.D[("toy", 7)] = {"pool": (points(pool_y), pool_y), "dev": (points(dev_y), dev_y)}
    try:
        none = [cw.dev_f1("toy", 7, 40, d, "none", 10.0) for d in range(5)]
        balanced = [cw.dev_f1("toy", 7, 40, d, "balanced", 10.0) for d in range(5)]
        assert none == [cw.dev_f1("toy", 7, 40, d, "none", 10.0) for d in range(5)]  # seeded draws
        assert np.mean([b for b in balanced if b is not None]) > np.mean([n for n in none if n is not None])
    finally:
        cw.D.pop(("toy", 7))


def test_markdown_shows_each_budget_without_and_with() -> None:
    result = {"tuning_seeds": [100], "draws": 3, "probe_C": 10.0, "budgets": [20, 40],
              "dev_macro_f1": {"t": {"20": {"none": 0.1, "balanced": 0.2}, "40": {"none": 0.3, "balanced": 0.35}}}}
    text = cw.markdown(result)
    assert "| t | 0.100 → 0.200 | 0.300 → 0.350 |" in text and "tuning split (100)" in text
