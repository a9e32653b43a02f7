"""Margin sampling: the smallest gap between the student's two most probable labels, over the whole pool."""

from __future__ import annotations

from distillgraph.graph.policies import PoolWide, register
from distillgraph.graph.policy_seams import TopScore


@register
class Margin(PoolWide):
    """the smallest margin between the two most probable labels, over the whole pool (Scheffer et al., 2001)"""

    name = "margin"
    selection = TopScore("margin")  # trainer.selection.margin_score: 1 - (top1 - top2), highest first
