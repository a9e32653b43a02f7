"""The index step end to end with HashEmbedder: clusters, metadata, idempotence, resume, new samples."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import distillgraph.store.index as index_mod
from distillgraph.store.cluster import Clustering
from distillgraph.store.embed import EmbeddingCache, HashEmbedder
from distillgraph.store.index import EMBEDDINGS_DIR, add_samples, build_index
from distillgraph.store.schema import Example, StoreConfig, UserError
from distillgraph.store.vectors import VectorStore
from tests.store.store_corpus import make_examples, topic_text


def cached_vectors(ids: list[str], data_dir: Path) -> np.ndarray:
    """The vectors the index step left in the run's embedding cache."""
    return EmbeddingCache(Path(data_dir) / EMBEDDINGS_DIR).vectors(ids)


SPLITS = {"pool": 20, "seed": 2, "dev": 4, "test": 4}


def topic_clusters(result, examples: list[Example]) -> dict[str, int]:
    """The cluster of each topic, asserting every topic maps to exactly one cluster."""
    pairs = Counter((ex.domain, result.assignments[ex.id]) for ex in examples)
    mapping = {topic: c for topic, c in pairs}
    assert len(mapping) == len(pairs) == len(set(mapping.values()))
    return mapping


def test_build_index_clusters_and_stores_everything(tmp_path: Path, embedder, store: VectorStore, store_cfg):
    examples = make_examples(SPLITS)
    result = build_index(examples, embedder, store, store_cfg, tmp_path / "data")
    assert result.n_total == result.n_embedded == store.count() == len(examples) == 90
    assert result.clustering.k == 3 and set(result.seconds) == {"embed", "cluster", "add", "total"}
    topic_clusters(result, examples)
    assert sum(result.clustering.sizes.values()) == 66  # pool + seed only
    assert all(len(reps) == 3 for reps in result.clustering.representatives.values())
    assert Clustering.load(tmp_path / "data" / "clusters.json").assignments == result.clustering.assignments

    assert store.count(labelled=True) == 30 and store.count(split="pool", labelled=False) == 60
    dev = next(ex for ex in examples if ex.split == "dev")
    meta = store.get([dev.id])[0].metadata
    assert meta == {
        "split": "dev",
        "cluster": result.assignments[dev.id],
        "label": dev.label,
        "output": "",
        "domain": dev.domain,
        "labelled": True,
        "round": 0,
        "source": "dev",
    }
    assert store.get([examples[0].id])[0].metadata["label"] == ""
    assert cached_vectors([dev.id], tmp_path / "data").shape == (1, 256)


def test_second_index_changes_nothing(tmp_path: Path, embedder, store, store_cfg, monkeypatch):
    examples = make_examples(SPLITS)
    first = build_index(examples, embedder, store, store_cfg, tmp_path / "data")

    def no_recluster(*args, **kwargs):
        raise AssertionError("clusters.json exists: must not re-cluster")

    monkeypatch.setattr(index_mod, "cluster_vectors", no_recluster)
    second = build_index(examples, embedder, store, store_cfg, tmp_path / "data")
    assert second.n_embedded == 0 and store.count() == 90
    assert second.assignments == first.assignments


def test_interrupted_chroma_add_resumes(tmp_path: Path, embedder, store, store_cfg, monkeypatch):
    examples = make_examples(SPLITS)
    real_add = store.collection.add
    calls = []

    def crash_on_second_batch(**kwargs):
        calls.append(len(kwargs["ids"]))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_add(**kwargs)

    monkeypatch.setattr(store, "max_batch", 25)
    monkeypatch.setattr(store.collection, "add", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        build_index(examples, embedder, store, store_cfg, tmp_path / "data")
    assert store.count() == 25

    monkeypatch.setattr(store.collection, "add", real_add)
    result = build_index(examples, embedder, store, store_cfg, tmp_path / "data")
    assert result.n_embedded == 0 and store.count() == 90


def test_domains_as_clusters(tmp_path: Path, embedder, store, store_cfg):
    examples = make_examples(SPLITS)
    cfg = store_cfg.model_copy(update={"use_domains": True})
    result = build_index(examples, embedder, store, cfg, tmp_path / "data")
    assert result.clustering.method == "domains"
    assert all(result.clustering.names[result.assignments[ex.id]] == ex.domain for ex in examples)


def test_add_samples_assigns_nearest_cluster_and_updates_labelled_pool(
    tmp_path: Path, embedder, store, store_cfg
):
    examples = make_examples(SPLITS)
    data_dir = tmp_path / "data"
    result = build_index(examples, embedder, store, store_cfg, data_dir)
    clusters = topic_clusters(result, examples)
    rng = random.Random(7)
    synthetic = [
        Example(id=f"syn-{topic}", text=topic_text(topic, rng), split="synthetic", label=topic)
        for topic in ("food", "tech")
    ]
    pool_item = next(ex for ex in examples if ex.split == "pool").model_copy(update={"label": "sport"})

    got = add_samples(
        [*synthetic, pool_item],
        round=2,
        source="generator",
        embedder=embedder,
        store=store,
        clustering=result.clustering,
        data_dir=data_dir,
    )
    assert got == [clusters["food"], clusters["tech"], result.assignments[pool_item.id]]
    assert (
        store.count() == 92
        and store.count(split="synthetic", round=2, source="generator", labelled=True) == 2
    )
    updated = store.get([pool_item.id])[0].metadata
    assert updated["split"] == "pool" and updated["source"] == "pool"
    assert updated["labelled"] is True and updated["label"] == "sport" and updated["round"] == 2
    assert np.allclose(cached_vectors(["syn-food"], data_dir), embedder.encode([synthetic[0].text]))
    assert (
        add_samples(
            [],
            round=3,
            source="x",
            embedder=embedder,
            store=store,
            clustering=result.clustering,
            data_dir=data_dir,
        )
        == []
    )


def test_empty_inputs_are_user_errors(tmp_path: Path, embedder, store, store_cfg):
    with pytest.raises(UserError):
        build_index([], embedder, store, store_cfg, tmp_path)
    dev_only = make_examples({"dev": 2})
    with pytest.raises(UserError, match="no pool or seed"):
        build_index(dev_only, embedder, store, store_cfg, tmp_path)


def test_index_uses_run_cache_even_without_embedder_cache(tmp_path: Path, store):
    examples = make_examples({"pool": 5})
    build_index(examples, HashEmbedder(dim=256), store, StoreConfig(n_clusters=2), tmp_path)
    assert cached_vectors([examples[0].id], tmp_path).shape == (1, 256)


def test_repeated_ids_are_indexed_once(tmp_path: Path, embedder, store, store_cfg):
    examples = make_examples({"pool": 5})
    result = build_index([*examples, examples[0]], embedder, store, store_cfg, tmp_path)
    assert result.n_total == store.count() == 15 and sum(result.clustering.sizes.values()) == 15
