"""k-means / domain clustering, persistence and the head/tail rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import distillgraph.store.cluster as cluster_mod
from distillgraph.store.cluster import Clustering, cluster_vectors
from distillgraph.store.embed import normalise
from distillgraph.store.schema import UserError


def blobs(
    n_per: int = 40, k: int = 3, dim: int = 16, seed: int = 0
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """k tight, well separated groups of unit vectors; returns ids, vectors and the true group."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:k] * 5
    truth = np.repeat(np.arange(k), n_per)
    vectors = normalise(centres[truth] + rng.normal(scale=0.3, size=(len(truth), dim)))
    return [f"id{i}" for i in range(len(truth))], vectors, truth


def purity(assignments: list[int], truth: np.ndarray) -> bool:
    """Every found cluster holds one true group and every true group one cluster."""
    pairs = set(zip(assignments, truth.tolist(), strict=True))
    return len(pairs) == len({a for a, _ in pairs}) == len({t for _, t in pairs})


def test_auto_k_finds_the_groups_with_representatives():
    ids, vectors, truth = blobs(k=4)
    result = cluster_vectors(ids, vectors, "auto", k_min=2, k_max=8, seed=0, n_representatives=3)
    assert result.k == 4 and result.method == "kmeans"
    assert purity([result.assignments[i] for i in ids], truth)
    assert sum(result.sizes.values()) == len(ids) and set(result.sizes.values()) == {40}
    for c, reps in result.representatives.items():
        members = [i for i in ids if result.assignments[i] == c]
        dist = {i: float(np.sum((vectors[ids.index(i)] - result.centroids[c]) ** 2)) for i in members}
        assert reps == sorted(members, key=dist.get)[:3]


def test_assign_agrees_with_fit_and_places_new_points():
    ids, vectors, truth = blobs()
    result = cluster_vectors(ids, vectors, 3, k_min=2, k_max=5, seed=1)
    assert result.assign(vectors) == [result.assignments[i] for i in ids]
    new = normalise(np.eye(16)[[2, 0]] * 5 + 0.1)
    first_of = {t: result.assignments[ids[int(np.argmax(truth == t))]] for t in range(3)}
    assert result.assign(new) == [first_of[2], first_of[0]]
    assert result.assign(np.zeros((0, 16))) == []


def test_fixed_k_and_minibatch_for_large_pools(monkeypatch: pytest.MonkeyPatch):
    ids, vectors, truth = blobs()
    assert cluster_vectors(ids, vectors, 5, 2, 8, 0).k == 5
    monkeypatch.setattr(cluster_mod, "MINIBATCH_ABOVE", 50)
    result = cluster_vectors(ids, vectors, 3, 2, 8, 0)
    assert result.method == "minibatch" and purity([result.assignments[i] for i in ids], truth)


def test_k_is_capped_by_the_number_of_examples():
    ids, vectors, _ = blobs(n_per=1, k=2)
    assert cluster_vectors(ids, vectors, "auto", 3, 10, 0).k == 2
    assert cluster_vectors(ids, vectors, 8, 3, 10, 0).k == 2


def test_domains_replace_kmeans():
    ids, vectors, truth = blobs()
    domains = [["news", "law", "health"][t] for t in truth]
    result = cluster_vectors(ids, vectors, "auto", 2, 8, 0, domains=domains)
    assert result.method == "domains" and result.k == 3
    assert result.names == {0: "health", 1: "law", 2: "news"}
    assert all(result.names[result.assignments[i]] == d for i, d in zip(ids, domains, strict=True))
    assert result.assign(vectors[:1]) == [result.assignments[ids[0]]]
    with pytest.raises(UserError, match="no domain"):
        cluster_vectors(ids, vectors, "auto", 2, 8, 0, domains=[None] + domains[1:])


def test_user_errors():
    ids, vectors, _ = blobs()
    with pytest.raises(UserError, match="k_max"):
        cluster_vectors(ids, vectors, "auto", 6, 3, 0)
    with pytest.raises(UserError, match="empty"):
        cluster_vectors([], np.zeros((0, 4)), "auto", 2, 3, 0)


def test_save_load_round_trip(tmp_path: Path):
    ids, vectors, _ = blobs()
    result = cluster_vectors(ids, vectors, 3, 2, 5, 0)
    path = tmp_path / "clusters.json"
    result.save(path)
    loaded = Clustering.load(path)
    assert loaded.assignments == result.assignments and loaded.sizes == result.sizes
    assert loaded.representatives == result.representatives and loaded.names == result.names
    assert loaded.k == 3 and loaded.method == "kmeans"
    assert np.array_equal(loaded.centroids, result.centroids)
    with pytest.raises(UserError, match="not found"):
        Clustering.load(tmp_path / "other.json")
