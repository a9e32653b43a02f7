"""The third seam a policy composes (graph/policy_seams.py has the other two): where its selection looks, each
cluster's quota from the cluster's own pool, the round's total over the whole pool, or a split of the two."""

from __future__ import annotations

from abc import ABC, abstractmethod

from distillgraph.agents.analyst import integer_quotas
from distillgraph.graph.policy_seams import Mixed, Picked, PoolView, Selection, _AfterPicks


class Scope(ABC):
    """How a round's per-cluster quotas become selection calls; each answer is (cluster or None for the whole
    pool, the picks)."""

    @abstractmethod
    def pick(self, selection: Selection, quotas: dict[int, int], unlabelled: list[str],
             by_cluster: dict[int, list[str]], pool: PoolView) -> list[tuple[int | None, Picked]]: ...


class PerCluster(Scope):
    def pick(self, selection: Selection, quotas: dict[int, int], unlabelled: list[str],
             by_cluster: dict[int, list[str]], pool: PoolView) -> list[tuple[int | None, Picked]]:
        return [(c, selection.select(by_cluster[c], k, pool, c)) for c, k in sorted(quotas.items())
                if k > 0 and by_cluster.get(c)]

    def __str__(self) -> str:
        return "per cluster"


class WholePool(Scope):
    def pick(self, selection: Selection, quotas: dict[int, int], unlabelled: list[str],
             by_cluster: dict[int, list[str]], pool: PoolView) -> list[tuple[int | None, Picked]]:
        k = min(sum(quotas.values()), len(unlabelled))
        return [(None, selection.select(unlabelled, k, pool, None))] if k > 0 else []

    def __str__(self) -> str:
        return "over the whole pool"


def scaled_quotas(quotas: dict[int, int], total: int, room: dict[int, int]) -> dict[int, int]:
    """`total` spread over the clusters in proportion to `quotas` (largest remainder, ties to the smaller
    cluster id), none above its quota or its `room` (unlabelled examples left)."""
    caps = {c: min(k, room.get(c, 0)) for c, k in quotas.items() if k > 0}
    total, whole = min(total, sum(caps.values())), sum(quotas[c] for c in caps) or 1
    exact = {c: total * quotas[c] / whole for c in caps}
    out = {c: min(int(x), caps[c]) for c, x in exact.items()}
    while sum(out.values()) < total:
        c = max((c for c in caps if out[c] < caps[c]), key=lambda c: (exact[c] - out[c], -c))
        out[c] += 1
    return {c: k for c, k in out.items() if k > 0}


def rest_over_pool(selection: Selection, done: list[tuple[int | None, Picked]], total: int, unlabelled: list[str],
                   pool: PoolView) -> list[tuple[int | None, Picked]]:
    """The round's `total` left after the per-cluster picks in `done`, by `selection` over the rest of the pool,
    which sees those picks as labelled."""
    taken = [i for _, p in done for i in p.chosen]
    seen, left = set(taken), total - len(taken)
    rest = [i for i in unlabelled if i not in seen]
    if left <= 0 or not rest:
        return []
    return [(None, selection.select(rest, min(left, len(rest)), _AfterPicks(pool, taken), None))]


class Split(Scope):
    """For a Mixed selection: its first part (the student's informative share) fills each cluster's quota
    scaled to that share, from the cluster's own pool; its second part (coverage) buys the rest over the
    whole pool, seeing the first part's picks as labelled. The targeting is trusted as much as the student
    measures well; coverage follows the pool's density, not the clusters' quotas."""

    def pick(self, selection: Selection, quotas: dict[int, int], unlabelled: list[str],
             by_cluster: dict[int, list[str]], pool: PoolView) -> list[tuple[int | None, Picked]]:
        if not isinstance(selection, Mixed):
            raise TypeError("Split needs a Mixed selection")
        total = min(sum(quotas.values()), len(unlabelled))
        room = {c: len(ids) for c, ids in by_cluster.items()}
        first = scaled_quotas(quotas, round(selection.first_share(pool) * total), room)
        out = PerCluster().pick(selection.first, first, unlabelled, by_cluster, pool)
        return out + rest_over_pool(selection.second, out, total, unlabelled, pool)

    def __str__(self) -> str:
        return "the informative part per cluster, the coverage part over the whole pool"


class Surplus(Scope):
    """What the targeting adds is bought per cluster, the rest as coverage buys it: each cluster's quota beyond
    its density share of the round (the tail, the clusters the student errs on) from the cluster's own pool;
    the rest of the round, the part the pool's density alone would give, over the whole pool, seeing the
    clusters' picks as labelled. Where the quotas follow density this is a whole-pool selection; where they
    are raised toward a few clusters, a per-cluster one."""

    def pick(self, selection: Selection, quotas: dict[int, int], unlabelled: list[str],
             by_cluster: dict[int, list[str]], pool: PoolView) -> list[tuple[int | None, Picked]]:
        total = min(sum(quotas.values()), len(unlabelled))
        if total <= 0:
            return []
        density = integer_quotas(pool.natural_shares(), total)
        extra = {c: min(k - density.get(c, 0), len(by_cluster.get(c, []))) for c, k in quotas.items()}
        out = PerCluster().pick(selection, {c: k for c, k in extra.items() if k > 0}, unlabelled, by_cluster, pool)
        return out + rest_over_pool(selection, out, total, unlabelled, pool)

    def __str__(self) -> str:
        return "each cluster's quota beyond its density share per cluster, the rest over the whole pool"


class ByKind(Scope):
    """One scope where the task kind scores the student's quality (classification), another elsewhere: a scope
    chosen on classification dev data is not assumed to carry over to NER or generation, where it was never
    measured (as the cold start: graph/policies.py:resolve_cold_start)."""

    def __init__(self, measured: Scope, otherwise: Scope) -> None:
        self.measured, self.otherwise = measured, otherwise

    def pick(self, selection: Selection, quotas: dict[int, int], unlabelled: list[str],
             by_cluster: dict[int, list[str]], pool: PoolView) -> list[tuple[int | None, Picked]]:
        scope = self.measured if pool.measures_quality() else self.otherwise
        return scope.pick(selection, quotas, unlabelled, by_cluster, pool)

    def __str__(self) -> str:
        return f"for classification {self.measured}; for ner and generation {self.otherwise}"
