"""Selection policies: the registry, the seams, one tiny graph run per registered policy (oracle teacher,
hash embeddings, embedding-probe student), and a baseline never paying for a weakness analysis."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rich.console import Console

from distillgraph.graph.config import LoopConfig, apply_overrides, config_from_dict, load_config
from distillgraph.graph.policies import POLICIES, Policy, build_policy, policy_names, register
from distillgraph.graph.policy_scopes import ByKind, PerCluster, Split, Surplus, WholePool, scaled_quotas
from distillgraph.graph.policy_seams import (
    DensityWeighted,
    DiverseTop,
    Mixed,
    Picked,
    PoolView,
    RandomPick,
    RareLabels,
    Selection,
    Subsample,
    TopScore,
)
from distillgraph.graph.runner import execute, history, new_run_dir
from distillgraph.store.cluster import Clustering
from distillgraph.store.index import CLUSTERS_FILE
from distillgraph.store.schema import UserError

ROOT = Path(__file__).resolve().parents[2]
ENV = {"DG_TEST_KEY": "sk-test-secret-key-1234567890"}


# ---------------------------------------------------------------- registry


def test_registry_names_every_policy_and_describes_it():
    assert {"random", "uncertainty", "margin", "cluster_balanced", "baldistill", "distillgraph",
            "typiclust"} <= set(policy_names())
    for name in policy_names():
        policy = build_policy(LoopConfig(policy=name))
        text = str(policy)
        assert text.startswith(f"{name}: ") and policy.description and "allocation: " in text and "selection " in text
    assert "x (1 + 100 x dev error)" in str(build_policy(LoopConfig()))  # the default reads loop.error_boost


def test_a_misspelt_policy_is_one_line_naming_the_registered_ones():
    with pytest.raises(UserError) as err:
        config_from_dict({"task": {"labels": {"a": "", "b": ""}}, "data": {"pool": "p.jsonl"},
                          "budget": {"max_calls": 5}, "loop": {"policy": "margn"}})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("loop.policy: unknown policy 'margn' (did you mean margin?)")
    assert all(name in msg for name in policy_names())


def test_register_refuses_a_nameless_or_taken_name():
    class Nameless(Policy):
        pass

    class Again(Policy):
        name = "random"

    for cls in (Nameless, Again):
        with pytest.raises(ValueError):
            register(cls)
    assert POLICIES["random"].__name__ == "Random"


# ---------------------------------------------------------------- seams


class FakePool:
    """A PoolView over given scores and vectors."""

    def __init__(self, scores: dict[str, float], vectors: dict[str, list[float]], cap: int = 100):
        self.rng = random.Random(0)
        self._scores, self._vectors, self.cap = scores, vectors, cap
        self.scored: list[list[str]] = []

    def scores(self, ids: list[str], method: str | None = None) -> np.ndarray:
        self.scored.append(list(ids))
        return np.array([self._scores[i] for i in ids])

    def vectors(self, ids: list[str]) -> np.ndarray:
        return np.array([self._vectors[i] for i in ids], dtype=np.float32)

    def centroid(self, cluster: int) -> np.ndarray:
        return np.array([1.0, 0.0], dtype=np.float32)

    def labelled_vectors(self) -> np.ndarray:
        return np.zeros((0, 2))

    def scoring_cap(self, k: int) -> int:
        return self.cap

    def student_quality(self) -> float | None:
        return self.quality

    quality: float | None = None
    deficits: dict[str, float] | None = None
    natural: dict[int, float] | None = None

    def natural_shares(self) -> dict[int, float]:
        return self.natural or {}

    chance: float = 0.0

    def chance_quality(self) -> float:
        return self.chance

    measured: bool = True

    def measures_quality(self) -> bool:
        return self.measured

    def label_deficit(self, ids: list[str]) -> np.ndarray | None:
        return None if self.deficits is None else np.array([self.deficits[i] for i in ids])

    densities: dict[str, float] | None = None

    def density(self, ids: list[str]) -> np.ndarray:
        return np.array([(self.densities or {}).get(i, 1.0) for i in ids])


IDS = ["a", "b", "c", "d"]
SCORES = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.9}
VECTORS = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [0.7, 0.7], "d": [0.0, 1.0]}


def test_top_score_takes_the_highest_keeping_pool_order_on_ties():
    picked = TopScore().select(IDS, 3, FakePool(SCORES, VECTORS), None)
    assert picked.chosen == ["b", "d", "c"] and picked.scores == {"b": 0.9, "d": 0.9, "c": 0.5}


def test_diverse_top_skips_a_duplicate_and_centroid_scores_by_closeness():
    pool = FakePool(SCORES, VECTORS)
    assert DiverseTop(min_distance=0.1).select(IDS, 2, pool, 0).chosen == ["b", "c"]  # d duplicates b
    assert DiverseTop().select(IDS, 2, pool, 0).chosen == ["b", "d"]
    near = DiverseTop(centroid=True).select(IDS, 2, pool, 0)
    assert near.chosen == ["a", "c"] and near.scores["a"] == pytest.approx(1.0)


def test_diverse_top_with_a_power_draws_seeded_and_keeps_the_true_scores():
    scores = {f"x{i}": (0.9 if i < 5 else 0.1) for i in range(40)}
    vectors = {i: [np.cos(n), np.sin(n)] for n, i in enumerate(scores)}
    ids = list(scores)
    top = DiverseTop().select(ids, 5, FakePool(scores, vectors), None)
    assert top.chosen == ids[:5]
    drawn = DiverseTop(power=1.0).select(ids, 5, FakePool(scores, vectors), None)
    assert drawn.chosen == DiverseTop(power=1.0).select(ids, 5, FakePool(scores, vectors), None).chosen  # seeded
    assert drawn.chosen != top.chosen and drawn.scores == top.scores  # 0.1-scored ones can be drawn
    hot = DiverseTop(power=8.0).select(ids, 5, FakePool(scores, vectors), None).chosen
    assert sum(i in ids[:5] for i in hot) >= 4  # (0.9 / 0.1)^8: the high scores all but always win
    assert "probability proportional to informativeness^1" in str(DiverseTop(power=1.0))
    assert "proportional" not in str(DiverseTop(power=1.0, centroid=True))


def test_subsample_scores_at_most_the_cap_and_random_pick_is_seeded():
    pool = FakePool(SCORES, VECTORS, cap=2)
    picked = Subsample(TopScore()).select(IDS, 1, pool, None)
    assert len(pool.scored[0]) == 2 and picked.chosen[0] in pool.scored[0]
    first = RandomPick().select(IDS, 2, FakePool(SCORES, VECTORS), None).chosen
    assert first == RandomPick().select(IDS, 2, FakePool(SCORES, VECTORS), None).chosen and first == sorted(first)


class SeesLabelled(Selection):
    """Records how many labelled vectors it was shown and which ids it could pick; takes the first k."""

    def __init__(self) -> None:
        self.shown: list[int] = []
        self.offered: list[list[str]] = []

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        self.shown.append(len(pool.labelled_vectors()))
        self.offered.append(list(ids))
        return Picked(ids[:k], {i: -1.0 for i in ids[:k]})


def test_mixed_splits_k_and_the_second_part_sees_the_first_parts_picks_as_labelled():
    second = SeesLabelled()
    picked = Mixed(TopScore(), second, share=0.5).select(IDS, 3, FakePool(SCORES, VECTORS), None)
    # round(1.5) = 2 by the top scores (b, d), the rest (1) by the second part, which never sees b or d
    assert picked.chosen == ["b", "d", "a"] and second.offered == [["a", "c"]] and second.shown == [2]
    assert picked.scores == {"b": 0.9, "d": 0.9, "a": -1.0}
    only_second = SeesLabelled()
    assert Mixed(TopScore(), only_second, share=0.0).select(IDS, 2, FakePool(SCORES, VECTORS), None).chosen == ["a", "b"]
    assert only_second.shown == [0]  # nothing picked before it
    unused = SeesLabelled()
    assert Mixed(TopScore(), unused, share=1.0).select(IDS, 9, FakePool(SCORES, VECTORS), None).chosen == ["b", "d", "c", "a"]
    assert unused.offered == []  # k capped at the pool; the first part took it all
    assert str(Mixed(TopScore(), RandomPick(), 0.75)).startswith("75%: most informative")


def test_an_adaptive_mix_gives_the_first_part_the_students_dev_score_as_its_share():
    mix = Mixed(TopScore(), SeesLabelled(), share=0.5, adaptive=True)
    pool = FakePool(SCORES, VECTORS)
    assert mix.select(IDS, 4, pool, None).chosen == ["b", "d", "a", "c"]  # no dev score yet: share 0.5
    pool.quality = 0.76  # round(0.76 x 4) = 3 by the top scores, 1 by the second part
    assert mix.select(IDS, 4, pool, None).chosen == ["b", "d", "c", "a"]
    pool.quality = 0.1
    assert mix.select(IDS, 4, pool, None).chosen == ["a", "b", "c", "d"]  # round(0.4) = 0: all to the second
    pool.quality = 1.7  # clipped to the whole k
    assert mix.select(IDS, 2, pool, None).chosen == ["b", "d"]
    assert Mixed(TopScore(), SeesLabelled(), share=0.5).first_share(pool) == 0.5  # not adaptive: the share
    assert "a share equal to the student's last dev score (else 50%): most informative" in str(mix)
    assert "(else 75%): most informative" in str(build_policy(LoopConfig(coverage_share="adaptive")))


def test_an_above_chance_mix_trusts_the_students_score_only_beyond_guessing():
    mix = Mixed(TopScore(), SeesLabelled(), share=0.5, adaptive=True, above_chance=True)
    pool = FakePool(SCORES, VECTORS)
    assert mix.first_share(pool) == 0.5  # no dev score yet: the share
    pool.quality, pool.chance = 0.55, 0.5  # a binary student barely above guessing
    assert mix.first_share(pool) == pytest.approx(0.1)
    assert Mixed(TopScore(), SeesLabelled(), share=0.5, adaptive=True).first_share(pool) == 0.55  # raw score
    pool.quality = 0.4  # below guessing: everything to the second part
    assert mix.first_share(pool) == 0.0 and mix.select(IDS, 4, pool, None).chosen == ["a", "b", "c", "d"]
    pool.quality, pool.chance = 0.8, 0.2  # five labels: (0.8 - 0.2) / 0.8
    assert mix.first_share(pool) == pytest.approx(0.75)
    assert "last dev score above guessing (else 50%)" in str(mix)
    policy = build_policy(LoopConfig(coverage_share="above_chance"))
    assert "above guessing (else 75%)" in str(policy) and "above guessing" not in str(build_policy(LoopConfig()))


def test_guessing_scores_one_over_the_labels_for_classification_and_nothing_elsewhere():
    from distillgraph.graph.task_kinds import task_kind
    from distillgraph.store.schema import TaskConfig

    assert task_kind(TaskConfig(labels={"a": "", "b": "", "c": "", "d": ""})).chance() == 0.25
    assert task_kind(TaskConfig(labels={"yes": "", "no": ""})).chance() == 0.5
    assert task_kind(TaskConfig(type="generation")).chance() == 0.0


def test_a_mix_that_samples_its_first_part_only_shows_the_second_part_every_candidate():
    ids = [f"x{i:02d}" for i in range(40)]
    scores = {i: float(n) for n, i in enumerate(ids)}  # x39 scores highest
    vectors = {i: [1.0, n / 40] for n, i in enumerate(ids)}
    first, second = SeesLabelled(), SeesLabelled()
    pool = FakePool(scores, vectors, cap=10)
    picked = Mixed(first, second, share=0.5, sample_first=True).select(ids, 4, pool, None)
    assert len(first.offered[0]) == 10 and set(first.offered[0]) < set(ids)  # the scoring sample (cap 10)
    assert second.offered == [[i for i in ids if i not in picked.chosen[:2]]]  # every other candidate
    # the first part sees the same sample, and so picks the same, as coverage_pool=sample's Subsample(Mixed())
    inner = SeesLabelled()
    Subsample(Mixed(inner, SeesLabelled(), share=0.5)).select(ids, 4, FakePool(scores, vectors, cap=10), None)
    assert inner.offered == first.offered
    unsampled = SeesLabelled()
    Mixed(unsampled, SeesLabelled(), share=0.5, sample_first=True).select(ids[:8], 4, FakePool(scores, vectors, cap=10), None)
    assert unsampled.offered == [ids[:8]]  # fewer candidates than the cap: no sample drawn
    assert "(the first part over a random sample, the rest over every candidate)" in str(
        Mixed(TopScore(), RandomPick(), sample_first=True))


def test_loop_coverage_pool_all_lets_the_defaults_coverage_part_see_every_candidate():
    policy = build_policy(LoopConfig(coverage_pool="all"))
    assert isinstance(policy.selection, Mixed) and policy.selection.sample_first and policy.per_cluster
    assert build_policy(LoopConfig()).selection.sample_first  # the default since 2026-12-03 (chosen on dev)
    assert isinstance(build_policy(LoopConfig(coverage_pool="sample")).selection, Subsample)  # both on the sample
    assert not isinstance(build_policy(LoopConfig(policy="error_boost", coverage_pool="all")).selection, Mixed)
    split = build_policy(LoopConfig(coverage_pool="all", select_within="split")).selection
    assert isinstance(split, Mixed) and not split.sample_first  # split: coverage is over the whole pool already


def test_rare_labels_sets_aside_the_candidates_most_likely_of_well_covered_labels():
    pool = FakePool(SCORES, VECTORS)
    pool.deficits = {"a": 0.9, "b": 0.1, "c": 0.8, "d": 0.2}
    # half of 4 set aside: b and d (most likely of labels bought often); the top score among a, c is c
    assert RareLabels(TopScore(), 0.5).select(IDS, 1, pool, None).chosen == ["c"]
    assert pool.scored[-1] == ["a", "c"]  # the inner selection saw the kept ones, in pool order
    # never fewer than k kept: only b (the least likely of a label bought little) is set aside
    assert RareLabels(TopScore(), 0.5).select(IDS, 3, pool, None).chosen == ["d", "c", "a"]
    assert TopScore().select(IDS, 1, pool, None).chosen == ["b"]
    pool.deficits = None  # no label probabilities (no student yet, NER, generation): every candidate stays
    assert RareLabels(TopScore(), 0.5).select(IDS, 1, pool, None).chosen == ["b"]
    assert "25% most likely to be of labels already well covered" in str(RareLabels(TopScore(), 0.25))


def test_density_weighted_scores_are_uncertainty_times_typicality():
    pool = FakePool(SCORES, VECTORS)
    pool.densities = {"a": 4.0, "b": 1.0, "c": 2.0, "d": 2.0}
    # b and d are equally uncertain (0.9); d lies in the denser region (2 vs 1), so it comes first
    picked = DensityWeighted(TopScore()).select(IDS, 2, pool, None)
    assert picked.chosen == ["d", "c"]  # weighted: a 0.1, b 0.225, c 0.25, d 0.45 (density / its max 4)
    assert picked.scores == pytest.approx({"d": 0.45, "c": 0.25})
    squared = DensityWeighted(TopScore(), power=2.0).select(IDS, 4, pool, None)
    assert squared.scores == pytest.approx({"a": 0.1, "b": 0.05625, "c": 0.125, "d": 0.225})
    assert TopScore().select(IDS, 2, pool, None).chosen == ["b", "d"]  # unweighted: pool order on the tie
    # a selection that reads no scores is unchanged; the wrapper passes every other view call through
    assert DensityWeighted(RandomPick()).select(IDS, 2, FakePool(SCORES, VECTORS), None).chosen == \
        RandomPick().select(IDS, 2, FakePool(SCORES, VECTORS), None).chosen
    assert "times typicality^1 (information density)" in str(DensityWeighted(TopScore()))


def test_loop_density_weight_wraps_only_the_defaults_informative_part():
    mixed = build_policy(LoopConfig(density_weight=1.0)).selection
    assert isinstance(mixed, Mixed) and isinstance(mixed.first, DensityWeighted) and mixed.first.power == 1.0
    assert not isinstance(mixed.second, DensityWeighted)  # the coverage part (typical examples) as it was
    assert not isinstance(build_policy(LoopConfig()).selection.first, DensityWeighted)  # off by default
    assert not isinstance(build_policy(LoopConfig(policy="error_boost", density_weight=1.0)).selection,
                          DensityWeighted)
    with pytest.raises(ValueError):
        LoopConfig(density_weight=-1.0)


def test_rare_labels_reaches_distillgraph_only():
    assert isinstance(build_policy(LoopConfig(rare_labels=0.5)).selection, RareLabels)
    assert not isinstance(build_policy(LoopConfig()).selection, RareLabels)
    assert not isinstance(build_policy(LoopConfig(policy="error_boost", rare_labels=0.5)).selection, RareLabels)
    with pytest.raises(ValueError):
        LoopConfig(rare_labels=1.0)


def test_scaled_quotas_spread_a_total_in_proportion_capped_by_quota_and_room():
    assert scaled_quotas({0: 6, 1: 3, 2: 1}, 5, {0: 9, 1: 9, 2: 9}) == {0: 3, 1: 2}  # 3, 1.5, 0.5: remainder to 1
    assert scaled_quotas({0: 6, 1: 3, 2: 1}, 10, {0: 9, 1: 9, 2: 9}) == {0: 6, 1: 3, 2: 1}  # the whole quotas
    assert scaled_quotas({0: 4, 1: 4}, 6, {0: 1, 1: 9}) == {0: 1, 1: 4}  # room caps 0; never above a quota
    assert scaled_quotas({0: 2, 1: 2}, 0, {0: 5, 1: 5}) == {}
    assert scaled_quotas({0: 1, 1: 1}, 1, {0: 5, 1: 5}) == {0: 1}  # a tie goes to the smaller id


SPLIT_IDS = {0: ["a", "b"], 1: ["c", "d"]}


def test_per_cluster_and_whole_pool_scopes_call_the_selection_where_they_say():
    pool, sel = FakePool(SCORES, VECTORS), SeesLabelled()
    got = PerCluster().pick(sel, {0: 1, 1: 2, 5: 3}, IDS, SPLIT_IDS, pool)  # cluster 5 has no pool left
    assert [(c, p.chosen) for c, p in got] == [(0, ["a"]), (1, ["c", "d"])]
    whole = SeesLabelled()
    got = WholePool().pick(whole, {0: 1, 1: 2}, IDS, SPLIT_IDS, pool)
    assert [(c, p.chosen) for c, p in got] == [(None, ["a", "b", "c"])] and whole.offered == [IDS]
    assert WholePool().pick(whole, {0: 0}, IDS, SPLIT_IDS, pool) == []


def test_split_fills_the_informative_share_per_cluster_and_the_rest_over_the_whole_pool():
    pool = FakePool(SCORES, VECTORS)
    pool.quality = 0.5  # 2 of the round's 4 by the student, spread over the quotas {0: 2, 1: 2}: 1 each
    second = SeesLabelled()
    got = Split().pick(Mixed(TopScore(), second, adaptive=True), {0: 2, 1: 2}, IDS, SPLIT_IDS, pool)
    assert [(c, p.chosen) for c, p in got] == [(0, ["b"]), (1, ["d"]), (None, ["a", "c"])]
    assert second.offered == [["a", "c"]] and second.shown == [2]  # the pool-wide part sees the first picks
    pool.quality = 0.0  # a student with no dev skill: everything by coverage, over the whole pool
    got = Split().pick(Mixed(TopScore(), SeesLabelled(), adaptive=True), {0: 1, 1: 2}, IDS, SPLIT_IDS, pool)
    assert [(c, p.chosen) for c, p in got] == [(None, ["a", "b", "c"])]
    with pytest.raises(TypeError):
        Split().pick(TopScore(), {0: 1}, IDS, SPLIT_IDS, pool)
    policy = build_policy(LoopConfig(select_within="split"))
    assert isinstance(policy.scope, Split) and policy.per_cluster
    assert "the coverage part over the whole pool" in str(policy)
    assert not build_policy(LoopConfig(select_within="pool")).per_cluster


def test_surplus_buys_each_clusters_quota_beyond_its_density_in_the_cluster_and_the_rest_over_the_pool():
    pool, sel = FakePool(SCORES, VECTORS), SeesLabelled()
    pool.natural = {0: 0.75, 1: 0.25}  # density of a round of 4: 3 from cluster 0, 1 from cluster 1
    got = Surplus().pick(sel, {0: 1, 1: 3}, IDS, SPLIT_IDS, pool)  # the quotas raise cluster 1 by 2
    assert [(c, p.chosen) for c, p in got] == [(1, ["c", "d"]), (None, ["a", "b"])]
    assert sel.offered == [["c", "d"], ["a", "b"]] and sel.shown == [0, 2]  # the pool-wide part sees the picks
    follows = SeesLabelled()  # quotas that follow density: one selection over the whole pool
    assert [(c, p.chosen) for c, p in Surplus().pick(follows, {0: 3, 1: 1}, IDS, SPLIT_IDS, pool)] == [
        (None, ["a", "b", "c", "d"])] and follows.offered == [IDS]
    pool.natural = {0: 0.0, 1: 0.0, 7: 1.0}  # the quota's whole excess, but never more than a cluster holds
    assert [(c, p.chosen) for c, p in Surplus().pick(SeesLabelled(), {1: 4}, IDS, SPLIT_IDS, pool)] == [
        (1, ["c", "d"]), (None, ["a", "b"])]
    assert Surplus().pick(SeesLabelled(), {0: 0}, IDS, SPLIT_IDS, pool) == []
    policy = build_policy(LoopConfig(select_within="surplus"))
    assert isinstance(policy.scope, Surplus) and policy.per_cluster
    assert "beyond its density share" in str(policy)


def test_the_default_selects_where_surplus_says_for_classification_and_per_cluster_for_ner_and_generation():
    policy = build_policy(LoopConfig())
    assert isinstance(policy.scope, ByKind) and policy.per_cluster
    assert isinstance(policy.scope.measured, Surplus) and isinstance(policy.scope.otherwise, PerCluster)
    assert "for classification each cluster's quota beyond its density share" in str(policy)
    pool = FakePool(SCORES, VECTORS)
    pool.natural = {0: 0.75, 1: 0.25}
    surplus = [(1, ["c", "d"]), (None, ["a", "b"])]  # as Surplus (the test above)
    assert [(c, p.chosen) for c, p in policy.scope.pick(SeesLabelled(), {0: 1, 1: 3}, IDS, SPLIT_IDS, pool)] == surplus
    pool.measured = False  # a kind with no quality score (NER, generation): each quota in its own cluster
    got = policy.scope.pick(SeesLabelled(), {0: 1, 1: 3}, IDS, SPLIT_IDS, pool)
    assert [(c, p.chosen) for c, p in got] == [(c, p.chosen) for c, p in
                                               PerCluster().pick(SeesLabelled(), {0: 1, 1: 3}, IDS, SPLIT_IDS, pool)]
    assert [c for c, _ in got] == [0, 1]


def test_the_round_pool_measures_quality_where_the_task_kind_has_a_quality_key():
    from types import SimpleNamespace

    from distillgraph.graph.node_pool import RoundPool
    from distillgraph.graph.task_kinds import KINDS
    from distillgraph.store.schema import TaskConfig

    labels = TaskConfig(labels={"a": "", "b": ""})
    for kind, want in (("classification", True), ("ner", False)):
        deps = SimpleNamespace(kind=KINDS[kind](labels))
        assert RoundPool(deps, {}, None, 1, None).measures_quality() is want  # type: ignore[arg-type]


def test_the_student_quality_is_the_task_kinds_dev_score_in_0_1():
    from distillgraph.graph.task_kinds import KINDS
    from distillgraph.store.schema import TaskConfig

    labels = TaskConfig(labels={"a": "", "b": ""})
    assert KINDS["classification"](labels).quality({"accuracy": 0.9, "macro_f1": 0.6}) == 0.6
    assert KINDS["classification"](labels).quality({}) is None
    # chosen on classification dev data only: NER (where it lost on dev) and generation keep the fixed share
    assert KINDS["ner"](labels).quality({"entity_f1": 0.3, "macro_f1": 0.5}) is None
    assert KINDS["generation"](TaskConfig(type="generation")).quality({"chrf": 42.0}) is None
    default = build_policy(LoopConfig()).selection
    assert isinstance(default, Mixed) and default.adaptive and default.share == 0.75  # the quarter for coverage


def test_the_default_buys_coverage_and_uncertainty_as_loop_coverage_share_says():
    policy = build_policy(LoopConfig(coverage_share=0.5, sampling_power=0))
    assert "50%: most informative (loop.scoring), at least 0.15 apart; the rest: the most typical" in str(policy)
    assert "75%: most informative (loop.scoring)" in str(build_policy(LoopConfig(coverage_share=0.25)))
    default = build_policy(LoopConfig())  # chosen on dev: the share follows the student, within cluster quotas
    assert "a share equal to the student's last dev score (else 75%)" in str(default) and default.per_cluster
    assert "50%: drawn with probability proportional to informativeness^8" in str(
        build_policy(LoopConfig(coverage_share=0.5, sampling_power=8)))
    assert "error_boost" not in str(build_policy(LoopConfig()))
    assert "%" not in str(build_policy(LoopConfig(policy="error_boost")))  # the former default: uncertainty only


def test_loop_cold_start_overrides_the_policys_own():
    assert build_policy(LoopConfig()).cold_start == "adaptive"
    assert build_policy(LoopConfig(policy="error_boost")).cold_start == "representatives"
    assert build_policy(LoopConfig(policy="uncertainty")).cold_start == "random"
    assert build_policy(LoopConfig(cold_start="representatives")).cold_start == "representatives"
    assert build_policy(LoopConfig(policy="uncertainty", cold_start="representatives")).cold_start == "representatives"
    assert "cold start: representatives" in str(build_policy(LoopConfig(cold_start="representatives")))
    assert build_policy(LoopConfig(policy="margin", cold_start="typical")).cold_start == "typical"


def test_adaptive_cold_start_is_checked_where_the_kind_measures_a_quality():
    from distillgraph.graph.policies import resolve_cold_start
    from distillgraph.graph.task_kinds import KINDS

    assert resolve_cold_start("adaptive", KINDS["classification"]) == "checked"  # typical until 2026-12-04
    assert resolve_cold_start("adaptive", KINDS["ner"]) == "random"  # typical lost on NER dev
    assert resolve_cold_start("adaptive", KINDS["generation"]) == "random"
    for how in ("representatives", "random", "typical", "selection"):
        assert resolve_cold_start(how, KINDS["ner"]) == how


def test_allocation_trust_reaches_distillgraph_only():
    assert "blended toward natural" in str(build_policy(LoopConfig(allocation_trust="adaptive")).allocation)
    assert "blended toward natural" not in str(build_policy(LoopConfig()).allocation)
    assert "blended" not in str(build_policy(LoopConfig(policy="error_boost", allocation_trust="adaptive")).allocation)
    assert "else natural shares" in str(build_policy(LoopConfig(allocation_trust="checked")).allocation)
    assert "else natural" not in str(build_policy(LoopConfig(policy="error_boost", allocation_trust="checked")).allocation)


def test_error_prior_reaches_distillgraph_only():
    assert "pseudo-examples" in str(build_policy(LoopConfig(error_prior=20)).allocation)
    assert "pseudo-examples" not in str(build_policy(LoopConfig()).allocation)
    assert "pseudo-examples" not in str(build_policy(LoopConfig(policy="error_boost", error_prior=20)).allocation)


# ---------------------------------------------------------------- one tiny graph run per policy


def oracle_config(tmp_path: Path, policy: str, *extra: str) -> Any:
    task = yaml.safe_load((ROOT / "examples" / "bbc-topic.yaml").read_text())["task"]
    data = {"task": task, "data": {"source": "bbc"}, "budget": {"max_calls": 16}}
    return config_from_dict(apply_overrides(data, [
        "teacher.provider=oracle", "student.kind=embedding-probe", f"loop.policy={policy}", "loop.rounds=2",
        "loop.max_rounds=2", "loop.patience=100", "store.embedding_model=hash", "store.n_clusters=3",
        "data.bbc.pool_size=90", "data.bbc.dev_size=20", "data.bbc.test_size=10", f"run.dir={tmp_path}",
        f"run.name={policy}", *extra]))


def candidates_of_round(cfg: Any, run_dir: Path, rnd: int) -> list[Any]:
    snaps = [s for s in history(cfg, run_dir) if s.next == ("annotator",) and s.values.get("round") == rnd]
    return list(snaps[-1].values["candidates"])


@pytest.mark.parametrize("name", policy_names())
def test_every_registered_policy_runs_through_the_graph(tmp_path, name):
    cfg = oracle_config(tmp_path, name)
    run_dir = new_run_dir(cfg)
    state = execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False)
    policy = build_policy(cfg.loop)
    assert state["ledger"]["spent"]["calls"] <= 16 and (run_dir / "report").is_dir()
    assert [m.round for m in state["history"]] == [0, 1, 2]
    boot = sorted(a.id for a in state["dataset"] if a.source == "bootstrap")
    # 2 per cluster x 3 clusters; distillgraph's cold start may take a quarter of the 16 labels (bootstrap_share)
    assert len(boot) == (4 if name == "distillgraph" else cfg.loop.bootstrap_per_cluster * 3)
    reps = Clustering.load(run_dir / "data" / CLUSTERS_FILE).representatives
    from_reps = set(boot) <= {r for rs in reps.values() for r in rs[: cfg.loop.bootstrap_per_cluster]}
    assert from_reps == (policy.cold_start == "representatives")
    for rnd in (1, 2):
        cands = candidates_of_round(cfg, run_dir, rnd)
        assert cands and all(c.source == "pool" for c in cands), "oracle runs buy from the pool only"
        scores = [c.score for c in cands]
        if name == "margin":  # 1 - (top1 - top2), the highest first: the smallest margins
            assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        if name == "random":
            assert scores == [None] * len(cands)


def test_distillgraph_within_clusters_fills_each_clusters_quota_with_the_adaptive_mix(tmp_path):
    from collections import Counter

    from distillgraph.graph.node_pool import RoundPool
    from distillgraph.graph.task_kinds import KINDS

    cfg = oracle_config(tmp_path, "distillgraph", "loop.select_within=clusters", "loop.coverage_share=adaptive")
    run_dir = new_run_dir(cfg)
    state = execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False)
    pool_wide = oracle_config(tmp_path, "distillgraph", "loop.select_within=pool")
    assert build_policy(cfg.loop).per_cluster and not build_policy(pool_wide.loop).per_cluster
    for rnd in (1, 2):
        snap = [s for s in history(cfg, run_dir) if s.next == ("annotator",) and s.values.get("round") == rnd][-1]
        quotas = {p.cluster: p.select for p in snap.values["plan"].clusters if p.select > 0}
        assert Counter(c.cluster for c in snap.values["candidates"]) == quotas  # 90 pool texts: every quota fits
    deps = type("Deps", (), {"kind": KINDS["classification"](cfg.task)})()  # all the view's quality reads
    view = RoundPool(deps=deps, state=state, look=None, round=3, rng=random.Random(0))  # type: ignore[arg-type]
    assert view.student_quality() == state["history"][-1].dev["macro_f1"]  # the adaptive mix's share
    assert RoundPool(deps=deps, state={}, look=None, round=0, rng=random.Random(0)).student_quality() is None  # type: ignore[arg-type]


def test_density_weight_runs_through_the_graph_with_the_pools_typicality(tmp_path):
    from distillgraph.graph.deps import Deps

    cfg = oracle_config(tmp_path, "distillgraph", "loop.density_weight=1", "loop.select_within=pool",
                        "loop.coverage_share=0")  # every pick informative, so every score is weighted
    run_dir = new_run_dir(cfg)
    state = execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False)
    assert state["ledger"]["spent"]["calls"] <= 16
    plain = oracle_config(tmp_path / "plain", "distillgraph", "loop.select_within=pool", "loop.coverage_share=0")
    plain_dir = new_run_dir(plain)
    execute(plain, plain_dir, env={}, console=Console(quiet=True), progress=False)
    # round 1 starts from the same labels: a pick's weighted score is its uncertainty x (density / max) <= 1
    dense = {c.id: c.score for c in candidates_of_round(cfg, run_dir, 1)}
    unweighted = {c.id: c.score for c in candidates_of_round(plain, plain_dir, 1)}
    assert all(s is not None and s >= 0 for s in dense.values()) and dense.keys() != unweighted.keys()
    assert max(dense.values()) <= max(unweighted.values()) + 1e-9  # the top uncertainty, weighted by <= 1
    deps = Deps.__new__(Deps)  # the pool's typicality as the run's view computes it: one value per pool text
    deps.data = {"pool": [type("E", (), {"id": f"p{i}"})() for i in range(3)]}
    deps._pool_density = None
    deps.vectors = lambda ids, texts: np.array([[0.0, 0.0], [0.0, 0.1], [3.0, 3.0]])  # type: ignore[method-assign]
    dens = deps.pool_density()
    assert set(dens) == {"p0", "p1", "p2"} and dens["p0"] > dens["p2"] and dens["p1"] > dens["p2"]
    assert deps.pool_density() is dens  # computed once per run


def test_nodes_run_alone_and_the_analyst_reads_the_state_not_the_disk(tmp_path):
    import shutil

    from distillgraph.graph.node_analyst import analyst
    from distillgraph.graph.node_start import bootstrap, index
    from distillgraph.graph.node_trainer import trainer
    from distillgraph.graph.runner import open_deps

    cfg = oracle_config(tmp_path, "distillgraph")
    run_dir = new_run_dir(cfg)
    state: dict[str, Any] = {}
    with open_deps(cfg, run_dir, env={}, console=Console(quiet=True), progress=False) as deps:
        for node in (index, bootstrap, trainer):
            update = node(state, deps)
            update.pop("_summary")
            state = {**state, **update}
        assert {r["id"] for r in state["dev_predictions"]} == set(state["dev_ids"])
        shutil.rmtree(run_dir / "rounds")  # the report's copy; the analyst must not need it
        update = analyst(state, deps)
    plan = update["plan"]
    assert update["round"] == 1 and plan.samples == 6  # (16 - 4 bootstrap calls: a quarter of 16) over 2 rounds
    assert sum(p.select for p in plan.clusters) == plan.samples


# ---------------------------------------------------------------- defect 6: baselines pay for no analysis


def analysis_requests(stub: Any) -> int:
    return sum(1 for b in stub.bodies if (b.get("tool_choice") or {}).get("function", {}).get("name") == "WeaknessReport")


@pytest.mark.parametrize("name,asks", [("random", False), ("distillgraph", True)])
def test_only_a_policy_that_uses_the_analysis_pays_for_it(stub, make_config, name, asks):
    cfg = load_config(make_config(stub.base_url, name=name), [f"loop.policy={name}", "student.kind=embedding-probe",
                                                               "budget.max_calls=16", "loop.weak_synth_labels=any"])
    execute(cfg, new_run_dir(cfg), env=ENV, console=Console(quiet=True), progress=False)
    assert (analysis_requests(stub) > 0) == asks, f"{name}: {analysis_requests(stub)} analysis request(s)"


def test_typical_cold_start_buys_typiclusts_first_labels(tmp_path):
    def boot(policy: str, *extra: str) -> list[str]:
        cfg = oracle_config(tmp_path / policy / "-".join(extra), policy, "loop.rounds=1", "loop.max_rounds=1", *extra)
        state = execute(cfg, new_run_dir(cfg), env={}, console=Console(quiet=True), progress=False)
        return sorted(a.id for a in state["dataset"] if a.source == "bootstrap")

    typical = boot("distillgraph", "loop.cold_start=typical", "loop.bootstrap_share=1.0")
    assert typical == boot("typiclust")  # TypiClust's own cold start: the same picks from the same rng
    assert typical != boot("distillgraph", "loop.cold_start=random", "loop.bootstrap_share=1.0")
    # the default (typical from 2026-12-02, checked since 2026-12-04) buys what loop.cold_start=checked buys
    checked = boot("distillgraph", "loop.cold_start=checked", "loop.bootstrap_share=1.0")
    assert boot("distillgraph", "loop.bootstrap_share=1.0") == checked != typical


def test_mixed_cold_start_buys_each_clusters_representative_then_typical_examples_elsewhere(tmp_path):
    cfg = oracle_config(tmp_path, "distillgraph", "loop.rounds=1", "loop.max_rounds=1", "loop.cold_start=mixed",
                        "loop.bootstrap_share=1.0")
    run_dir = new_run_dir(cfg)
    state = execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False)
    boot = [a.id for a in state["dataset"] if a.source == "bootstrap"]
    reps = Clustering.load(run_dir / "data" / CLUSTERS_FILE).representatives
    firsts = {rs[0] for rs in reps.values()}
    assert len(boot) == len(set(boot)) == cfg.loop.bootstrap_per_cluster * 3  # 2 per cluster, 3 clusters
    assert firsts <= set(boot)  # every cluster's representative
    rest = set(boot) - firsts
    assert len(rest) == 3 and rest != {rs[1] for rs in reps.values()}  # not the representatives cold start
    assert build_policy(cfg.loop).cold_start == "mixed" and "cold start: mixed" in str(build_policy(cfg.loop))


def test_bootstrap_share_caps_distillgraphs_cold_start_largest_clusters_first(tmp_path):
    def boot(policy: str, *extra: str) -> tuple[list[str], Any]:
        cfg = oracle_config(tmp_path / policy / "-".join(extra), policy, "loop.rounds=1", "loop.max_rounds=1",
                            "loop.cold_start=mixed", *extra)
        run_dir = new_run_dir(cfg)
        state = execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False)
        assert state["ledger"]["spent"]["calls"] == 16  # what the cold start leaves, the round buys
        boot = [a.id for a in state["dataset"] if a.source == "bootstrap"]
        trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
        caps = [d for t in trace for d in t["decisions"] if d["what"] == "cold start cap"]
        assert caps == ([] if len(boot) == 6 else [caps[0] | {"wanted": 6, "cap": len(boot)}])  # traced when it cuts
        return boot, Clustering.load(run_dir / "data" / CLUSTERS_FILE)

    full, _ = boot("distillgraph", "loop.bootstrap_share=1.0")
    assert len(full) == 6  # 2 per cluster x 3 clusters: the cap (1.0 x 16 labels) does not cut
    quarter, cl = boot("distillgraph")  # auto: a quarter for classification, floor(0.25 x 16) = 4
    assert len(quarter) == 4 and {rs[0] for rs in cl.representatives.values()} <= set(quarter)
    assert quarter == boot("distillgraph", "loop.bootstrap_share=0.25")[0]
    eighth, cl = boot("distillgraph", "loop.bootstrap_share=0.125")  # 2 < k: the two largest clusters' reps
    largest = sorted(cl.sizes, key=lambda c: -cl.sizes[c])[:2]
    assert sorted(eighth) == sorted(cl.representatives[c][0] for c in largest)
    # the other policies keep their own cold start
    assert len(boot("error_boost", "loop.bootstrap_share=0.125")[0]) == 6


def test_plan_counts_the_cold_start_as_bootstrap_share_caps_it(tmp_path):
    from distillgraph.agents.prices import teacher_prices
    from distillgraph.graph.plan import project
    from distillgraph.prompts import PromptLibrary
    from distillgraph.store.datasets import load_data

    def boot_calls(*extra: str) -> float:
        cfg = oracle_config(tmp_path, "distillgraph", *extra)
        rows = project(cfg, load_data(cfg.data, cfg.task), PromptLibrary(), teacher_prices(cfg.teacher, cfg.budget, {}))
        return next(r.calls for r in rows if r.node == "bootstrap")

    assert boot_calls("loop.bootstrap_share=1.0") == 6 and boot_calls() == boot_calls("loop.bootstrap_share=0.25") == 4
    assert boot_calls("loop.bootstrap_share=0.25", "loop.policy=error_boost") == 6


def test_auto_bootstrap_share_is_a_quarter_for_classification_and_no_cap_for_ner_and_generation():
    from distillgraph.graph.policies import resolve_cold_start_share
    from distillgraph.graph.task_kinds import KINDS

    assert build_policy(LoopConfig()).cold_start_share == "auto"
    assert resolve_cold_start_share("auto", KINDS["classification"]) == 0.25
    assert resolve_cold_start_share("auto", KINDS["ner"]) == resolve_cold_start_share("auto", KINDS["generation"]) == 1.0
    assert resolve_cold_start_share(0.5, KINDS["ner"]) == 0.5
    with pytest.raises(ValueError):
        LoopConfig(bootstrap_share=0)


def test_the_round_pools_label_deficit_favours_labels_bought_least(tmp_path):
    from collections import Counter

    from distillgraph.graph.node_pool import RoundPool
    from distillgraph.graph.node_start import bootstrap, index
    from distillgraph.graph.node_tools import lookup, targets, unlabelled_pool
    from distillgraph.graph.node_trainer import trainer
    from distillgraph.graph.runner import open_deps

    cfg = oracle_config(tmp_path, "distillgraph", "loop.rare_labels=0.5")
    state: dict[str, Any] = {}
    with open_deps(cfg, new_run_dir(cfg), env={}, console=Console(quiet=True), progress=False) as deps:
        for node in (index, bootstrap, trainer):
            update = node(state, deps)
            update.pop("_summary")
            state = {**state, **update}
        view = RoundPool(deps=deps, state=state, look=lookup(deps, state), round=1, rng=random.Random(0))
        ids = unlabelled_pool(deps, state)
        deficit = view.label_deficit(ids)
        preds = deps.student.predict(ids, [view.look.text(i) for i in ids])
    bought = Counter(targets(deps, state).values())
    assert deficit is not None and deficit.shape == (len(ids),)
    # by hand: sum over labels of p(label | text) / (1 + labels bought of it)
    by_hand = [sum(q / (1 + bought[lb]) for lb, q in p.probs.items()) for p in preds]
    assert deficit == pytest.approx(by_hand)
    assert len(set(bought.values())) > 1  # the bootstrap bought labels unevenly: the weights differ


def test_checked_cold_start_follows_the_dev_neighbour_test_to_mixed_or_random(tmp_path, monkeypatch):
    import json

    from distillgraph.graph import node_start

    def boot(tag: str, *extra: str) -> tuple[list[str], list[dict[str, Any]]]:
        cfg = oracle_config(tmp_path / tag, "distillgraph", "loop.rounds=1", "loop.max_rounds=1", *extra)
        run_dir = new_run_dir(cfg)
        state = execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False)
        trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
        checks = [d for t in trace for d in t["decisions"] if d["what"] == "cold start check"]
        return sorted(a.id for a in state["dataset"] if a.source == "bootstrap"), checks

    mixed, random_ = boot("m", "loop.cold_start=mixed")[0], boot("r", "loop.cold_start=random")[0]
    assert mixed != random_
    picks, checks = boot("c", "loop.cold_start=checked")  # the test as it falls on this data
    [check] = checks
    assert check["n"] == 20 and 0 <= check["chance"] <= 1 and 0 <= check["p"] <= 1
    assert check["chose"] == ("random" if check["p"] >= node_start.CHECK_ALPHA else "mixed")
    assert picks == {"mixed": mixed, "random": random_}[check["chose"]]
    monkeypatch.setattr(node_start, "CHECK_ALPHA", 0.0)  # nothing passes: the neighbours carry no labels
    picks, [check] = boot("c0", "loop.cold_start=checked")
    assert check["chose"] == "random" and picks == random_
    monkeypatch.setattr(node_start, "CHECK_ALPHA", 1.01)  # everything passes
    picks, [check] = boot("c1", "loop.cold_start=checked")
    assert check["chose"] == "mixed" and picks == mixed
