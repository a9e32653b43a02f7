"""bench/dev_compare: variants parsed from the command line, dev-only tables paired per seed, test seeds refused."""

from __future__ import annotations

import pytest

from bench import dev_compare as dc


def test_a_variant_is_name_policy_and_overrides() -> None:
    assert dc.parse_variant("split=distillgraph:loop.select_within=split,loop.error_boost=10") == (
        "split", "distillgraph", ["loop.select_within=split", "loop.error_boost=10"])
    assert dc.parse_variant("t=typiclust") == ("t", "typiclust", [])
    with pytest.raises(SystemExit):
        dc.parse_variant("typiclust")


def test_the_table_pairs_each_variant_with_the_first_per_task_budget_and_seed() -> None:
    values = {("a", 100): 0.5, ("a", 101): 0.7, ("b", 100): 0.6, ("b", 101): 0.65}  # b: +0.10, then -0.05
    runs = [{"task": "t", "budget": 20, "seed": s, "dev_macro_f1": v} for (_, s), v in values.items()]
    names = [n for n, _ in values]
    got = dc.table(runs, names)
    assert got["a"]["vs_first"] == {"diff": 0.0, "wins": 0, "losses": 0, "n": 2}
    assert got["b"]["per_point"] == {"t/20": pytest.approx(0.625)}
    assert got["b"]["vs_first"] == {"diff": pytest.approx(0.025), "wins": 1, "losses": 1, "n": 2}


def test_test_seeds_are_refused() -> None:
    with pytest.raises(SystemExit, match="test seeds"):
        dc.main(["--variant", "a=random", "--seeds", "100", "3"])


def test_dev_tasks_are_the_suites_unless_named_and_held_out_ones_join_only_by_name():
    from bench.suite import builtin_tasks
    from bench.tasks import heldout_tasks

    assert set(dc.dev_tasks(None)) == set(builtin_tasks())
    assert not set(dc.dev_tasks(None)) & set(heldout_tasks())
    assert list(dc.dev_tasks(["privacy_qa", "bbc"])) == ["privacy_qa", "bbc"]
    with pytest.raises(SystemExit, match="unknown task"):
        dc.dev_tasks(["bbc", "no_such_task"])
    assert "geonames_country" in dc.dev_tasks(["geonames_country"])  # a tuning task joins by name too


def _splits():
    from bench.tasks import Splits

    dev = [(f"{lab}{i}", lab) for lab in ("a", "b") for i in range(5)] + [("c0", "c")]
    return Splits(pool=[("p0", "a"), ("p1", "b")], dev=dev, test=[("t0", "a"), ("t1", "b")])


def test_halving_dev_splits_each_label_into_a_steering_and_a_measured_half_and_drops_the_test_split():
    from collections import Counter

    splits = _splits()
    got = dc.halve_dev(splits, seed=3)
    assert got.pool == splits.pool
    assert Counter(lab for _, lab in got.dev) == {"a": 3, "b": 3, "c": 1}  # the odd one steers
    assert Counter(lab for _, lab in got.test) == {"a": 2, "b": 2}
    assert sorted(got.dev + got.test) == sorted(splits.dev)  # the two halves are dev, and nothing else
    assert not {t for t, _ in got.test} & {t for t, _ in splits.test}  # the real test split never enters
    assert dc.halve_dev(splits, seed=3) == got and dc.halve_dev(splits, seed=4).dev != got.dev  # fixed per seed


def test_a_held_out_dev_task_serves_halved_splits_and_refuses_the_builtin_source():
    from bench.suite import Prepared
    from bench.tasks import Task, builtin_tasks

    task = Task(name="t", instruction="", labels={"a": "", "b": "", "c": ""}, source="", license="")
    prep = dc.held_out_dev(Prepared(task, {}, {1: _splits()}))
    prep._splits.clear()  # the halved view is built from the task's own split, not from a cached one
    task.splits = lambda seed: _splits()  # type: ignore[method-assign]
    assert prep.splits(1) == dc.halve_dev(_splits(), 1)
    with pytest.raises(SystemExit, match="built-in source"):
        dc.held_out_dev(Prepared(builtin_tasks()["bbc"], {}))


def test_a_record_never_keeps_a_test_metric_and_names_the_held_out_half_as_such():
    run = {"task": "t", "macro_f1": 0.4, "accuracy": 0.5, "worst_cluster_acc": 0.1, "dev_macro_f1": 0.6}
    assert dc.keep(run, held_out=False) == {"task": "t", "dev_macro_f1": 0.6}
    assert dc.keep(run, held_out=True) == {"task": "t", "dev_macro_f1": 0.6, "heldout_dev_macro_f1": 0.4,
                                            "heldout_dev_worst_cluster_acc": 0.1}
    runs = [dc.keep({**run, "budget": 20, "seed": s, "macro_f1": v}, True) for s, v in ((1, 0.2), (2, 0.4))]
    assert dc.table(runs, ["x", "x"], "heldout_dev_macro_f1")["x"]["mean"] == pytest.approx(0.3)


def test_flattery_is_the_gain_over_the_first_variant_on_the_steering_half_beyond_the_held_out_half():
    def run(seed, steer, held):
        return {"task": "t", "budget": 20, "seed": seed, "dev_macro_f1": steer, "heldout_dev_macro_f1": held}

    # b beats a by 0.10 / 0.20 on the half it steered on, by 0.00 / 0.10 on the half it never saw: flattery 0.10
    runs = [run(1, 0.5, 0.5), run(2, 0.5, 0.4), run(1, 0.6, 0.5), run(2, 0.7, 0.5)]
    got = dc.flattery(runs, ["a", "a", "b", "b"])
    assert list(got) == ["b"] and got["b"]["diff"] == pytest.approx(0.1) and got["b"]["n"] == 2
    assert got["b"]["ci_low"] == pytest.approx(0.1) and got["b"]["per_task"] == {"t": pytest.approx(0.1)}
    honest = dc.flattery([run(1, 0.5, 0.5), run(1, 0.6, 0.6)], ["a", "b"])
    assert honest["b"]["diff"] == pytest.approx(0.0)
