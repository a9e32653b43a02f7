"""bench/system: the model work the breakdown times must include the index step's embedding."""

from __future__ import annotations

from pathlib import Path

from bench import system
from distillgraph.store import embed as embed_mod
from distillgraph.store.embed import EmbeddingCache
from distillgraph.store.schema import StoreConfig


def test_embedding_is_timed_through_encode_and_the_index_steps_encode_to_file(tmp_path: Path) -> None:
    clock = system.Clock()
    with system.instrumented(clock):
        embedder = embed_mod.build_embedder(StoreConfig(embedding_model="hash:16"), None)
        cache = EmbeddingCache(tmp_path / "emb", embedder.model_key)
        embedder.encode_to_file(["a b", "c d"], ["1", "2"], cache, tmp_path / "v.npy")  # the index step's path
    assert clock.calls["embedding (incl. model load)"] == 1
    with system.instrumented(clock):
        embedder = embed_mod.build_embedder(StoreConfig(embedding_model="hash:16"), None)
        embedder.encode(["e f"])
    assert clock.calls["embedding (incl. model load)"] == 2  # once per call: encode is not counted twice
