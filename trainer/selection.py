"""Informativeness scores from class probabilities, and diverse top-k selection.

Every score follows one convention: higher = more informative (so margin becomes 1 - margin).
The graph's generator and the benchmarks both pick pool examples with `select_diverse`.
"""

from __future__ import annotations

import numpy as np


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each row of a (n, k) probability matrix; uniform rows score log k."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def margin_score(probs: np.ndarray) -> np.ndarray:
    """1 - (top-1 minus top-2 probability): 1 when the two best labels tie, 0 when the student is sure."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[1] < 2:
        return np.zeros(p.shape[0])
    top2 = np.sort(p, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def select_diverse(
    ids: list[str], scores: np.ndarray, vectors: np.ndarray, k: int, min_distance: float
) -> list[str]:
    """Greedy highest-score-first selection that skips near-duplicates of what is already chosen.

    An item is skipped while its cosine distance to a chosen item is below `min_distance`, so a batch
    of ten paraphrases of one hard example does not eat the whole budget. If fewer than k items pass
    that test, the rest is filled with the best-scoring skipped items (the budget is still spent).
    Ties in score keep the input order, so the result is deterministic.
    """
    if len(ids) != len(scores) or len(ids) != len(vectors):
        raise ValueError("select_diverse: ids, scores and vectors must have the same length")
    k = min(k, len(ids))
    if k <= 0:
        return []
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    unit = _unit_rows(vectors)
    chosen: list[int] = []
    skipped: list[int] = []
    for i in order:
        if len(chosen) == k:
            break
        if chosen and (1.0 - unit[chosen] @ unit[i]).min() < min_distance:
            skipped.append(int(i))
        else:
            chosen.append(int(i))
    chosen += skipped[: k - len(chosen)]
    return [ids[i] for i in chosen]
