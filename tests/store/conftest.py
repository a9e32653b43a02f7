"""Store test fixtures: embedder, config and an on-disk Chroma store in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillgraph.store.embed import HashEmbedder
from distillgraph.store.schema import StoreConfig
from distillgraph.store.vectors import VectorStore


@pytest.fixture
def embedder(tmp_path: Path) -> HashEmbedder:
    return HashEmbedder(dim=256, cache_dir=tmp_path / "data" / "embeddings")


@pytest.fixture
def store_cfg() -> StoreConfig:
    return StoreConfig(embedding_model="hash:256", n_clusters="auto", k_min=2, k_max=5, representatives=3)


@pytest.fixture
def store(tmp_path: Path, embedder: HashEmbedder, store_cfg: StoreConfig):
    vector_store = VectorStore.open(store_cfg, tmp_path / "run", embedder)
    yield vector_store
    vector_store.close()
