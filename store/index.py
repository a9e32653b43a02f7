"""The index step: embed every example, cluster the pool, and load everything into Chroma.

Each stage is resumable on its own, so running it twice changes nothing and an interrupted run
continues where it stopped: embeddings come from the per-run cache, the clustering is read back
from clusters.json instead of recomputed, and Chroma skips ids it already holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distillgraph.store.cluster import Clustering, cluster_vectors
from distillgraph.store.embed import Embedder, EmbeddingCache
from distillgraph.store.names import keyword_names
from distillgraph.store.schema import Example, StoreConfig, UserError
from distillgraph.store.vectors import VectorStore

EMBEDDINGS_DIR = "embeddings"
CLUSTERS_FILE = "clusters.json"
# the indexed examples' vectors, memory-mapped (bounded memory at any pool size); in the run's data folder, not in
# the embedding cache, which several runs may share (the benchmarks link every run's cache to one folder)
INDEX_VECTORS = "index-vectors.npy"
CLUSTERED_SPLITS = ("pool", "seed")
GOLD_SPLITS = ("seed", "dev", "test")


@dataclass
class IndexResult:
    """`assignments` covers every indexed example (dev/test too); `clustering.assignments` only pool + seed."""

    clustering: Clustering
    n_embedded: int
    n_total: int
    seconds: dict[str, float]
    assignments: dict[str, int]


def run_cache(embedder: Embedder, data_dir: Path) -> EmbeddingCache:
    """The run's embedding cache under data_dir/embeddings (the embedder's own one when it already is)."""
    directory = Path(data_dir) / EMBEDDINGS_DIR
    cache = embedder.cache
    if cache is not None and cache.directory.resolve() == directory.resolve():
        return cache
    return EmbeddingCache(directory, embedder.model_key)


def build_index(
    examples: list[Example], embedder: Embedder, store: VectorStore, cfg: StoreConfig, data_dir: Path
) -> IndexResult:
    """Embed, cluster pool + seed (or reuse clusters.json), assign the rest, add all to Chroma."""
    if not examples:
        raise UserError("nothing to index: no examples were loaded")
    examples = _first_per_id(examples)
    seconds: dict[str, float] = {}
    ids, texts = [ex.id for ex in examples], [ex.text for ex in examples]

    start = time.perf_counter()
    cache = run_cache(embedder, data_dir)
    n_new = len(cache.missing(ids))
    vectors = embedder.encode_to_file(texts, ids, cache, Path(data_dir) / INDEX_VECTORS)
    seconds["embed"] = time.perf_counter() - start

    start = time.perf_counter()
    clustering = _load_or_cluster(examples, vectors, cfg, Path(data_dir) / CLUSTERS_FILE)
    clusters = clusters_of(examples, vectors, clustering)
    seconds["cluster"] = time.perf_counter() - start

    start = time.perf_counter()
    metadatas = [
        item_metadata(
            ex, c, round=0, source=ex.split, labelled=ex.split in GOLD_SPLITS and ex.target is not None
        )
        for ex, c in zip(examples, clusters, strict=True)
    ]
    store.add(ids, texts, vectors, metadatas)
    seconds["add"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())

    return IndexResult(
        clustering=clustering,
        n_embedded=n_new,
        n_total=len(ids),
        seconds=seconds,
        assignments=dict(zip(ids, clusters, strict=True)),
    )


def _first_per_id(examples: list[Example]) -> list[Example]:
    """Drop repeated ids (the first occurrence wins) so cluster sizes count each example once."""
    first: dict[str, Example] = {}
    for ex in examples:
        first.setdefault(ex.id, ex)
    return list(first.values())


def _load_or_cluster(
    examples: list[Example], vectors: np.ndarray, cfg: StoreConfig, path: Path
) -> Clustering:
    """Reuse a saved clustering so a resumed or repeated index agrees with the first one."""
    if path.exists():
        return Clustering.load(path)
    rows = [i for i, ex in enumerate(examples) if ex.split in CLUSTERED_SPLITS]
    if not rows:
        raise UserError("nothing to cluster: no pool or seed examples were loaded")
    domains = [examples[i].domain for i in rows] if cfg.use_domains else None
    clustering = cluster_vectors(
        [examples[i].id for i in rows],
        vectors[rows],
        n_clusters=cfg.n_clusters,
        k_min=cfg.k_min,
        k_max=cfg.k_max,
        seed=cfg.seed,
        domains=domains,
        n_representatives=cfg.representatives,
    )
    if clustering.method != "domains":  # k-means clusters are named by their keywords (class-based TF-IDF)
        clustering.names = keyword_names([examples[i].text for i in rows],
                                         [clustering.assignments[examples[i].id] for i in rows], clustering.k)
    clustering.save(path)
    return clustering


def clusters_of(examples: list[Example], vectors: np.ndarray, clustering: Clustering) -> list[int]:
    """Cluster per example: its saved assignment, else its domain (domain clustering), else the nearest centroid."""
    by_domain = {name: c for c, name in clustering.names.items()} if clustering.method == "domains" else {}
    nearest = clustering.assign(vectors)
    out = []
    for ex, near in zip(examples, nearest, strict=True):
        if ex.id in clustering.assignments:
            out.append(clustering.assignments[ex.id])
        elif ex.domain is not None and ex.domain in by_domain:
            out.append(by_domain[ex.domain])
        else:
            out.append(near)
    return out


def item_metadata(ex: Example, cluster: int, *, round: int, source: str, labelled: bool) -> dict[str, Any]:
    """Chroma metadata of an example (unknown strings as "", which Chroma needs instead of None)."""
    return {
        "split": ex.split,
        "cluster": int(cluster),
        "label": ex.label or "",
        "output": ex.output or "",
        "domain": ex.domain or "",
        "labelled": labelled,
        "round": round,
        "source": source,
    }


def add_samples(
    examples: list[Example],
    *,
    round: int,
    source: str,
    embedder: Embedder,
    store: VectorStore,
    clustering: Clustering,
    data_dir: Path,
) -> list[int]:
    """Embed new (synthetic or newly labelled) examples, put each in its nearest cluster and store them.

    Items already in the store (e.g. a pool text the teacher just labelled) keep their split and
    source; only their label, output, labelled flag and round are updated. Returns the clusters.
    """
    if not examples:
        return []
    ids, texts = [ex.id for ex in examples], [ex.text for ex in examples]
    vectors = embedder.encode(texts, ids, cache=run_cache(embedder, data_dir))
    clusters = clusters_of(examples, vectors, clustering)
    metadatas = [
        item_metadata(ex, c, round=round, source=source, labelled=ex.target is not None)
        for ex, c in zip(examples, clusters, strict=True)
    ]
    present = store.has(ids)
    store.add(ids, texts, vectors, metadatas)
    updates = {
        ex.id: {key: meta[key] for key in ("label", "output", "labelled", "round")}
        for ex, meta in zip(examples, metadatas, strict=True)
        if ex.id in present and ex.target is not None
    }
    if updates:
        store.update(list(updates), list(updates.values()))
    return clusters
