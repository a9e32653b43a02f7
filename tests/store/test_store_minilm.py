"""One integration test with the real packaged all-MiniLM-L6-v2 (loads in a few seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distillgraph.store.embed import Embedder
from distillgraph.store.index import build_index
from distillgraph.store.schema import Example, StoreConfig
from distillgraph.store.vectors import VectorStore

TEXTS = [
    "The striker scored twice as the home side won the cup final.",
    "The goalkeeper saved a late penalty to keep the league title race alive.",
    "The central bank raised interest rates to curb inflation.",
    "Shares fell sharply after the company reported weaker quarterly profits.",
    "The new smartphone has a faster chip and a better camera.",
    "Engineers released an update to fix a security flaw in the browser.",
]


@pytest.mark.integration
def test_minilm_embeds_caches_and_retrieves(tmp_path: Path):
    data_dir = tmp_path / "data"
    embedder = Embedder(cache_dir=data_dir / "embeddings", batch_size=4, progress=False)
    examples = [Example(id=f"e{i}", text=t) for i, t in enumerate(TEXTS)]
    cfg = StoreConfig(n_clusters=3)
    store = VectorStore.open(cfg, tmp_path / "run", embedder)
    result = build_index(examples, embedder, store, cfg, data_dir)

    vectors = embedder.encode(TEXTS, [ex.id for ex in examples])
    assert vectors.dtype == np.float32 and vectors.shape == (6, 384) and embedder.dim == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert result.n_embedded == 6
    assert result.assignments["e0"] == result.assignments["e1"]  # the two football texts

    hits = store.neighbours("A football match ended with a dramatic goal.", k=2)
    assert {h.id for h in hits} == {"e0", "e1"}
    fp32 = Embedder(dtype="float32", progress=False).encode(TEXTS[:2])
    assert np.min(np.sum(fp32 * vectors[:2], axis=1)) > 0.99
    store.close()
