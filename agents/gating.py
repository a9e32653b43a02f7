"""Label gating: a confidence for every teacher label from what the run already has, and what to do below a
threshold (drop the label, or down-weight it in training).

The confidence is the posterior probability that the teacher's label is the true one, given three noisy
witnesses, each weighted by how reliable the run has measured it to be (a naive-Bayes / Dawid-Skene vote with
fixed reliabilities):

    P(true = t) ∝ T(teacher's votes | t)^w_votes · S(student's prediction | t)^w_student · N(neighbours | t)^w_neighbours

* T: the teacher is right with probability alpha (the audit's accuracy when there was an audit, else
  `teacher.gate.teacher_accuracy`), otherwise any other label; with self-consistency votes, alpha is blended with
  the votes' agreement;
* S: the round's student, through its confusion matrix on dev (`dev_predictions`: how often it predicts b when
  the truth is t, Laplace-smoothed). A student that predicts one label for everything carries no evidence, so
  a weak round-0 student cannot veto the teacher; a good one outvotes a teacher label it confidently contradicts;
* N: the labels of the retrieved labelled neighbours (the annotator's demonstrations), Laplace-smoothed;
* M (re-gating only, `teacher.gate.w_model` > 0): confident learning's out-of-fold probabilities (Northcutt et
  al., 2021): a logistic regression on the embeddings of all labels so far, each label predicted by folds that
  never saw it (`out_of_fold`), divided by the labels' shares. Unlike the student, it cannot have memorised the
  label it judges.

Re-gating (`teacher.gate.regate_k` > 0): a label is gated once when bought, against the few labels there were
then. After each round every teacher label is gated again with the labels of its k nearest labelled examples
among all labels so far (`knn_label_counts`), which catch far more wrong labels as the labelled set grows; the
neighbours' label shares are divided by the labels' shares in the labelled set (`label_priors`), so a right label
of a small class among neighbours of larger classes is not dropped for being rare.

`teacher.gate.mode`: ``off`` (default: the confidence is still recorded), ``drop`` (weight 0: kept in the dataset,
so never bought again, but not trained on, not a demonstration, not exported) or ``weight`` (below the threshold
the sample weight is confidence / threshold, at least `min_weight`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillgraph.agents.config import GateConfig
from distillgraph.agents.records import Annotation


@dataclass
class Signals:
    """The evidence about one teacher label (None: that witness has nothing to say)."""

    votes: float | None = None               # share of self-consistency votes for the label (> 1 vote)
    neighbours: dict[str, int] = field(default_factory=dict)  # label -> count among labelled neighbours
    student: str | None = None               # the student's prediction for the text
    model: dict[str, float] | None = None    # label -> out-of-fold probability (re-gating)


def signals_for(ann: Annotation, *, votes_asked: int, known: Mapping[str, str], student_pred: str | None) -> Signals:
    """The evidence of one annotation (`known`: id -> label of everything labelled so far)."""
    votes = ann.agreement if votes_asked > 1 else None
    neighbours = dict(Counter(known[i] for i in ann.neighbour_ids if i in known))
    return Signals(votes=votes, neighbours=neighbours, student=student_pred)


def confusion_from(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """gold -> predicted -> count, from dev prediction rows {gold, pred}."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.get("gold") is None or r.get("pred") is None:
            continue
        row = out.setdefault(str(r["gold"]), {})
        row[str(r["pred"])] = row.get(str(r["pred"]), 0) + 1
    return out


def posterior(label: str, s: Signals, labels: Sequence[str], cfg: GateConfig, *, teacher_accuracy: float,
              confusion: Mapping[str, Mapping[str, int]] | None,
              priors: Mapping[str, float] | None = None) -> dict[str, float]:
    """P(true = t | evidence) for every label t. `priors` (label -> share of the labelled set): the neighbours'
    label shares (and the out-of-fold probabilities) are divided by them, a likelihood ratio, so a rare label among common neighbours is not
    outvoted merely for being rare (re-gating on a long tail)."""
    k = len(labels)
    alpha = min(max(teacher_accuracy, 1.0 / k + 1e-6), 0.999)
    if s.votes is not None:
        alpha = alpha * s.votes + (1 - s.votes) / k
    scores = {}
    for t in labels:
        p = (alpha if t == label else (1 - alpha) / (k - 1)) ** cfg.w_votes
        if s.student is not None and confusion and cfg.w_student > 0:
            row = confusion.get(t, {})
            p *= ((row.get(s.student, 0) + 1) / (sum(row.values()) + k)) ** cfg.w_student
        if s.neighbours and cfg.w_neighbours > 0:
            n = sum(s.neighbours.values())
            share = (s.neighbours.get(t, 0) + 1) / (n + k)
            p *= (share / priors[t] if priors else share) ** cfg.w_neighbours
        if s.model is not None and cfg.w_model > 0:
            prob = s.model.get(t, 0.0) + 1e-3
            p *= (prob / priors[t] if priors else prob) ** cfg.w_model
        scores[t] = p
    total = sum(scores.values())
    return {t: v / total for t, v in scores.items()}


PRIOR_ITEMS = 10  # the configured teacher accuracy counts as this many audited items


def teacher_reliability(correct: int, n: int, prior: float) -> float:
    """The teacher's accuracy for gating: the audit's count shrunk towards the configured prior (12/12 correct on
    a 12-item audit gives 0.91 with a 0.8 prior, not a certainty that would make every label unquestionable)."""
    return (correct + PRIOR_ITEMS * prior) / (n + PRIOR_ITEMS)


def weight_for(conf: float | None, cfg: GateConfig) -> float:
    if cfg.mode == "off" or conf is None or conf >= cfg.threshold:
        return 1.0
    if cfg.mode == "drop":
        return 0.0
    return max(conf / cfg.threshold, cfg.min_weight) if cfg.threshold > 0 else 1.0


def label_priors(labels: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Laplace-smoothed share of each label name among `labels`."""
    counts = Counter(labels)
    return {t: (counts.get(t, 0) + 1) / (len(labels) + len(names)) for t in names}


def gate(anns: Sequence[Annotation], signals: Sequence[Signals], labels: Sequence[str], cfg: GateConfig, *,
         teacher_accuracy: float | None = None, confusion: Mapping[str, Mapping[str, int]] | None = None,
         priors: Mapping[str, float] | None = None) -> tuple[list[Annotation], dict[str, Any]]:
    """Annotations with `gate` (the posterior of their label) and `weight` set; a summary for the trace."""
    alpha = cfg.teacher_accuracy if teacher_accuracy is None else teacher_accuracy
    out, low = [], 0
    for ann, s in zip(anns, signals, strict=True):
        conf = posterior(ann.target, s, labels, cfg, teacher_accuracy=alpha, confusion=confusion,
                         priors=priors)[ann.target]
        w = weight_for(conf, cfg)
        low += conf < cfg.threshold
        out.append(ann.model_copy(update={"gate": round(conf, 4), "weight": round(w, 4)}))
    summary = {"mode": cfg.mode, "threshold": cfg.threshold, "teacher_accuracy": round(alpha, 4),
               "student_confusion": bool(confusion), "labels": len(out), "below_threshold": low,
               "dropped": sum(a.weight == 0 for a in out) if cfg.mode == "drop" else 0,
               "down_weighted": sum(0 < a.weight < 1 for a in out)}
    return out, summary


def knn_label_counts(vectors: np.ndarray, labels: Sequence[str], queries: Sequence[int], k: int,
                     chunk: int = 1024) -> list[dict[str, int]]:
    """For each row index in `queries`: label -> count among its k most cosine-similar OTHER rows of `vectors`
    (chunked, so 10k labels never build a 10k x 10k matrix)."""
    if not len(queries):
        return []
    kk = min(k, len(labels) - 1)
    if kk <= 0:
        return [{} for _ in queries]
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    out: list[dict[str, int]] = []
    for start in range(0, len(queries), chunk):
        rows = np.asarray(queries[start:start + chunk])
        sims = unit[rows] @ unit.T
        sims[np.arange(len(rows)), rows] = -np.inf
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        out += [dict(Counter(labels[j] for j in r)) for r in top]
    return out


def out_of_fold(vectors: np.ndarray, labels: Sequence[str], folds: int = 5, *, seed: int = 0,
                c: float = 10.0) -> list[dict[str, float]]:
    """label -> probability for each row, from a logistic regression fitted on the other folds only (rows dealt
    to `folds` folds at random; C as the embedding probe's default; a label missing from a fold's training part
    gets 0 there). Fewer than two labels or rows than folds: uniform over the labels seen."""
    from sklearn.linear_model import LogisticRegression

    names = sorted(set(labels))
    n = len(labels)
    if len(names) < 2 or n < folds:
        return [dict.fromkeys(names, 1.0 / max(len(names), 1)) for _ in range(n)]
    y = np.asarray(labels)
    fold = np.random.default_rng(seed).permutation(n) % folds
    out = np.zeros((n, len(names)))
    for f in range(folds):
        train, test = fold != f, fold == f
        seen = sorted(set(y[train]))
        if len(seen) < 2:
            out[np.ix_(test, [names.index(t) for t in seen])] = 1.0
            continue
        clf = LogisticRegression(C=c, max_iter=1000).fit(vectors[train], y[train])
        out[np.ix_(test, [names.index(t) for t in clf.classes_])] = clf.predict_proba(vectors[test])
    return [dict(zip(names, row.tolist(), strict=True)) for row in out]
