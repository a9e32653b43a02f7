"""The arithmetic of selection: informativeness scores, diverse top-k, TypiClust's typical points.

Every score follows one convention: higher = more informative (so margin becomes 1 - margin).
The selection policies (graph/policies.py) and the benchmarks pick pool examples with these functions.
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


def power_sample_keys(scores: np.ndarray, power: float, uniforms: np.ndarray) -> np.ndarray:
    """Sort keys for stochastic batch acquisition (Kirsch et al., TMLR 2023, "power" acquisition).

    Taking the k highest keys `power x log(score) + Gumbel noise` draws k items without replacement with
    probability proportional to score^power (the Gumbel-top-k trick). Where the scores hardly differ (a
    student too weak for its scores to mean much) the draw is close to uniform; where a few stand out it
    is close to top-k; power -> infinity is top-k. `uniforms` are draws in (0, 1), one per score.
    """
    s = np.maximum(np.asarray(scores, dtype=np.float64), 1e-12)
    u = np.clip(np.asarray(uniforms, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    if s.shape != u.shape:
        raise ValueError("power_sample_keys: one uniform draw per score")
    return power * np.log(s) - np.log(-np.log(u))


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


def typicality(vectors: np.ndarray, k_nn: int = 20) -> np.ndarray:
    """TypiClust's density: 1 / mean Euclidean distance to the k nearest other points.

    As in the paper's code, k is at most half the points (a small cluster is measured over itself).
    """
    v = np.asarray(vectors, dtype=np.float64)
    n = len(v)
    if n <= 1:
        return np.ones(n)
    k = max(1, min(k_nn, n // 2))
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(v).kneighbors(v)
    return 1.0 / (dist[:, 1:].mean(axis=1) + 1e-5)


def kmeans_labels(vectors: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """k-means cluster of each row (mini-batch above 50 clusters, as TypiClust's code does)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    v = np.asarray(vectors, dtype=np.float64)
    if n_clusters <= 50:
        km = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, n_init=3, random_state=seed)
    return np.asarray(km.fit_predict(v))


def typiclust(unlabelled: np.ndarray, labelled: np.ndarray, k: int, *, seed: int, k_nn: int = 20,
              min_cluster: int = 5, max_clusters: int = 500) -> tuple[list[int], list[float]]:
    """TypiClust (Hacohen, Dekel, Weinshall, ICML 2022): indices into `unlabelled` and their typicality.

    Labelled + unlabelled points are clustered into |L| + k clusters; each pick takes, from the cluster
    with the fewest labelled points (the largest first; clusters of at most `min_cluster` points only
    when nothing else is left), its most typical unlabelled point.
    """
    k = min(k, len(unlabelled))
    if k <= 0:
        return [], []
    unl = np.asarray(unlabelled, dtype=np.float64)
    lab = np.asarray(labelled, dtype=np.float64).reshape(-1, unl.shape[1])
    feats = np.vstack([lab, unl])
    n_clusters = min(len(lab) + k, max_clusters, len(feats))
    assign = kmeans_labels(feats, n_clusters, seed)
    sizes = np.bincount(assign, minlength=n_clusters)
    covered = np.bincount(assign[: len(lab)], minlength=n_clusters)
    order = sorted(range(n_clusters), key=lambda c: (covered[c], -sizes[c], c))
    free = np.ones(len(unl), dtype=bool)
    picks: list[int] = []
    scores: list[float] = []
    for group in ([c for c in order if sizes[c] > min_cluster], [c for c in order if sizes[c] <= min_cluster]):
        _typical_picks(unl, assign[len(lab):], group, k, k_nn, free, picks, scores)
    return picks, scores


def _typical_picks(unl: np.ndarray, assign: np.ndarray, order: list[int], k: int, k_nn: int,
                   free: np.ndarray, picks: list[int], scores: list[float]) -> None:
    """Round-robin over the clusters in `order` until k picks: each turn, the cluster's most typical free point."""
    while len(picks) < k:
        before = len(picks)
        for c in order:
            members = np.flatnonzero((assign == c) & free)
            if len(members) and len(picks) < k:
                typ = typicality(unl[members], k_nn)
                best = int(np.argmax(typ))
                picks.append(int(members[best]))
                scores.append(float(typ[best]))
                free[members[best]] = False
        if len(picks) == before:
            return


def neighbour_agreement(vectors: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Do nearest neighbours in the embedding space share labels? Leave-one-out 1-NN accuracy over labelled
    examples (cosine), against what an unrelated neighbour would give (the chance that two distinct examples
    share a label, from the label counts), with a one-sided binomial p-value. A high p says the space's
    neighbourhoods (and so its clusters) carry no label information."""
    from scipy.stats import binomtest

    n = len(labels)
    if n < 3 or len(set(labels)) < 2:
        return {"n": n, "accuracy": float("nan"), "chance": float("nan"), "p": float("nan")}
    unit = _unit_rows(np.asarray(vectors, dtype=np.float64))
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    gold = np.asarray(labels)
    hits = int((gold[sims.argmax(axis=1)] == gold).sum())
    counts = np.unique(gold, return_counts=True)[1]
    chance = float((counts * (counts - 1)).sum() / (n * (n - 1)))
    p = float(binomtest(hits, n, chance, alternative="greater").pvalue)
    return {"n": n, "accuracy": hits / n, "chance": chance, "p": p}
