"""TypiClust (Hacohen, Dekel, Weinshall, "Active Learning on a Budget", ICML 2022): a cold-start policy
that buys typical examples of uncovered regions of the embedding space; it needs no student scores."""

from __future__ import annotations

from dataclasses import dataclass

from distillgraph.graph.policies import PoolWide, register
from distillgraph.graph.policy_seams import Picked, PoolView, Selection
from distillgraph.trainer.selection import typiclust


@dataclass(frozen=True)
class Typical(Selection):
    """k-means over labelled + unlabelled into |L| + k clusters; from the largest uncovered cluster, its most
    typical point (1 / mean distance to its k_nn nearest neighbours)."""

    k_nn: int = 20

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        picks, typ = typiclust(pool.vectors(ids), pool.labelled_vectors(), k, seed=pool.rng.randrange(2**31),
                               k_nn=self.k_nn)
        return Picked([ids[i] for i in picks], {ids[i]: t for i, t in zip(picks, typ, strict=True)})

    def __str__(self) -> str:
        return f"the most typical point (k={self.k_nn}) of each largest uncovered k-means cluster"


@register
class TypiClust(PoolWide):
    """TypiClust (Hacohen et al., 2022): typical examples of the largest uncovered clusters, cold start included"""

    name = "typiclust"
    cold_start = "selection"
    selection = Typical()
