"""A tiny end-to-end suite run: one small file task, two policies, one seed, real graph runs.

The model-free hash embedder keeps it fast and offline; the shared benchmark cache is redirected to
tmp_path so the real embedding cache (MiniLM vectors) is never touched.
"""

from __future__ import annotations

import json
import random

import pytest

import bench.harness as harness
import bench.suite as suite

WORDS = {
    "sport": "match goal team coach league score player win season",
    "food": "recipe bake flour sugar oven taste dinner salad spice",
    "tech": "software chip server code laptop network data cloud app",
}


@pytest.fixture
def tiny_task(tmp_path):
    rng = random.Random(0)
    rows = []
    for label, words in WORDS.items():
        vocab = words.split()
        for i in range(45 if label != "tech" else 30):
            rows.append({"text": " ".join(rng.choice(vocab) for _ in range(6)) + f" #{label}{i}", "label": label})
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(f"name: tiny\nfile: {path.name}\ndev_per_label: 4\ntest_per_label: 6\nmin_per_label: 20\n"
                    "instruction: Which topic?\n")
    return spec


def test_tiny_suite_writes_the_promised_shape(tmp_path, tiny_task, monkeypatch):
    monkeypatch.setattr(harness, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(suite, "DATA_DIR", tmp_path / "cache" / "suite-data")
    out = tmp_path / "results"
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out),
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    data = json.loads((out / "suite.json").read_text())
    assert set(data) >= {"tasks", "tuning_seeds", "test_seeds", "results", "paired"}
    task = data["tasks"]["tiny"]
    assert {"n_pool", "n_labels", "imbalance", "upper_bound"} <= set(task)
    assert task["n_labels"] == 3 and task["n_pool"] == 120 - 3 * 10 and task["imbalance"] == pytest.approx(35 / 20)
    assert data["test_seeds"] == [0] and not set(data["tuning_seeds"]) & set(data["test_seeds"])
    cell = data["results"]["tiny"]["embedding-probe"]
    assert set(cell) == {"random", "distillgraph"}
    for policy in cell:
        point = cell[policy]["12"]
        for metric in ("macro_f1", "worst_cluster_acc"):
            assert set(point[metric]) == {"mean", "std"} and 0.0 <= point[metric]["mean"] <= 1.0
    pair = data["paired"]["tiny"]["embedding-probe"]["12"]
    assert {"diff", "ci_low", "ci_high", "wins", "n"} <= set(pair["vs_random"]) and pair["vs_random"]["n"] == 1
    assert pair["vs_best_other"]["policy"] == "random"
    assert {"diff", "ci_low", "ci_high", "wins", "n"} <= set(pair["vs_best_other"])
    runs = data["runs"]
    assert len(runs) == 2 and all(r["calls"] <= 12 for r in runs)  # the budget is a hard cap for every policy
    md = (out / "suite.md").read_text()
    assert "### tiny — embedding-probe" in md and "Equal information" in md


def test_seeds_used_for_tuning_are_refused_as_test_seeds(tmp_path, tiny_task):
    with pytest.raises(SystemExit, match="overlap"):
        suite.main(["--tasks", "--task-file", str(tiny_task), "--seeds", "100", "--out", str(tmp_path)])
