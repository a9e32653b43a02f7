"""The policies distillgraph started with: its own default and the baselines it is measured against."""

from __future__ import annotations

from typing import Any

from distillgraph.graph.policies import Policy, PoolWide, register
from distillgraph.graph.policy_seams import (
    Balanced,
    DiverseTop,
    ErrorBoosted,
    RandomPick,
    Subsample,
    TopScore,
)


@register
class DistillGraph(Policy):
    """the clusters' representatives to start, then the most informative examples over the whole pool, kept
    diverse (no cluster gets a quota the student's errors do not earn example by example); synthesis for the
    tail and for the teacher's weaknesses, spread over clusters by balancing raised by per-cluster dev error"""

    # Chosen over `error_boost` (the default until 2026-11) on dev macro-F1 of tuning seeds 100-102 over the
    # suite's 4 tasks (BENCHMARKS.md, "Choosing the default"): per-cluster quotas from dev error helped on BBC
    # but lost to random on tasks whose clusters do not follow the labels.
    name = "distillgraph"
    uses_analysis = True
    synthesizes = True
    per_cluster = False

    def configure(self, loop: Any) -> None:
        self.allocation = ErrorBoosted(Balanced("adaptive"), loop.error_boost)
        # over loop.score_sample of the pool (a paid judge: the calls set aside for scoring)
        self.selection = Subsample(DiverseTop(min_distance=loop.diversity))


@register
class ErrorBoost(DistillGraph):
    """distillgraph's default until 2026-11: adaptive balancing raised by per-cluster dev error, diverse
    informative selection within each cluster's quota, synthesis for the tail and the teacher's weaknesses"""

    name = "error_boost"
    per_cluster = True  # the only difference: each cluster's quota is selected from its own pool


@register
class BalDistill(Policy):
    """BalDistill (Zhou et al., 2024): adaptive balancing over the rounds + the most informative per cluster"""

    name = "baldistill"
    selection = Subsample(DiverseTop())


@register
class ClusterBalanced(Policy):
    """an equal share per cluster, nearest to the centroid first (clustering-based active learning)"""

    name = "cluster_balanced"
    allocation = Balanced("uniform")
    selection = DiverseTop(centroid=True)


@register
class Uncertainty(PoolWide):
    """the highest uncertainty (loop.scoring, entropy by default) over the whole pool"""

    name = "uncertainty"
    selection = TopScore()


@register
class Random(PoolWide):
    """uniformly at random over the whole pool"""

    name = "random"
    selection = RandomPick()
