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
    out = tmp_path / "results"
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out), "--title", "Held-out: tiny",
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    data = json.loads((out / "suite.json").read_text())
    assert (out / "suite.md").read_text().startswith("## Held-out: tiny\n")
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
    # every file the suite wrote is under the test's cache, none in the repository's runs/bench-cache
    assert len(list((tmp_path / "cache" / "suite-runs").glob("*.json"))) == 2
    assert list((tmp_path / "cache" / "suite-data").iterdir())
    runs = data["runs"]
    assert len(runs) == 2 and all(r["calls"] <= 12 for r in runs)  # the budget is a hard cap for every policy
    # float32 whatever the CPU (bf16 vectors move with the cache's fill order): pinned, and said in the protocol
    assert {"store.embedding_dtype=float32", "student.bf16=off"} <= set(data["overrides"])
    md = (out / "suite.md").read_text()
    assert "### tiny — embedding-probe" in md and "Equal information" in md


def test_seeds_used_for_tuning_are_refused_as_test_seeds(tmp_path, tiny_task):
    with pytest.raises(SystemExit, match="overlap"):
        suite.main(["--tasks", "--task-file", str(tiny_task), "--seeds", "100", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="LoRA seeds"):
        suite.main(["--tasks", "--task-file", str(tiny_task), "--lora", "--lora-seeds", "0", "101",
                    "--out", str(tmp_path)])


def tiny_suite(tmp_path, tiny_task, monkeypatch):
    """random and distillgraph on the tiny task (seed 0, budget 12) into tmp_path/results; (out, other folder)."""
    monkeypatch.setattr(harness, "CACHE", tmp_path / "cache")
    out, other = tmp_path / "results", tmp_path / "other"
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out), "--no-upper-bound",
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    return out, other


def test_lora_runs_of_another_invocation_are_merged_and_checked(tmp_path, tiny_task, monkeypatch):
    out, other = tiny_suite(tmp_path, tiny_task, monkeypatch)
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
    assert "they differ" not in md
    assert set(suite.code_version()["packages"]) == set(harness.RESULT_PACKAGES)
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
    stored = json.loads((out / "suite.json").read_text())
    assert not any("probe_reruns" in m for m in stored["meta"]["lora_merges"])  # same probe runs: nothing to say
    # probe runs that come out different when re-run (another dtype, other code): the kept LoRA merges say so
    stored["runs"] = [dict(r, macro_f1=r["macro_f1"] + 0.01) if r["student"] == suite.PROBE else r
                      for r in stored["runs"]]
    (out / "suite.json").write_text(json.dumps(stored))
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out), "--no-upper-bound",
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    reruns = [m["probe_reruns"][-1] for m in json.loads((out / "suite.json").read_text())["meta"]["lora_merges"]]
    assert [(r["compared"], r["equal"]) for r in reruns] == [(2, 0), (1, 0)]  # each merge's own points
    md = (out / "suite.md").read_text()
    assert "checked against at 0 of 2 points: the LoRA runs were not re-run" in md and "at 0 of 1 points" in md
    # a merge of another seed adds points: the earlier seed's runs stay, a cell with fewer seeds says so
    more = dict(theirs, runs=[dict(r, seed=1, macro_f1=0.3) for r in lora if r["policy"] == "distillgraph"])
    (other / "suite.json").write_text(json.dumps(more))
    suite.main(["--merge-lora", str(other), "--out", str(out)])
    merged = json.loads((out / "suite.json").read_text())
    assert sorted(r["macro_f1"] for r in merged["runs"] if r["student"] == suite.LORA
                  and r["policy"] == "distillgraph") == [0.3, 0.9]
    md = (out / "suite.md").read_text()
    assert f"### tiny — {suite.LORA} (test seeds 0, 1)" in md and "(n=1)" in md  # random's LoRA cell: 1 of 2
    assert merged["meta"]["lora_merges"][-1]["seeds"] == [1] and len(merged["meta"]["lora_merges"]) == 3
    # probe runs that do not reproduce (another environment): the merge says so and names its packages
    moved = dict(theirs, runs=[dict(r, macro_f1=r["macro_f1"] + 0.01) if r["student"] == suite.PROBE else r
                               for r in theirs["runs"]],
                 meta=dict(theirs["meta"], code={"head": "abc", "modified": [], "packages": {"numpy": "9.9"}}))
    (other / "suite.json").write_text(json.dumps(moved))
    suite.main(["--merge-lora", str(other), "--out", str(out)])
    md = (out / "suite.md").read_text()
    assert "in 0 of 2 (they differ: this merge ran under other code or installed packages" in md
    assert "its packages: numpy 9.9)" in md
    theirs["tasks"]["tiny"]["fingerprint"] = "other data"
    (other / "suite.json").write_text(json.dumps(theirs))
    with pytest.raises(SystemExit, match="other data"):
        suite.main(["--merge-lora", str(other), "--out", str(out)])


def test_probe_runs_of_one_policy_are_merged_and_the_others_compared(tmp_path, tiny_task, monkeypatch):
    out, other = tiny_suite(tmp_path, tiny_task, monkeypatch)
    ours = json.loads((out / "suite.json").read_text())
    # another invocation: distillgraph re-run with a new default (its figure made up here), random as it was
    theirs = dict(ours, runs=[dict(r, macro_f1=0.99) if r["policy"] == "distillgraph" else r for r in ours["runs"]])
    theirs["meta"] = dict(ours["meta"], argv="--policies distillgraph random")
    other.mkdir()
    (other / "suite.json").write_text(json.dumps(theirs))
    suite.main(["--merge-probe", str(other), "--policies", "distillgraph", "--out", str(out)])
    merged = json.loads((out / "suite.json").read_text())
    cell = merged["results"]["tiny"][suite.PROBE]
    assert cell["distillgraph"]["12"]["macro_f1"]["mean"] == 0.99 and len(merged["runs"]) == 2
    assert cell["random"]["12"]["macro_f1"]["mean"] == ours["results"]["tiny"][suite.PROBE]["random"]["12"]["macro_f1"]["mean"]
    record = merged["meta"]["probe_merges"][-1]
    assert record["policies"] == ["distillgraph"] and record["other_runs_compared"] == record["other_runs_equal"] == 1
    assert "merged with `--merge-probe`" in (out / "suite.md").read_text()
    # a baseline that no longer reproduces shows in the record; a missing point of a replaced policy is refused
    theirs["runs"] = [dict(r, macro_f1=0.1) if r["policy"] == "random" else r for r in theirs["runs"]]
    (other / "suite.json").write_text(json.dumps(theirs))
    suite.main(["--merge-probe", str(other), "--out", str(out)])  # no --policies: compare only
    merged = json.loads((out / "suite.json").read_text())
    # compared: random (changed) and distillgraph (as merged)
    assert [(m["policies"], m["other_runs_equal"], m["other_runs_compared"])
            for m in merged["meta"]["probe_merges"]] == [(["distillgraph"], 1, 1), ([], 1, 2)]
    assert "A check of the code, no run replaced" in (out / "suite.md").read_text()
    theirs["runs"] = [r for r in theirs["runs"] if r["policy"] != "distillgraph"]
    (other / "suite.json").write_text(json.dumps(theirs))
    with pytest.raises(SystemExit, match="missing"):
        suite.main(["--merge-probe", str(other), "--policies", "distillgraph", "--out", str(out)])
    # a caveat given with --render stays in suite.json and shows under the header, once however often rendered
    for _ in range(2):
        suite.main(["--render", "--out", str(out), "--note", "the LoRA rows were made by an older default"])
    assert json.loads((out / "suite.json").read_text())["meta"]["notes"] == ["the LoRA rows were made by an older default"]
    assert (out / "suite.md").read_text().count("**Note.** the LoRA rows were made by an older default") == 1


def test_a_later_dev_decision_overrides_the_sweeps_choice() -> None:
    from bench import dev_compare

    tuning = {"grid": {"loop.select_within": {"chosen": "clusters", "default": "clusters"}},
              "joint": {"chosen": {}}, "later": [{"key": "loop.select_within", "value": "pool"}]}
    assert suite.tuned_values(tuning) == {"loop.select_within": "pool"}
    assert suite.tuned_overrides(tuning) == (
        [] if suite._config_default("loop.select_within") == "pool" else ["loop.select_within=pool"])
    variants = [("a", "distillgraph", []), ("b", "distillgraph", ["loop.select_within=pool"]),
                ("t", "typiclust", []), ("c", "distillgraph", ["loop.select_within=pool", "loop.error_boost=1"])]
    dev = {"a": {"mean": 0.5}, "b": {"mean": 0.6}, "t": {"mean": 0.9}, "c": {"mean": 0.95}}
    got = dev_compare.decide("loop.select_within", variants, dev)  # t and c are references: other policy / key
    assert got["value"] == "pool" and set(got["dev_macro_f1"]) == {suite._v(suite._config_default("loop.select_within")), "pool"}
    with pytest.raises(SystemExit):
        dev_compare.decide("loop.select_within", variants[:1], dev)
    # a decision at another setting: the candidates share the first distillgraph variant's other overrides
    at = [("s", "distillgraph", ["loop.score_sample=400"]),
          ("p", "distillgraph", ["loop.score_sample=400", "loop.select_within=pool"]), ("w", "distillgraph", [])]
    dev = {"s": {"mean": 0.5}, "p": {"mean": 0.4}, "w": {"mean": 0.9}}  # w (other score_sample): a reference
    got = dev_compare.decide("loop.select_within", at, dev)
    assert got["value"] != "pool" and got["at"] == ["loop.score_sample=400"] and len(got["dev_macro_f1"]) == 2


def test_a_superseding_lora_merge_replaces_every_earlier_lora_run_of_its_tasks(tmp_path, tiny_task, monkeypatch):
    out, other = tiny_suite(tmp_path, tiny_task, monkeypatch)
    theirs = json.loads((out / "suite.json").read_text())
    lora = [dict(r, student=suite.LORA, macro_f1=0.5 + 0.1 * i) for i, r in enumerate(theirs["runs"])]
    other.mkdir()
    (other / "suite.json").write_text(json.dumps(dict(theirs, runs=theirs["runs"] + lora)))
    suite.main(["--merge-lora", str(other), "--out", str(out)])  # the old student: both policies, seed 0
    # the new student's runs: distillgraph only, seed 1; the old random and seed-0 runs must not stay beside them
    new = [dict(r, seed=1, macro_f1=0.8) for r in lora if r["policy"] == "distillgraph"]
    (other / "suite.json").write_text(json.dumps(dict(theirs, runs=theirs["runs"] + new)))
    with pytest.raises(SystemExit, match="goes with --merge-lora"):
        suite.main(["--supersede", "x", "--out", str(out)])
    suite.main(["--merge-lora", str(other), "--out", str(out), "--supersede", "min_train_steps is now 100."])
    merged = json.loads((out / "suite.json").read_text())
    assert [(r["policy"], r["seed"], r["macro_f1"]) for r in merged["runs"] if r["student"] == suite.LORA] == [
        ("distillgraph", 1, 0.8)]
    assert sorted(r["policy"] for r in merged["runs"] if r["student"] == suite.PROBE) == ["distillgraph", "random"]
    assert merged["meta"]["seeds"][suite.LORA] == [1]
    assert len(merged["meta"]["lora_merges"]) == 1 and merged["meta"]["lora_merges"][0]["seeds"] == [1]
    gone = merged["meta"]["lora_superseded"]
    assert len(gone) == 1 and gone[0]["runs"] == 2 and len(gone[0]["merges"]) == 1
    assert set(merged["results"]["tiny"][suite.LORA]) == {"distillgraph"}
    md = (out / "suite.md").read_text()
    assert "were superseded and left out: min_train_steps is now 100." in md
    assert md.count("merged with `--merge-lora`") == 1
    # a later probe-only invocation into the same folder keeps the LoRA runs and the note on what they superseded
    suite.main(["--tasks", "--task-file", str(tiny_task), "--policies", "random", "distillgraph",
                "--seeds", "0", "--budgets", "12", "--workers", "1", "--out", str(out), "--no-upper-bound",
                "--set", "store.embedding_model=hash:32", "store.k_max=3"])
    assert "were superseded and left out: min_train_steps is now 100." in (out / "suite.md").read_text()


def test_a_noisy_simulated_teacher_records_how_many_bought_labels_it_got_right(tmp_path, tiny_task, monkeypatch):
    """--set teacher.simulation.noise (difficulty mode, through the graph): each run says how many of the pool
    texts it bought the teacher labelled right; a noise-free run keeps the old record."""
    monkeypatch.setattr(harness, "CACHE", tmp_path / "cache")
    out = tmp_path / "results"
    common = ["--tasks", "--task-file", str(tiny_task), "--policies", "random", "--seeds", "0", "--budgets", "24",
              "--workers", "1", "--no-upper-bound", "--set", "store.embedding_model=hash:32", "store.k_max=3"]
    suite.main([*common, "teacher.simulation.noise=0.5", "teacher.simulation.noise_mode=difficulty",
                "--out", str(out)])
    (run,) = json.loads((out / "suite.json").read_text())["runs"]
    assert run["teacher_labels"] >= 12
    assert 0.2 < run["teacher_label_acc"] < 0.8  # half of them wrong on average
    assert run["trained_label_acc"] == run["teacher_label_acc"]  # no gate: every label is trained on
    suite.main([*common, "--out", str(tmp_path / "clean")])
    (clean,) = json.loads((tmp_path / "clean" / "suite.json").read_text())["runs"]
    assert "teacher_label_acc" not in clean
