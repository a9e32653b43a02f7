"""Embedder behaviour with the model-free HashEmbedder: vectors, cache, resume, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distillgraph.store.embed import (
    Embedder,
    EmbeddingCache,
    HashEmbedder,
    build_embedder,
    normalise,
    resolve_dtype,
)
from distillgraph.store.schema import StoreConfig, UserError


class CountingEmbedder(HashEmbedder):
    """Counts texts sent to the encoder; optionally fails after `fail_after` batches (a simulated crash)."""

    def __init__(self, *args, fail_after: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoded: list[str] = []
        self.fail_after = fail_after

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.encoded) >= self.fail_after * self.batch_size:
            raise KeyboardInterrupt
        self.encoded.extend(texts)
        return super()._encode_batch(texts)


def test_hash_vectors_are_normalised_deterministic_and_topical():
    emb = HashEmbedder(dim=128)
    texts = ["the striker scored a goal", "a late goal by the striker", "bake the bread in the oven", ""]
    vectors = emb.encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 128)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.array_equal(vectors, HashEmbedder(dim=128).encode(texts))
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_encode_keeps_input_order_across_chunks():
    texts = [f"word{i} " * (i % 7 + 1) for i in range(23)]
    chunked = HashEmbedder(dim=32, chunk_size=4).encode(texts)
    singles = np.concatenate([HashEmbedder(dim=32).encode([t]) for t in texts])
    assert np.allclose(chunked, singles)


def test_normalise_leaves_zero_rows_finite():
    out = normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_cache_embeds_only_new_ids(tmp_path: Path):
    emb = CountingEmbedder(dim=32, cache_dir=tmp_path)
    first = emb.encode(["a b", "c d"], ids=["1", "2"])
    again = CountingEmbedder(dim=32, cache_dir=tmp_path)
    both = again.encode(["a b", "c d", "e f", "e f"], ids=["1", "2", "3", "3"])
    assert again.encoded == ["e f"]
    assert np.allclose(both[:2], first) and np.allclose(both[2], both[3])


def test_interrupted_encoding_resumes_from_finished_chunks(tmp_path: Path):
    texts = [f"text number {i} " + "x " * i for i in range(20)]
    ids = [str(i) for i in range(20)]
    crashing = CountingEmbedder(dim=32, cache_dir=tmp_path, chunk_size=4, fail_after=2)
    crashing.batch_size = 2
    with pytest.raises(KeyboardInterrupt):
        crashing.encode(texts, ids)
    assert len(EmbeddingCache(tmp_path)) == 4  # two batches of 2 = one finished chunk survives

    resumed = CountingEmbedder(dim=32, cache_dir=tmp_path, chunk_size=4)
    vectors = resumed.encode(texts, ids)
    assert len(resumed.encoded) == 16
    assert np.allclose(vectors, HashEmbedder(dim=32).encode(texts))
    assert not list(tmp_path.glob("*.tmp"))


def test_cache_refuses_vectors_of_another_model(tmp_path: Path):
    HashEmbedder(dim=32, cache_dir=tmp_path).encode(["a"], ids=["1"])
    with pytest.raises(UserError, match="hash:32"):
        HashEmbedder(dim=16, cache_dir=tmp_path)


def test_cache_key_names_the_dtype_and_refuses_vectors_of_the_other(tmp_path: Path):
    """bf16 and fp32 vectors of one model differ (bf16 ones also with their batch): one cache never mixes them."""
    fp32 = Embedder(dtype="float32", cache_dir=tmp_path / "a")
    assert fp32.model_key.endswith("|max_seq_length=256|dtype=float32")
    assert Embedder(dtype="bfloat16").model_key.endswith("|dtype=bfloat16")
    fp32.cache.put(["x"], np.ones((1, 4), dtype=np.float32))  # type: ignore[union-attr]
    with pytest.raises(UserError, match="computed in float32.*set store.embedding_dtype=float32"):
        Embedder(dtype="bfloat16", cache_dir=tmp_path / "a")
    assert Embedder(dtype="float32", cache_dir=tmp_path / "a").cache.vectors(["x"]).shape == (1, 4)  # type: ignore[union-attr]


def test_cache_of_an_earlier_version_without_dtype_is_reused(tmp_path: Path):
    legacy = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2|max_seq_length=256")
    legacy.put(["x"], np.ones((1, 4), dtype=np.float32))
    reopened = Embedder(dtype="float32", cache_dir=tmp_path).cache
    assert reopened is not None and reopened.missing(["x", "y"]) == ["y"]
    with pytest.raises(UserError, match="max_seq_length=128"):
        Embedder(dtype="float32", max_seq_length=128, cache_dir=tmp_path)


def test_embedding_cache_reads_vectors_by_id(tmp_path: Path):
    emb = HashEmbedder(dim=32, cache_dir=tmp_path / "embeddings")
    vectors = emb.encode(["a b", "c d"], ids=["x", "y"])
    cache = EmbeddingCache(tmp_path / "embeddings")
    assert np.array_equal(cache.vectors(["y", "x"]), vectors[::-1])
    with pytest.raises(UserError, match="no embedding for 1 ids"):
        cache.vectors(["x", "zzz"])


def test_build_embedder_from_config(tmp_path: Path):
    hashed = build_embedder(StoreConfig(embedding_model="hash:48"), tmp_path)
    assert isinstance(hashed, HashEmbedder) and hashed.dim == 48
    real = build_embedder(StoreConfig(embedding_dtype="float32", batch_size=8), None)
    assert type(real) is Embedder and real._model is None  # lazy: nothing loaded yet
    assert real.batch_size == 8 and real.dtype == "float32"
    with pytest.raises(UserError, match="hash:64"):
        build_embedder(StoreConfig(embedding_model="hash:x"), None)


def test_missing_model_is_a_user_error(tmp_path: Path):
    emb = Embedder(model=str(tmp_path / "no-such-model"), dtype="float32")
    with pytest.raises(UserError, match="store.embedding_model"):
        emb.encode(["hello"])


def test_resolve_dtype():
    assert resolve_dtype("float32") is torch.float32
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("auto") in (torch.float32, torch.bfloat16)


def test_two_writers_sharing_a_cache_keep_each_others_parts(tmp_path: Path):
    """Two processes sharing one cache folder (the benchmarks' workers) each loaded it before the other wrote:
    their parts must not overwrite each other (numbered parts did: both wrote part-000000)."""
    first, second = EmbeddingCache(tmp_path, "m"), EmbeddingCache(tmp_path, "m")
    assert len(first) == len(second) == 0
    a, b = np.eye(4, dtype=np.float32)[:2], np.eye(4, dtype=np.float32)[2:]
    first.put(["a1", "a2"], a)
    second.put(["b1", "b2"], b)
    reopened = EmbeddingCache(tmp_path, "m")
    assert np.array_equal(reopened.vectors(["a1", "a2", "b1", "b2"]), np.eye(4, dtype=np.float32))


def test_the_index_vectors_file_is_the_runs_own_not_the_shared_caches(tmp_path: Path):
    from distillgraph.store.index import INDEX_VECTORS, build_index
    from distillgraph.store.schema import Example
    from distillgraph.store.vectors import VectorStore

    shared = tmp_path / "shared-embeddings"
    emb = HashEmbedder(dim=32)
    for run in ("r1", "r2"):
        data_dir = tmp_path / run / "data"
        data_dir.mkdir(parents=True)
        shared.mkdir(exist_ok=True)
        (data_dir / "embeddings").symlink_to(shared, target_is_directory=True)  # as bench/harness.py links it
        exs = [Example(id=f"{run}-{i}", text=f"{run} text {i} " + "word " * i, split="pool") for i in range(12)]
        store = VectorStore.open(StoreConfig(n_clusters=2), tmp_path / run, emb)
        build_index(exs, emb, store, StoreConfig(n_clusters=2), data_dir)
        store.close()
        assert (data_dir / INDEX_VECTORS).exists()
    assert not list(shared.glob("index-vectors*"))  # nothing run-specific in the shared folder


def test_cache_refuses_ids_and_vectors_of_different_lengths(tmp_path: Path):
    cache = EmbeddingCache(tmp_path, "hash:8")
    with pytest.raises(ValueError, match="3 ids but 2 vectors"):
        cache.put(["a", "b", "c"], np.zeros((2, 8), dtype=np.float32))
    assert cache.missing(["a", "b", "c"]) == ["a", "b", "c"]
