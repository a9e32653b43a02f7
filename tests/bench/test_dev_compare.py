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
