"""Metrics for ner predictions: entity-level precision/recall/F1 (seqeval, strict IOB2), per type and per cluster.

Tag sequences come in as strings, one IOB2 tag per token joined by single spaces. An entity counts as
found only when its type, start and end all match (seqeval's strict mode): predicting half of a
two-word name is one false positive and one false negative. Spans are decoded by seqeval with the
IOB2 scheme, so an I-X that does not follow B-X/I-X starts no entity.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from seqeval.scheme import IOB2, Entities

from distillgraph.trainer.evaluate import _cluster_summary, _group

Entity = tuple[int, str, int, int]  # (sentence, type, start, end)


def _entities(sequences: list[list[str]]) -> set[Entity]:
    return {e.to_tuple() for sentence in Entities(sequences, IOB2).entities for e in sentence}


def _prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall, F1; each 0 when its denominator is 0 (seqeval's zero_division=0)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _micro(gold: set[Entity], pred: set[Entity]) -> tuple[float, float, float]:
    """Micro P/R/F1 over entities; all 1.0 when there is nothing to find and nothing was found."""
    if not gold and not pred:
        return 1.0, 1.0, 1.0
    return _prf(len(gold & pred), len(pred), len(gold))


def _per_type(gold: set[Entity], pred: set[Entity], types: list[str]) -> dict[str, dict]:
    tp = Counter(e[1] for e in gold & pred)
    n_gold, n_pred = Counter(e[1] for e in gold), Counter(e[1] for e in pred)
    out = {}
    for t in types:
        p, r, f = _prf(tp[t], n_pred[t], n_gold[t])
        out[t] = {"precision": p, "recall": r, "f1": f, "support": n_gold[t]}
    return out


def _check(y_true: list[list[str]], y_pred: list[list[str]]) -> None:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} sentences, y_pred {len(y_pred)}")
    for i, (t, p) in enumerate(zip(y_true, y_pred, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} gold tags, {len(p)} predicted")


def _token_accuracy(true: list[list[str]], pred: list[list[str]]) -> float:
    pairs = [(a, b) for t, q in zip(true, pred, strict=True) for a, b in zip(t, q, strict=True)]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0


def _per_cluster(gold: set[Entity], pred: set[Entity], groups: dict[int, list[int]]) -> dict[int, dict]:
    out = {}
    for c, idx in groups.items():
        members = set(idx)
        gold_c, pred_c = {e for e in gold if e[0] in members}, {e for e in pred if e[0] in members}
        out[c] = {"n": len(idx), "entity_f1": _micro(gold_c, pred_c)[2]}
    return out


def ner_metrics(
    y_true: list[str], y_pred: list[str], types: list[str], clusters: list[int] | None = None
) -> dict:
    """Entity micro P/R/F1, macro F1 over types, per-type scores, token accuracy and per-cluster entity F1.

    macro_f1 averages the types of `types` that occur in the gold or the predictions (as seqeval's
    macro average); per_type lists every type of `types` (zeros when absent). worst_type is the type
    with the lowest F1 among those with gold support. A cluster (or the whole set) with no gold and no
    predicted entity scores 1.0; no sentences at all score 0. Raises ValueError when lengths differ.
    """
    true = [s.split(" ") for s in y_true]
    pred = [s.split(" ") for s in y_pred]
    _check(true, pred)
    gold_set, pred_set = _entities(true), _entities(pred)
    p, r, f = _micro(gold_set, pred_set) if true else (0.0, 0.0, 0.0)
    per_type = _per_type(gold_set, pred_set, types)
    seen = [t for t, v in per_type.items() if v["support"] or any(e[1] == t for e in pred_set)]
    supported = {t: v["f1"] for t, v in per_type.items() if v["support"] > 0}
    worst = min(supported, key=lambda t: (supported[t], t)) if supported else None
    per_cluster = _per_cluster(gold_set, pred_set, _group(clusters, len(true)))
    return {
        "n": len(true),
        "entity_f1": f,
        "entity_precision": p,
        "entity_recall": r,
        "macro_f1": float(np.mean([per_type[t]["f1"] for t in seen])) if seen else 0.0,
        "per_type": per_type,
        "worst_type": worst,
        "worst_type_f1": supported[worst] if worst is not None else None,
        "token_accuracy": _token_accuracy(true, pred),
        "per_cluster": per_cluster,
        **_cluster_summary(per_cluster, "entity_f1"),
    }
