"""The two seams a policy composes: how a round's samples are spread over clusters (Allocation) and
how examples are picked (Selection); where the selection looks (Scope) is in graph/policy_scopes.py. Each piece
is small, prints what it does, and wraps others where that makes sense (ErrorBoosted wraps a schedule, Subsample
wraps a selection)."""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from distillgraph.agents.analyst import (
    adaptive_shares,
    boost_by_error,
    errors_differ,
    mean_error,
    shrink_errors,
)
from distillgraph.trainer.selection import power_sample_keys, select_diverse


class PoolView(Protocol):
    """What a selection may look at in one round: the pool's scores and vectors, and the round's rng."""

    rng: random.Random

    def scores(self, ids: list[str], method: str | None = None) -> np.ndarray:
        """Informativeness for the student (higher = more informative); None = the run's `loop.scoring`."""

    def vectors(self, ids: list[str]) -> np.ndarray: ...

    def centroid(self, cluster: int) -> np.ndarray: ...

    def labelled_vectors(self) -> np.ndarray:
        """Vectors of every example labelled so far (seed and annotations)."""

    def scoring_cap(self, k: int) -> int:
        """How many examples may be scored for a quota of k (the round's scoring sample)."""

    def student_quality(self) -> float | None:
        """The student's last dev score in [0, 1] (TaskKind.quality: macro-F1 for classification); None before
        any evaluation and for task kinds without one."""

    def chance_quality(self) -> float:
        """The dev score of guessing (TaskKind.chance: 1 / labels for classification; 0 where unknown)."""

    def natural_shares(self) -> dict[int, float]:
        """Each cluster's share of the pool (its density; they sum to 1)."""

    def measures_quality(self) -> bool:
        """Whether the run's task kind scores the student's quality (TaskKind.quality_key: classification)."""

    def label_deficit(self, ids: list[str]) -> np.ndarray | None:
        """How likely each example belongs to a label the labelled set has few of: sum over labels of
        p(label | text) / (1 + examples labelled with it); None where the student gives no label probabilities."""

    def density(self, ids: list[str]) -> np.ndarray:
        """Each example's typicality in the whole pool (TypiClust's: 1 / mean distance to its nearest neighbours);
        higher = in a denser region."""


@dataclass
class Picked:
    """A selection's answer: the chosen ids (in order) and the scores it computed (id -> score)."""

    chosen: list[str]
    scores: dict[str, float] = field(default_factory=dict)

# ---------------------------------------------------------------- allocation: shares per cluster


class Allocation(ABC):
    """Each cluster's share of a round's samples (shares sum to 1)."""

    @abstractmethod
    def balanced(self, natural: dict[int, float], stage: int, stages: int) -> dict[int, float]:
        """Shares before the student's errors are looked at."""

    def shares(self, natural: dict[int, float], errors: dict[int, float], stage: int, stages: int,
               counts: dict[int, int] | None = None) -> dict[int, float]:
        """`counts`: the dev examples each cluster's error was measured on (for an allocation that weighs it)."""
        return boost_by_error(self.balanced(natural, stage, stages), errors, 0.0)  # renormalised only


@dataclass(frozen=True)
class Balanced(Allocation):
    """BalDistill's schedule: the natural distribution at stage 0, uniform at stage K; fixed at either end
    by `schedule` natural / uniform."""

    schedule: Literal["natural", "adaptive", "uniform"] = "adaptive"

    def balanced(self, natural: dict[int, float], stage: int, stages: int) -> dict[int, float]:
        fixed = {"natural": 0, "uniform": stages}.get(self.schedule, stage)
        return adaptive_shares(natural, fixed, stages)

    def __str__(self) -> str:
        return {"natural": "natural shares", "uniform": "equal shares",
                "adaptive": "natural -> uniform over the rounds (BalDistill)"}[self.schedule]


@dataclass(frozen=True)
class Wrapping(Allocation):
    """An allocation over another one's schedule: `balanced` is the inner allocation's."""

    inner: Allocation

    def balanced(self, natural: dict[int, float], stage: int, stages: int) -> dict[int, float]:
        return self.inner.balanced(natural, stage, stages)


@dataclass(frozen=True)
class ErrorBoosted(Wrapping):
    """A schedule's shares raised where the student errs on dev: share x (1 + boost x error); with `prior` > 0
    each cluster's error is first pulled toward the overall error by that many pseudo-examples (a cluster
    measured on few dev examples is trusted less)."""

    boost: float
    prior: float = 0.0

    def shares(self, natural: dict[int, float], errors: dict[int, float], stage: int, stages: int,
               counts: dict[int, int] | None = None) -> dict[int, float]:
        if self.prior > 0 and counts is not None:
            errors = shrink_errors(errors, counts, self.prior)
        return boost_by_error(self.balanced(natural, stage, stages), errors, self.boost)

    def __str__(self) -> str:
        shrunk = f" (shrunk toward the mean by {self.prior:g} pseudo-examples)" if self.prior > 0 else ""
        return f"{self.inner} x (1 + {self.boost:g} x dev error{shrunk})"


@dataclass(frozen=True)
class Trusted(Wrapping):
    """The inner allocation's shares trusted as much as the student measures well: q x inner + (1 - q) x natural,
    q the student's dev accuracy (1 - the per-cluster errors' mean, weighted by the clusters' dev counts).
    Before any dev error the inner shares stand."""

    def shares(self, natural: dict[int, float], errors: dict[int, float], stage: int, stages: int,
               counts: dict[int, int] | None = None) -> dict[int, float]:
        inner = self.inner.shares(natural, errors, stage, stages, counts)
        if not errors:
            return inner
        q = 1.0 - mean_error(errors, counts or {})
        total = sum(natural.values()) or 1.0
        return {c: q * s + (1.0 - q) * natural.get(c, 0.0) / total for c, s in inner.items()}

    def __str__(self) -> str:
        return f"{self.inner}, blended toward natural shares as much as the student errs on dev"


@dataclass(frozen=True)
class Checked(Wrapping):
    """The inner allocation's shares where the student's dev errors differ between clusters more than chance
    would make them (chi-square test of homogeneity at `alpha`, the usual level, not tuned); where they do not
    (a weak student errs everywhere alike), the clusters' natural (density) shares: the errors then say nothing
    about where to buy, and covering the pool as densely as it lies is what won there (policy_choice stage 20).
    Before any dev error the inner shares stand."""

    alpha: float = 0.05

    def shares(self, natural: dict[int, float], errors: dict[int, float], stage: int, stages: int,
               counts: dict[int, int] | None = None) -> dict[int, float]:
        inner = self.inner.shares(natural, errors, stage, stages, counts)
        p = errors_differ(errors, counts or {}) if errors else None
        if p is None or p < self.alpha:
            return inner
        total = sum(natural.values()) or 1.0
        return {c: natural.get(c, 0.0) / total for c in inner}

    def __str__(self) -> str:
        return (f"{self.inner} where the clusters' dev errors differ (chi-square p < {self.alpha:g}), "
                "else natural shares")


# ---------------------------------------------------------------- selection: which examples


class Selection(ABC):
    """Pick k of `ids` (one cluster's unlabelled pool, or the whole pool when `cluster` is None)."""

    @abstractmethod
    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked: ...


class RandomPick(Selection):
    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        return Picked(sorted(pool.rng.sample(ids, min(k, len(ids)))))

    def __str__(self) -> str:
        return "uniformly at random"


@dataclass(frozen=True)
class TopScore(Selection):
    """The k highest scores (ties keep the pool order)."""

    method: str | None = None  # None: the run's loop.scoring

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        scores = pool.scores(ids, self.method)
        order = np.argsort(-scores, kind="stable")[:k]
        return Picked([ids[i] for i in order], {ids[i]: float(scores[i]) for i in order})

    def __str__(self) -> str:
        return f"most informative by {self.method or 'loop.scoring'}"


@dataclass(frozen=True)
class DiverseTop(Selection):
    """Highest score first, skipping examples closer than `min_distance` (cosine) to one already chosen;
    `centroid` scores by closeness to the cluster's centroid instead of the student. With `power` > 0 the
    order is drawn instead: probability proportional to score^power (stochastic batch acquisition)."""

    min_distance: float = 0.0
    centroid: bool = False
    power: float = 0.0

    @property
    def drawn(self) -> bool:
        """Is the order drawn (power > 0) rather than the top taken? Never for centroid closeness."""
        return self.power > 0 and not self.centroid

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        vecs = pool.vectors(ids)
        if self.centroid and cluster is not None:
            c = np.asarray(pool.centroid(cluster), dtype=np.float32)
            scores = vecs @ (c / (np.linalg.norm(c) or 1.0))
        else:
            scores = pool.scores(ids)
        keys = scores
        if self.drawn:
            keys = power_sample_keys(scores, self.power, np.array([pool.rng.random() for _ in ids]))
        chosen = select_diverse(ids, keys, vecs, k, self.min_distance)
        return Picked(chosen, dict(zip(ids, scores.tolist(), strict=True)))

    def __str__(self) -> str:
        what = "nearest to the centroid" if self.centroid else "most informative (loop.scoring)"
        if self.drawn:
            what = f"drawn with probability proportional to informativeness^{self.power:g} (loop.scoring)"
        return what + (f", at least {self.min_distance:g} apart" if self.min_distance else "")


@dataclass(frozen=True)
class Subsample(Selection):
    """Another selection over a random sample of the pool (the round's scoring sample, loop.score_sample)."""

    inner: Selection

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        cap = pool.scoring_cap(k)
        if len(ids) > cap:
            ids = sorted(pool.rng.sample(ids, cap))
        return self.inner.select(ids, k, pool, cluster)

    def __str__(self) -> str:
        return f"{self.inner}, over a random sample"


@dataclass(frozen=True)
class RareLabels(Selection):
    """Another selection over the candidates most likely to belong to labels the labelled set has few of: the
    `drop` share predicted most likely to be of well-covered labels is set aside first (never below k left).
    Macro-F1 weighs every label alike, and a pool's common labels fill a budget by themselves (class-balanced
    active learning, e.g. Aggarwal et al., WACV 2020; Bengar et al., WACV 2022). Without label probabilities
    (no student yet, NER, generation) every candidate stays."""

    inner: Selection
    drop: float

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        keep = max(k, math.ceil((1.0 - self.drop) * len(ids)))
        deficit = pool.label_deficit(ids) if 0 < keep < len(ids) else None
        if deficit is not None:
            top = np.argsort(-deficit, kind="stable")[:keep]
            ids = [ids[i] for i in sorted(top)]
        return self.inner.select(ids, k, pool, cluster)

    def __str__(self) -> str:
        return (f"{self.inner}, after setting aside the {self.drop:.0%} most likely to be of labels already well "
                "covered")


@dataclass(frozen=True)
class DensityWeighted(Selection):
    """Information density (Settles & Craven, EMNLP 2008): another selection whose informativeness scores are
    multiplied by each candidate's typicality in the pool (PoolView.density, scaled to at most 1 over the
    candidates) raised to `power`, so that of two equally uncertain examples the one in a denser region comes
    first and outliers are bought less. A selection that reads no scores (coverage, random) is unchanged."""

    inner: Selection
    power: float = 1.0

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        return self.inner.select(ids, k, _Dense(pool, self.power), cluster)

    def __str__(self) -> str:
        return f"{self.inner}, times typicality^{self.power:g} (information density)"


@dataclass(frozen=True)
class Mixed(Selection):
    """Parts of the k, each by its own selection, in order: the first takes round(share x k), the second the
    rest. The second part never picks what the first chose and sees those picks as labelled (a coverage
    selection such as TypiClust then looks past them). With `adaptive`, the first part's share is the
    student's last dev score (PoolView.student_quality; `share` when there is none): the better the student
    measures, the more its own scores are trusted; with `above_chance` that score is measured above guessing,
    (q - c) / (1 - c) with c = PoolView.chance_quality(), floored at 0. With `sample_first`, only the first part looks at a random
    sample (the round's scoring sample for the whole k, drawn as Subsample draws it) and the second part at
    every candidate: a coverage selection scores nothing, so it needs no sample, and TypiClust's density is
    measured badly on a few dozen texts."""

    first: Selection
    second: Selection
    share: float = 0.5
    adaptive: bool = False
    sample_first: bool = False
    above_chance: bool = False

    def first_share(self, pool: PoolView) -> float:
        quality = pool.student_quality() if self.adaptive else None
        if quality is None:
            return self.share
        chance = pool.chance_quality() if self.above_chance else 0.0  # below 1: a task has two labels or more
        return min(max((quality - chance) / (1.0 - chance), 0.0), 1.0)

    def select(self, ids: list[str], k: int, pool: PoolView, cluster: int | None) -> Picked:
        k = min(k, len(ids))
        candidates, cap = ids, pool.scoring_cap(k) if self.sample_first else len(ids)
        if len(ids) > cap:
            candidates = sorted(pool.rng.sample(ids, cap))
        k1 = round(self.first_share(pool) * k)  # half of an odd k: round-half-even, as Python rounds
        one = self.first.select(candidates, k1, pool, cluster) if k1 else Picked([])
        taken = set(one.chosen)
        rest = [i for i in ids if i not in taken]
        two = self.second.select(rest, k - len(one.chosen), _AfterPicks(pool, one.chosen), cluster) \
            if k > len(one.chosen) and rest else Picked([])
        return Picked(one.chosen + two.chosen, {**one.scores, **two.scores})

    def __str__(self) -> str:
        above = " above guessing" if self.above_chance else ""
        part = (f"a share equal to the student's last dev score{above} (else {self.share:.0%})" if self.adaptive
                else f"{self.share:.0%}")
        sampled = (" (the first part over a random sample, the rest over every candidate)" if self.sample_first
                   else "")
        return f"{part}: {self.first}; the rest: {self.second}{sampled}"


class _ViewOver:
    """A PoolView over another one: whatever a subclass does not override is the wrapped view's."""

    def __init__(self, pool: PoolView) -> None:
        self.pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


class _Dense(_ViewOver):
    """A PoolView whose scores are weighted by typicality^power (for DensityWeighted)."""

    def __init__(self, pool: PoolView, power: float) -> None:
        super().__init__(pool)
        self.power = power

    def scores(self, ids: list[str], method: str | None = None) -> np.ndarray:
        scores = np.asarray(self.pool.scores(ids, method), dtype=np.float64)
        if not len(ids):
            return scores
        density = np.asarray(self.pool.density(ids), dtype=np.float64)
        top = float(density.max())
        weight = (density / top) ** self.power if top > 0 else np.ones(len(ids))
        return scores * weight


class _AfterPicks(_ViewOver):
    """A PoolView that counts `picked` as labelled (for the second part of a Mixed selection)."""

    def __init__(self, pool: PoolView, picked: list[str]) -> None:
        super().__init__(pool)
        self.picked = picked

    def labelled_vectors(self) -> np.ndarray:
        done = self.pool.labelled_vectors()
        if not self.picked:
            return done
        new = self.pool.vectors(self.picked)
        return np.vstack([done.reshape(-1, new.shape[1]), new]) if len(done) else new
