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
    """adaptive balancing raised by per-cluster dev error, diverse informative selection, synthesis for the
    tail and for the teacher's weaknesses"""

    name = "distillgraph"
    uses_analysis = True
    synthesizes = True

    def configure(self, loop: Any) -> None:
        self.allocation = ErrorBoosted(Balanced("adaptive"), loop.error_boost)
        self.selection = Subsample(DiverseTop(min_distance=loop.diversity))


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
