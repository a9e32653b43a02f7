"""Sub-populations of the pool: k-means clusters of the embeddings, or the user's own domains.

The analyst spreads each round's budget over these groups and the report shows per-group metrics
(worst cluster, spread), so the grouping is computed once per run and saved next to the data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from distillgraph.store.schema import UserError

MINIBATCH_ABOVE = 20_000  # full k-means is quadratic-ish in practice; above this MiniBatchKMeans is as good
SILHOUETTE_SAMPLE = 2_000


@dataclass
class Clustering:
    """Cluster ids are 0..k-1; `centroids[c]` is the mean vector of cluster c (Euclidean k-means space)."""

    k: int
    method: str  # "kmeans" | "minibatch" | "domains"
    assignments: dict[str, int]
    centroids: np.ndarray
    sizes: dict[int, int]
    representatives: dict[int, list[str]]
    names: dict[int, str] = field(default_factory=dict)

    def assign(self, vectors: np.ndarray) -> list[int]:
        """Nearest centroid per row: the same rule k-means used, so new samples land where the pool did."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 0:
            return []
        return [int(c) for c in _nearest(vectors, self.centroids)]

    def save(self, path: Path) -> None:
        """JSON for everything readable, `<stem>.npy` beside it for the centroids; both written atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "k": self.k,
            "method": self.method,
            "names": {str(c): n for c, n in self.names.items()},
            "sizes": {str(c): n for c, n in self.sizes.items()},
            "representatives": {str(c): ids for c, ids in self.representatives.items()},
            "assignments": self.assignments,
        }
        _atomic_write(path, lambda handle: handle.write(json.dumps(payload).encode()))
        _atomic_write(_centroid_path(path), lambda handle: np.save(handle, self.centroids.astype(np.float32)))

    @classmethod
    def load(cls, path: Path) -> Clustering:
        path = Path(path)
        if not path.exists() or not _centroid_path(path).exists():
            raise UserError(f"{path}: clustering not found (run the index step first)")
        data = json.loads(path.read_text())
        return cls(
            k=int(data["k"]),
            method=data["method"],
            assignments={id_: int(c) for id_, c in data["assignments"].items()},
            centroids=np.load(_centroid_path(path), allow_pickle=False),
            sizes={int(c): int(n) for c, n in data["sizes"].items()},
            representatives={int(c): list(ids) for c, ids in data["representatives"].items()},
            names={int(c): n for c, n in data["names"].items()},
        )


def _centroid_path(path: Path) -> Path:
    return path.with_suffix(".npy")


def _atomic_write(path: Path, write) -> None:  # type: ignore[no-untyped-def]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)


def _nearest(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared Euclidean; ‖x‖² is constant per row and dropped)."""
    scores = vectors @ centroids.T - 0.5 * np.sum(centroids * centroids, axis=1)
    return np.argmax(scores, axis=1)


def cluster_vectors(
    ids: list[str],
    vectors: np.ndarray,
    n_clusters: int | Literal["auto"] = "auto",
    k_min: int = 3,
    k_max: int = 10,
    seed: int = 0,
    domains: list[str | None] | None = None,
    n_representatives: int = 5,
) -> Clustering:
    """Group the examples: by `domains` when given, else k-means with k fixed or picked by silhouette."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(ids) != len(vectors):
        raise ValueError(f"cluster_vectors: {len(ids)} ids but {len(vectors)} vectors")
    if not ids:
        raise UserError("no pool or seed examples to cluster: the pool is empty")
    if domains is not None:
        labels, centroids, names, method = _by_domain(vectors, domains)
    else:
        labels, centroids, method = _kmeans(vectors, n_clusters, k_min, k_max, seed)
        names = {c: f"cluster {c}" for c in range(len(centroids))}
    k = len(centroids)
    return Clustering(
        k=k,
        method=method,
        assignments={id_: int(c) for id_, c in zip(ids, labels, strict=True)},
        centroids=centroids.astype(np.float32),
        sizes={c: int(np.sum(labels == c)) for c in range(k)},
        representatives=_representatives(ids, vectors, labels, centroids, n_representatives),
        names=names,
    )


def _by_domain(
    vectors: np.ndarray, domains: list[str | None]
) -> tuple[np.ndarray, np.ndarray, dict[int, str], str]:
    if len(domains) != len(vectors):
        raise ValueError(f"cluster_vectors: {len(domains)} domains but {len(vectors)} vectors")
    if any(d is None or d == "" for d in domains):
        raise UserError(
            "store.use_domains is on but some pool/seed examples have no domain (data.domain_field)"
        )
    names = sorted(set(domains))  # type: ignore[type-var]
    index = {name: c for c, name in enumerate(names)}
    labels = np.array([index[d] for d in domains])
    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in range(len(names))])
    return labels, centroids, dict(enumerate(names)), "domains"  # type: ignore[arg-type]


def _kmeans(
    vectors: np.ndarray, n_clusters: int | str, k_min: int, k_max: int, seed: int
) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = len(vectors)
    k = choose_k(vectors, k_min, k_max, seed) if n_clusters == "auto" else int(n_clusters)
    k = max(1, min(k, n))
    if n > MINIBATCH_ABOVE:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        method = "minibatch"
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=3)
        method = "kmeans"
    model.fit(vectors)
    centroids = np.asarray(model.cluster_centers_, dtype=np.float32)
    return _nearest(vectors, centroids), centroids, method


def choose_k(vectors: np.ndarray, k_min: int, k_max: int, seed: int) -> int:
    """k in k_min..k_max with the best silhouette on a sample of at most 2,000 vectors.

    Cheap enough to sit inside the index step (~1 s CPU on 2,000 x 384): one k-means++ run per k
    and the pairwise distances computed once for every silhouette.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances, silhouette_score

    if k_max < k_min:
        raise UserError(f"store.k_max ({k_max}) must be >= store.k_min ({k_min})")
    rng = np.random.default_rng(seed)
    sample = (
        vectors
        if len(vectors) <= SILHOUETTE_SAMPLE
        else vectors[rng.choice(len(vectors), SILHOUETTE_SAMPLE, replace=False)]
    )
    candidates = range(k_min, min(k_max, len(sample) - 1) + 1)
    distances = pairwise_distances(sample) if len(candidates) else None
    best_k, best_score = min(k_min, len(vectors)), -np.inf
    for k in candidates:
        labels = KMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(distances, labels, metric="precomputed")
        if score > best_score:
            best_k, best_score = k, score
    return best_k


def _representatives(
    ids: list[str], vectors: np.ndarray, labels: np.ndarray, centroids: np.ndarray, n: int
) -> dict[int, list[str]]:
    """Per cluster, the ids of the `n` members nearest to its centroid (the most typical examples)."""
    reps: dict[int, list[str]] = {}
    for c in range(len(centroids)):
        members = np.flatnonzero(labels == c)
        distances = np.sum((vectors[members] - centroids[c]) ** 2, axis=1)
        reps[c] = [ids[i] for i in members[np.argsort(distances, kind="stable")[:n]]]
    return reps
