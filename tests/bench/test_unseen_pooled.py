"""bench/unseen_pooled.py: the default against each policy pooled over the unseen tasks (each task weighs the same)."""

from __future__ import annotations

import json

import pytest

from bench.stats import stratified_bootstrap_ci
from bench.unseen_pooled import load_runs, markdown, pooled


def _run(task: str, policy: str, seed: int, f1: float, budget: int = 20) -> dict:
    return {"task": task, "student": "embedding-probe", "policy": policy, "budget": budget, "seed": seed,
            "macro_f1": f1, "worst_cluster_acc": f1 / 2}


def test_each_task_weighs_the_same_and_the_ci_resamples_within_tasks():
    # task a: 2 seeds, distillgraph 10 points ahead; task b: 4 seeds, level -> pooled +5, not +3.3
    runs = [_run("a", "distillgraph", s, 0.6) for s in (0, 1)] + [_run("a", "random", s, 0.5) for s in (0, 1)]
    runs += [_run("b", "distillgraph", s, 0.4 + s / 100) for s in range(4)]
    runs += [_run("b", "random", s, 0.4 + s / 100) for s in range(4)]
    cell = pooled(runs)["20"]["random"]
    assert cell["diff"] == pytest.approx(5.0) and cell["ci_low"] == cell["ci_high"] == pytest.approx(5.0)
    assert cell["verdict"] == "ahead" and cell["wins"] == 2 and cell["n"] == 6
    assert cell["tasks_ahead"] == 1 and cell["tasks"] == 2 and cell["per_task"] == {"a": 10.0, "b": 0.0}
    assert pooled(runs, "worst_cluster_acc")["20"]["random"]["diff"] == pytest.approx(2.5)


def test_a_policy_behind_on_every_seed_is_called_behind_and_listed():
    runs = [_run(t, "distillgraph", s, 0.5 - s / 1000) for t in ("a", "b") for s in range(5)]
    runs += [_run(t, "typiclust", s, 0.55 + s / 1000) for t in ("a", "b") for s in range(5)]
    table = pooled(runs)
    assert table["20"]["typiclust"]["verdict"] == "behind" and table["20"]["typiclust"]["ci_high"] < 0
    text = markdown({"sources": ["x.json"], "tasks": ["a", "b"], "seeds": list(range(5)),
                     "macro_f1": table, "worst_cluster_acc": pooled(runs, "worst_cluster_acc")})
    assert "Behind (CI below 0) on macro-F1: typiclust at 20 labels" in text and "SIMULATION" in text


def test_the_stratified_ci_covers_the_spread_and_refuses_an_empty_task():
    low, high = stratified_bootstrap_ci([[0.0, 2.0, 4.0], [10.0, 10.0]])
    assert 5.0 <= low < 6.0 < high <= 7.0  # the mean of the task means is (2 + 10) / 2 = 6; task b never moves
    with pytest.raises(ValueError):
        stratified_bootstrap_ci([[1.0], []])


def test_a_run_in_two_files_is_an_error_and_lora_runs_are_left_out(tmp_path):
    one = [_run("a", "random", 0, 0.5), {**_run("a", "random", 0, 0.9), "student": "classifier"}]
    (tmp_path / "x.json").write_text(json.dumps({"runs": one}))
    assert [r["macro_f1"] for r in load_runs([tmp_path / "x.json"])] == [0.5]
    (tmp_path / "y.json").write_text(json.dumps({"runs": one[:1]}))
    with pytest.raises(ValueError, match="in two files"):
        load_runs([tmp_path / "x.json", tmp_path / "y.json"])


def test_a_pooled_lead_won_on_few_tasks_names_the_policy_with_the_higher_mean_on_most():
    # distillgraph 20 points ahead on task a, 1 point behind on b and c: pooled +6, ahead, yet behind on 2 of 3
    runs = [_run("a", "distillgraph", s, 0.7 + s / 1000) for s in range(5)]
    runs += [_run("a", "typiclust", s, 0.5 + s / 1000) for s in range(5)]
    runs += [_run(t, "distillgraph", s, 0.5 + s / 1000) for t in ("b", "c") for s in range(5)]
    runs += [_run(t, "typiclust", s, 0.51 + s / 1000) for t in ("b", "c") for s in range(5)]
    table = pooled(runs)
    assert table["20"]["typiclust"]["verdict"] == "ahead" and table["20"]["typiclust"]["tasks_ahead"] == 1
    text = markdown({"sources": ["x.json"], "tasks": ["a", "b", "c"], "seeds": list(range(5)),
                     "macro_f1": table, "worst_cluster_acc": pooled(runs, "worst_cluster_acc")})
    assert "Ahead of every other policy (each CI above 0) at: 20 labels" in text
    assert "higher mean on more than half of the tasks: typiclust at 20 labels (2 of 3)" in text
    assert "least clean of the 3" in text


def test_the_per_task_table_shows_the_closest_policy_by_task_sorted_by_imbalance():
    # typiclust is the closer rival (default +1 on a, -3 on b: mean -1) than random (+10 on both)
    runs = [_run(t, "distillgraph", s, 0.5) for t in ("a", "b") for s in range(3)]
    runs += [_run("a", "typiclust", s, 0.49) for s in range(3)] + [_run("b", "typiclust", s, 0.53) for s in range(3)]
    runs += [_run(t, "random", s, 0.4) for t in ("a", "b") for s in range(3)]
    table = pooled(runs)
    info = {"a": {"n_labels": 5, "imbalance": 30.0, "upper_bound": 0.9},
            "b": {"n_labels": 20, "imbalance": 1.5, "upper_bound": None}}
    text = markdown({"sources": ["x.json"], "tasks": ["a", "b"], "seeds": [0, 1, 2], "macro_f1": table,
                     "worst_cluster_acc": pooled(runs, "worst_cluster_acc"), "task_info": info})
    assert "**Per task: distillgraph minus typiclust**" in text
    rows = [line for line in text.splitlines() if line.startswith(("| a |", "| b |"))]
    assert rows == ["| b | 20 | 1.5 | - | -3.0 |", "| a | 5 | 30.0 | 0.900 | +1.0 |"]  # the balanced task first


def test_task_info_reads_labels_imbalance_and_the_upper_bound_from_the_suite_files(tmp_path):
    from bench.unseen_pooled import task_info

    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"tasks": {"t": {"n_labels": 3, "imbalance": 2.5,
                                                "upper_bound": {"macro_f1": 0.7, "accuracy": 0.8}}}}))
    assert task_info([path]) == {"t": {"n_labels": 3, "imbalance": 2.5, "upper_bound": 0.7}}
