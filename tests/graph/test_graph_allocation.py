"""The analyst's arithmetic: BalDistill's schedule, the error boost, integer quotas, the select/synthesize
split, what a round's budget buys and what is left of the budget."""

from __future__ import annotations

import random

import pytest

from distillgraph.agents.analyst import (
    adaptive_shares,
    allocate,
    boost_by_error,
    integer_quotas,
    samples_for_budget,
    shrink_errors,
)
from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.config import BudgetConfig
from distillgraph.graph.policy_seams import Balanced, Checked, ErrorBoosted, Trusted

NATURAL = {0: 60.0, 1: 30.0, 2: 10.0}


def test_adaptive_shares_move_from_natural_to_uniform():
    assert adaptive_shares(NATURAL, 0, 4) == pytest.approx({0: 0.6, 1: 0.3, 2: 0.1})
    assert adaptive_shares(NATURAL, 4, 4) == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
    # stage 1 of 4: natural x 3/4 + uniform x 1/4 (BalDistill's formula)
    assert adaptive_shares(NATURAL, 1, 4) == pytest.approx({c: s * 0.75 + 0.25 / 3 for c, s in {0: 0.6, 1: 0.3, 2: 0.1}.items()})
    assert adaptive_shares(NATURAL, 9, 4) == adaptive_shares(NATURAL, 4, 4)  # past the last stage: uniform


def test_error_boost_raises_the_erring_cluster_and_renormalises():
    shares = boost_by_error({0: 0.5, 1: 0.5}, {0: 0.0, 1: 0.5}, boost=2.0)  # 0.5 x 1 vs 0.5 x 2
    assert shares == pytest.approx({0: 1 / 3, 1: 2 / 3})
    assert boost_by_error({0: 0.5, 1: 0.5}, {1: 0.9}, boost=0.0) == pytest.approx({0: 0.5, 1: 0.5})


def test_balanced_schedules_and_the_error_boosted_seam():
    errors = {0: 0.0, 1: 0.0, 2: 1.0}
    assert Balanced("natural").shares(NATURAL, errors, 3, 4) == pytest.approx({0: 0.6, 1: 0.3, 2: 0.1})
    assert Balanced("uniform").shares(NATURAL, errors, 0, 4) == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3})
    assert Balanced("adaptive").shares(NATURAL, errors, 2, 4) == pytest.approx(adaptive_shares(NATURAL, 2, 4))
    boosted = ErrorBoosted(Balanced("natural"), 9.0).shares(NATURAL, errors, 0, 4)
    assert boosted == pytest.approx({0: 0.6 / 1.9, 1: 0.3 / 1.9, 2: 1.0 / 1.9})  # 0.1 x (1 + 9 x 1.0) = 1.0
    assert "x (1 + 9 x dev error)" in str(ErrorBoosted(Balanced("natural"), 9.0))


def test_shrink_errors_pulls_small_clusters_toward_the_mean():
    errors, counts = {0: 0.0, 1: 1.0}, {0: 30, 1: 10}  # overall error (0 x 30 + 1 x 10) / 40 = 0.25
    assert shrink_errors(errors, counts, 0.0) == errors
    shrunk = shrink_errors(errors, counts, 10.0)
    assert shrunk == pytest.approx({0: (0 + 10 * 0.25) / 40, 1: (10 + 10 * 0.25) / 20})
    assert shrunk[1] - shrunk[0] < 1.0  # the gap narrows; the order stays
    assert shrink_errors(errors, {0: 30, 1: 10}, 1e9) == pytest.approx({0: 0.25, 1: 0.25})
    assert shrink_errors({}, {}, 10.0) == {}


def test_error_boosted_with_a_prior_boosts_the_shrunk_errors():
    errors, counts = {0: 0.0, 1: 0.0, 2: 1.0}, {0: 6, 1: 3, 2: 1}
    seam = ErrorBoosted(Balanced("natural"), 9.0, prior=5.0)
    expected = boost_by_error({0: 0.6, 1: 0.3, 2: 0.1}, shrink_errors(errors, counts, 5.0), 9.0)
    assert seam.shares(NATURAL, errors, 0, 4, counts) == pytest.approx(expected)
    unshrunk = ErrorBoosted(Balanced("natural"), 9.0).shares(NATURAL, errors, 0, 4, counts)
    assert seam.shares(NATURAL, errors, 0, 4, counts)[2] < unshrunk[2]  # one dev example: trusted less
    assert seam.shares(NATURAL, errors, 0, 4) == pytest.approx(unshrunk)  # no counts: as measured
    assert "shrunk toward the mean by 5 pseudo-examples" in str(seam)


def test_trusted_blends_toward_natural_shares_by_the_students_dev_accuracy():
    errors, counts = {0: 0.0, 1: 0.0, 2: 1.0}, {0: 6, 1: 3, 2: 1}  # accuracy (6 + 3 + 0) / 10 = 0.9
    inner = ErrorBoosted(Balanced("natural"), 9.0)
    raised = inner.shares(NATURAL, errors, 0, 4, counts)
    trusted = Trusted(inner).shares(NATURAL, errors, 0, 4, counts)
    assert trusted == pytest.approx({c: 0.9 * raised[c] + 0.1 * n / 100 for c, n in NATURAL.items()})
    assert sum(trusted.values()) == pytest.approx(1.0) and NATURAL[2] / 100 < trusted[2] < raised[2]
    weak = Trusted(inner).shares(NATURAL, {0: 1.0, 1: 1.0, 2: 1.0}, 0, 4, counts)  # nothing right: natural
    assert weak == pytest.approx({0: 0.6, 1: 0.3, 2: 0.1})
    assert Trusted(inner).shares(NATURAL, {}, 0, 4) == pytest.approx(inner.shares(NATURAL, {}, 0, 4))  # no dev yet
    assert "blended toward natural shares" in str(Trusted(inner))


def test_integer_quotas_hand_values():
    assert integer_quotas({0: 0.5, 1: 0.3, 2: 0.2}, 10) == {0: 5, 1: 3, 2: 2}
    assert integer_quotas({0: 1 / 3, 1: 1 / 3, 2: 1 / 3}, 10) == {0: 4, 1: 3, 2: 3}  # ties: lowest cluster id
    assert integer_quotas({0: 0.5, 1: 0.5}, 0) == {0: 0, 1: 0}


@pytest.mark.parametrize("seed", range(30))
def test_integer_quotas_sum_to_n(seed):
    rng = random.Random(seed)
    raw = {c: rng.random() for c in range(rng.randint(1, 9))}
    shares = {c: v / sum(raw.values()) for c, v in raw.items()}
    n = rng.randint(0, 200)
    quotas = integer_quotas(shares, n)
    assert sum(quotas.values()) == n
    assert all(abs(q - shares[c] * n) < 1 for c, q in quotas.items())


def _allocate(samples, available, errors=None, synthesis="off", can=False, weak=None, stage=0):
    errors = errors or {}
    return allocate(samples=samples, shares=Balanced("adaptive").shares(NATURAL, errors, stage, 4), natural=NATURAL,
                    errors=errors, available=available, tail_factor=2.0, synthesis=synthesis, can_synthesize=can,
                    weakness_clusters=weak)


@pytest.mark.parametrize("seed", range(30))
def test_allocate_never_selects_more_than_available_and_spends_what_the_pool_allows(seed):
    rng = random.Random(seed)
    available = {c: rng.randint(0, 30) for c in NATURAL}
    samples = rng.randint(0, 60)
    plans = _allocate(samples, available, errors={c: rng.random() for c in NATURAL}, stage=rng.randint(0, 4))
    assert all(0 <= p.select <= p.available == available[p.cluster] for p in plans)
    assert all(p.synthesize == 0 for p in plans)
    assert sum(p.select for p in plans) == min(samples, sum(available.values()))


def test_allocate_spills_an_exhausted_cluster_to_the_most_erring_one():
    plans = {p.cluster: p for p in _allocate(10, {0: 2, 1: 20, 2: 20}, errors={1: 0.1, 2: 0.5})}
    assert plans[0].select == 2
    assert plans[2].select == 1 + 4 and "+4 spill-over" in plans[2].reason  # 0's unused 4 go to the worst cluster
    assert sum(p.select for p in plans.values()) == 10


def test_allocate_synthesises_for_the_tail_and_for_weaknesses():
    plans = {p.cluster: p for p in _allocate(20, {0: 100, 1: 100, 2: 1}, synthesis="auto", can=True, weak={0})}
    assert plans[2].kind == "tail" and plans[2].select <= 1 and plans[2].select + plans[2].synthesize == plans[2].quota
    assert plans[0].synthesize == max(1, plans[0].quota // 4) and plans[0].select == plans[0].quota - plans[0].synthesize
    assert plans[1].synthesize == 0
    assert sum(p.select + p.synthesize for p in plans.values()) == 20
    # the same plan when the teacher cannot write: everything from the pool
    assert all(p.synthesize == 0 for p in _allocate(20, {0: 100, 1: 100, 2: 1}, synthesis="auto", can=False))
    assert all(p.select == 0 for p in _allocate(20, {0: 100, 1: 100, 2: 100}, synthesis="only", can=True))


def test_samples_for_budget():
    assert samples_for_budget(10, 1.0, 1.25, 0.0) == 10
    assert samples_for_budget(10, 3.0, 3.25, 0.0) == 3  # self-consistency: 3 votes per label
    assert samples_for_budget(10, 1.0, 2.0, 1.0) == 5
    assert samples_for_budget(10, 1.0, 2.0, 0.5) == 6  # 10 // 1.5
    assert samples_for_budget(0.9, 1.0, 1.25, 0.0) == 0
    assert samples_for_budget(5, 0.0, 0.0, 0.0) == 0


def _deps(tmp_path, budget: BudgetConfig, est_tokens: int = 100, prices=(0.0, 0.0)):
    from distillgraph.graph.config import config_from_dict
    from distillgraph.graph.deps import Deps

    cfg = config_from_dict({"task": {"labels": {"a": "", "b": ""}}, "data": {"pool": "p.jsonl"},
                            "budget": budget.model_dump(exclude_none=True)})
    ledger = BudgetLedger(budget, *prices)
    return Deps(cfg=cfg, run_dir=tmp_path, run_id="r", data={"pool": [], "seed": [], "dev": [], "test": []},
                prompts=None, embedder=None, store=None, student=None, teacher=None, ledger=ledger, trace=None,
                write_report=lambda s: tmp_path, est_tokens_per_call=est_tokens), ledger


def _spend(ledger, calls, tokens_in, tokens_out):
    for _ in range(calls):
        ledger.settle(ledger.reserve("annotator", tokens_in, tokens_out), tokens_in, tokens_out)


def test_calls_left_is_the_tightest_cap_in_call_equivalents(tmp_path):
    deps, ledger = _deps(tmp_path, BudgetConfig(max_calls=10))
    assert deps.calls_left() == 10
    _spend(ledger, 4, 80, 20)
    assert deps.calls_left() == 6
    # tokens: before any call, the estimated tokens per call; after, the mean so far
    deps, ledger = _deps(tmp_path, BudgetConfig(max_tokens=1000), est_tokens=100)
    assert deps.calls_left() == pytest.approx(10)
    _spend(ledger, 2, 150, 50)  # 200 tokens per call so far -> 600 left = 3 calls
    assert deps.calls_left() == pytest.approx(3)
    deps, ledger = _deps(tmp_path, BudgetConfig(max_calls=50, max_tokens=1000), est_tokens=100)
    _spend(ledger, 2, 150, 50)
    assert deps.calls_left() == pytest.approx(3)  # the token cap binds before the call cap
    deps, ledger = _deps(tmp_path, BudgetConfig(max_usd=1.0), est_tokens=1000, prices=(100.0, 100.0))
    assert deps.calls_left() == pytest.approx(10)  # 1000 tokens x $100 / 1M = $0.10 a call
    _spend(ledger, 4, 500, 500)  # $0.10 a call -> $0.60 left = 6 calls
    assert deps.calls_left() == pytest.approx(6)
    _spend(ledger, 6, 500, 500)
    assert deps.calls_left() == pytest.approx(0)


def test_errors_differ_tests_the_clusters_dev_error_rates_for_homogeneity():
    from scipy.stats import chi2_contingency

    from distillgraph.agents.analyst import errors_differ

    tail = errors_differ({0: 0.0, 1: 0.9, 2: 0.05}, {0: 20, 1: 10, 2: 20})  # errs on one cluster: they differ
    alike = errors_differ({0: 0.8, 1: 0.9, 2: 0.85}, {0: 10, 1: 10, 2: 20})  # errs everywhere alike
    assert tail < 0.001 < 0.5 < alike
    assert alike == pytest.approx(chi2_contingency([[8, 2], [9, 1], [17, 3]])[1])  # (wrong, right) per cluster
    assert errors_differ({0: 1.0, 1: 1.0}, {0: 3, 1: 4}) == 1.0  # every dev example wrong: nothing differs
    assert errors_differ({0: 0.5}, {0: 8}) is None and errors_differ({0: 0.5, 1: 0.2}, {0: 8}) is None


def test_checked_keeps_the_error_raised_shares_only_where_the_dev_errors_differ():
    inner = ErrorBoosted(Balanced("uniform"), 9.0)
    tail, counts = {0: 0.0, 1: 0.0, 2: 0.9}, {0: 30, 1: 20, 2: 10}
    assert Checked(inner).shares(NATURAL, tail, 3, 4, counts) == pytest.approx(inner.shares(NATURAL, tail, 3, 4, counts))
    alike = {0: 0.8, 1: 0.9, 2: 0.85}
    assert Checked(inner).shares(NATURAL, alike, 3, 4, counts) == pytest.approx({0: 0.6, 1: 0.3, 2: 0.1})  # natural
    assert inner.shares(NATURAL, alike, 3, 4, counts)[2] > 0.3  # what the inner allocation would have given
    assert Checked(inner).shares(NATURAL, {}, 0, 4) == pytest.approx(inner.shares(NATURAL, {}, 0, 4))  # no dev yet
    assert Checked(inner, alpha=0.99).shares(NATURAL, alike, 3, 4, counts) == pytest.approx(
        inner.shares(NATURAL, alike, 3, 4, counts))  # any difference counts at alpha 0.99
    assert "chi-square p < 0.05), else natural shares" in str(Checked(inner))


@pytest.mark.parametrize("q", range(0, 13))
def test_a_weak_clusters_synthesised_share_is_weak_share_of_its_quota(q):
    from distillgraph.agents.analyst import split_quota

    assert split_quota(q, 100, "head", "auto", True) == split_quota(q, 100, "head", "auto", True, 0.25)
    sel, syn, _ = split_quota(q, 100, "head", "auto", True, 0.25)
    assert syn == (max(1, q // 4) if q >= 2 else 0) and sel + syn == q  # the default: a quarter, as before
    sel, syn, _ = split_quota(q, 100, "head", "auto", True, 0.5)
    assert syn == (max(1, q // 2) if q >= 2 else 0) and sel + syn == q
    assert split_quota(q, 100, "head", "auto", True, 1.0)[1] == (q if q >= 2 else 0)
    assert split_quota(q, 100, "head", "off", True, 1.0)[1] == 0
    assert split_quota(q, 100, "head", "auto", True, 0.0)[:2] == (q, 0)  # 0: a weak head writes nothing (stage 65)
    assert split_quota(q, 1, "tail", "auto", True, 0.0)[1] == q - min(1, q // 2)  # the tail still writes


def test_allocate_passes_the_weak_share_on():
    plans = allocate(samples=20, shares=Balanced("adaptive").shares(NATURAL, {}, 0, 4), natural=NATURAL, errors={},
                     available={0: 100, 1: 100, 2: 100}, tail_factor=2.0, synthesis="auto", can_synthesize=True,
                     weakness_clusters={0}, weak_share=0.5)
    p = next(p for p in plans if p.cluster == 0)
    assert p.synthesize == max(1, p.quota // 2) and "weakness" in p.reason


def test_rare_labels_are_those_under_half_an_even_share():
    from distillgraph.agents.analyst import rare_labels

    labels = ["a", "b", "c", "d"]
    assert rare_labels({"a": 10, "b": 10, "c": 10, "d": 10}, labels) == set()  # balanced: none
    assert rare_labels({"a": 30, "b": 6, "c": 4}, labels) == {"c", "d"}  # even share 10: under 5 is rare
    assert rare_labels({"a": 30, "b": 6, "c": 4}, labels, factor=0.7) == {"b", "c", "d"}
    assert rare_labels({}, labels) == set() and rare_labels({"a": 1}, []) == set()
    assert rare_labels({"a": 3, "zzz": 100}, ["a", "b"]) == {"b"}  # only the task's labels count


def _weak_deps(rule: str, kind: str = "classification"):
    from types import SimpleNamespace

    cfg = SimpleNamespace(loop=SimpleNamespace(weak_synth_labels=rule, hard_anchor="dev"),
                          task=SimpleNamespace(label_names=["a", "b", "c"], type=kind))
    return SimpleNamespace(cfg=cfg, data={"seed": []}, correct_flags=lambda rows: [r["gold"] == r["pred"] for r in rows])


def test_weak_writers_keep_only_clusters_missing_a_rare_label():
    from types import SimpleNamespace

    from distillgraph.agents.records import Weakness
    from distillgraph.graph.node_analyst import weak_writers

    bought = [SimpleNamespace(id=f"x{i}", target=t, weight=1.0) for i, t in enumerate("a" * 8 + "b" * 8 + "c")]
    dev = [{"id": "d1", "gold": "c", "pred": "a", "cluster": 0}, {"id": "d2", "gold": "b", "pred": "a", "cluster": 1},
           {"id": "d3", "gold": "a", "pred": "a", "cluster": 2}]
    state = {"dataset": bought, "dev_predictions": dev}
    weak = [Weakness(description="w", clusters=[0, 1, 2])]
    assert weak_writers(_weak_deps("any"), state, weak) == {0, 1, 2}  # today: every weak cluster writes
    assert weak_writers(_weak_deps("rare"), state, weak) == {0}  # only cluster 0 misses "c", which is rare
    assert weak_writers(_weak_deps("rare", "ner"), state, weak) == {0, 1, 2}  # classification only
    state["dataset"] = [*bought, *[SimpleNamespace(id=f"y{i}", target="c", weight=1.0) for i in range(6)]]
    assert weak_writers(_weak_deps("rare"), state, weak) == set()  # "c" no longer short: nothing written
    gated = [SimpleNamespace(id=f"y{i}", target="c", weight=0.0) for i in range(6)]  # gated-out labels do not count
    assert weak_writers(_weak_deps("rare"), {**state, "dataset": [*bought, *gated]}, weak) == {0}
