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


def test_lora_runs_of_another_invocation_are_merged_and_checked(tmp_path, tiny_task, monkeypatch):
    monkeypatch.setattr(harness, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(suite, "DATA_DIR", tmp_path / "cache" / "suite-data")
    out, other = tmp_path / "results", tmp_path / "other"
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out), "--no-upper-bound",
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    theirs = json.loads((out / "suite.json").read_text())
    # the other invocation: the same probe runs plus LoRA-student runs (their figures made up here)
    lora = [dict(r, student=suite.LORA, macro_f1=0.5 + 0.1 * i) for i, r in enumerate(theirs["runs"])]
    theirs["runs"] += lora
    theirs["meta"]["seeds"][suite.LORA] = [0]
    other.mkdir()
    (other / "suite.json").write_text(json.dumps(theirs))
    suite.main(["--merge-lora", str(other), "--out", str(out)])
    merged = json.loads((out / "suite.json").read_text())
    assert sorted(r["student"] for r in merged["runs"]) == [suite.LORA] * 2 + [suite.PROBE] * 2
    cell = merged["results"]["tiny"][suite.LORA]
    assert {p: cell[p]["12"]["macro_f1"]["mean"] for p in cell} == {"random": 0.5, "distillgraph": 0.6}
    last = merged["meta"]["lora_merges"][-1]
    assert last["probe_runs_compared"] == last["probe_runs_equal"] == 2
    md = (out / "suite.md").read_text()
    assert f"### tiny — {suite.LORA}" in md and "merged with `--merge-lora`" in md and "in 2 of 2" in md
    # a later invocation re-runs one policy's LoRA points: only those are replaced, both merges are named
    again = dict(theirs, runs=[r for r in theirs["runs"] if r["student"] == suite.PROBE]
                 + [dict(r, macro_f1=0.9) for r in lora if r["policy"] == "distillgraph"])
    (other / "suite.json").write_text(json.dumps(again))
    suite.main(["--merge-lora", str(other), "--out", str(out)])
    merged = json.loads((out / "suite.json").read_text())
    cell = merged["results"]["tiny"][suite.LORA]
    assert {p: cell[p]["12"]["macro_f1"]["mean"] for p in cell} == {"random": 0.5, "distillgraph": 0.9}
    assert [m["policies"] for m in merged["meta"]["lora_merges"]] == [["distillgraph", "random"], ["distillgraph"]]
    assert (out / "suite.md").read_text().count("merged with `--merge-lora`") == 2
    assert merged["meta"]["lora_merges"][0]["replaced"] == ["distillgraph"]
    assert "its distillgraph runs were replaced by a later merge" in (out / "suite.md").read_text()
    # a later probe-only invocation into the same folder keeps the LoRA runs and says where they came from
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out), "--no-upper-bound",
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    again_md = (out / "suite.md").read_text()
    assert again_md.count("merged with `--merge-lora`") == 2 and f"### tiny — {suite.LORA}" in again_md
    theirs["tasks"]["tiny"]["fingerprint"] = "other data"
    (other / "suite.json").write_text(json.dumps(theirs))
    with pytest.raises(SystemExit, match="other data"):
        suite.main(["--merge-lora", str(other), "--out", str(out)])
