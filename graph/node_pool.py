"""RoundPool: what a policy's selection sees of the pool in one round (graph/policies.py:PoolView), over the
run's dependencies: the student's (or the judge's) scores, the vectors, the clusters' centroids."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import numpy as np

from distillgraph.agents.judge import informativeness, judge_requests
from distillgraph.agents.records import Plan
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_tools import Lookup, ask, targets
from distillgraph.graph.state import DistillState
from distillgraph.graph.task_kinds import measures_quality
from distillgraph.trainer.base import ProbabilisticStudent


@dataclass
class RoundPool:
    deps: Deps
    state: DistillState
    look: Lookup
    round: int
    rng: random.Random
    plan: Plan | None = None

    def scores(self, ids: list[str], method: str | None = None) -> np.ndarray:
        return score_pool(self.deps, ids, [self.look.text(i) for i in ids], method or self.deps.scoring_method(),
                          self.round)

    def vectors(self, ids: list[str]) -> np.ndarray:
        return self.deps.vectors(ids, None)

    def centroid(self, cluster: int) -> np.ndarray:
        return np.asarray(self.deps.clustering().centroids[cluster], dtype=np.float32)

    def labelled_vectors(self) -> np.ndarray:
        ids = list(targets(self.deps, self.state))
        return self.deps.vectors(ids, [self.look.text(i) for i in ids])

    def scoring_cap(self, k: int) -> int:
        """This quota's share of the round's paid scoring calls (judge), else of loop.score_sample."""
        plan = self.plan
        total = max(sum(p.select for p in plan.clusters if p.select > 0), 1) if plan else 1
        if plan is not None and plan.scoring_calls:
            return max(k, int(plan.scoring_calls * k / total))
        return max(k * 4, int(self.deps.cfg.loop.score_sample * k / total))

    def student_quality(self) -> float | None:
        history = self.state.get("history", [])
        return self.deps.kind.quality(history[-1].dev) if history else None

    def chance_quality(self) -> float:
        return self.deps.kind.chance()

    def natural_shares(self) -> dict[int, float]:
        sizes = {int(c): float(n) for c, n in self.deps.clustering().sizes.items()}
        total = sum(sizes.values()) or 1.0
        return {c: n / total for c, n in sizes.items()}

    def measures_quality(self) -> bool:
        return measures_quality(self.deps.kind)

    def density(self, ids: list[str]) -> np.ndarray:
        typical = self.deps.pool_density()
        return np.array([typical.get(i, 0.0) for i in ids])

    def label_deficit(self, ids: list[str]) -> np.ndarray | None:
        student = self.deps.student
        if not ids or not isinstance(student, ProbabilisticStudent):
            return None
        bought = Counter(targets(self.deps, self.state).values())
        weight = np.array([1.0 / (1 + bought[label]) for label in student.labels])
        return student.probabilities([self.look.text(i) for i in ids]) @ weight


def score_pool(deps: Deps, ids: list[str], texts: list[str], method: str, rnd: int) -> np.ndarray:
    """Informativeness of each example for the student: paid teacher-as-judge scores of its outputs, the
    embedding distance between its output and the input, or the student's own score (entropy, margin, IFD)."""
    task = deps.cfg.task
    if method == "judge":
        outs = [p.prediction or p.raw or "" for p in deps.student.predict(ids, texts)]
        reqs = judge_requests(ids, texts, outs, instruction=task.instruction, rubric=task.rubric,
                              prompts=deps.prompts, round_=rnd)
        return informativeness(ask(deps, reqs))
    if method == "embedding":
        outs = [p.prediction or p.raw or "" for p in deps.student.predict(ids, texts)]
        return 1.0 - np.sum(deps.embedder.encode(outs) * deps.vectors(ids, texts), axis=1)
    return deps.student.score(texts, method)
