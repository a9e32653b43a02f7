"""Devices (torch.cuda mocked), batched pool readers, the memory-mapped embedding cache, Chroma batches."""

from __future__ import annotations

import json
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from distillgraph.store import device as devices
from distillgraph.store.datasets import iter_records, load_data, read_records
from distillgraph.store.embed import EmbeddingCache, HashEmbedder, build_embedder, resolve_dtype
from distillgraph.store.schema import DataConfig, StoreConfig, TaskConfig, UserError
from distillgraph.store.vectors import VectorStore

GiB = 1 << 30


@pytest.fixture
def gpu(monkeypatch):
    """A pretend CUDA GPU: available, bf16-capable, `free` bytes free (set gpu.free / gpu.bf16 in a test)."""
    state = SimpleNamespace(free=40 * GiB, bf16=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: state.bf16)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a, **k: (state.free, 80 * GiB))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Pretend GPU")
    return state


def test_device_resolution_and_bf16_with_a_gpu(gpu):
    assert devices.resolve_device("auto") == torch.device("cuda")
    assert devices.resolve_device("cuda:1") == torch.device("cuda:1")
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.use_bf16("auto", torch.device("cuda")) is True
    gpu.bf16 = False
    assert devices.use_bf16("auto", torch.device("cuda")) is False
    assert devices.use_bf16("on", torch.device("cuda")) is True
    assert resolve_dtype("auto", torch.device("cuda")) is torch.float32
    gpu.bf16 = True
    assert resolve_dtype("auto", torch.device("cuda")) is torch.bfloat16
    assert devices.describe(torch.device("cuda"), True) == "cuda (Pretend GPU, bf16)"


def test_device_resolution_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(UserError, match=r"store.device: 'cuda' asked for, but no CUDA GPU is visible"):
        devices.resolve_device("cuda", "store.device")
    # on the CPU, batch sizes are left exactly as configured
    assert devices.fit_batch(16, torch.device("cpu"), 10**12, inference=False) == 16
    assert devices.fit_batch(64, torch.device("cpu"), 1, inference=True) == 64


def test_batch_sizes_fit_the_gpu(gpu):
    cuda = torch.device("cuda")
    cfg = SimpleNamespace(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, vocab_size=49152)
    train = devices.bytes_per_item(cfg, 512, training=True, bf16=True)
    infer = devices.bytes_per_item(cfg, 512, training=False, bf16=True)
    assert train > infer > 0
    # plenty of memory: training batch unchanged, inference batches grown (capped)
    assert devices.fit_batch(8, cuda, train, inference=False) == 8
    assert devices.fit_batch(16, cuda, infer, inference=True) == 16 * devices.INFERENCE_GROWTH
    # little memory: both shrink to what fits, never below 1
    gpu.free = 3 * train
    fits = devices.fit_batch(8, cuda, train, inference=False)
    assert fits == int(3 * train * devices.MEMORY_FRACTION) // train == 1
    gpu.free = 0
    assert devices.fit_batch(8, cuda, train, inference=True) == 1
    # a smaller micro-batch keeps the effective batch through accumulation
    assert devices.micro_batches(16, 1, 16) == (16, 1)
    assert devices.micro_batches(16, 2, 5) == (4, 8)
    assert devices.micro_batches(16, 1, 1) == (1, 16)


def test_embedder_and_student_follow_their_device_settings(gpu, monkeypatch):
    emb = build_embedder(StoreConfig(device="cpu", encode_processes=4), None)
    assert emb.device_setting == "cpu" and emb.processes == 4
    assert emb._multi_process(4 * emb.batch_size) and not emb._multi_process(10)
    with pytest.raises(ValidationError, match="device"):
        StoreConfig(device="gpu")
    from distillgraph.trainer.config import StudentConfig
    from distillgraph.trainer.loop import resolve_device

    assert resolve_device(StudentConfig()) == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="student.device"):
        resolve_device(StudentConfig(device="cuda"))


def test_models_load_without_hub_kernels():
    """transformers 5 kernelizes models from the Hub by default when `kernels` is installed; on an H200 that was
    a download at train time and, offline, a crash. Every model the project loads turns it off."""
    pytest.importorskip("kernels")
    from distillgraph.store.embed import Embedder
    from distillgraph.trainer.config import StudentConfig
    from distillgraph.trainer.student import load_pretrained

    assert devices.no_hub_kernels() == {"use_kernels": False}
    model, _ = load_pretrained(StudentConfig(kind="classifier", device="cpu"), TaskConfig(labels={"a": "", "b": ""}))
    assert model.use_kernels is False
    encoder = Embedder(device="cpu", progress=False).model[0].auto_model
    assert encoder.use_kernels is False


# ---------------------------------------------------------------- pool files in batches


def _rows(n):
    return [{"text": f"text number {i} é", "label": "a" if i % 2 else "b"} for i in range(n)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_pool_files_are_read_in_batches(tmp_path, fmt):
    rows = _rows(25)
    path = tmp_path / f"pool.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    batches = list(iter_records(path, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [r["text"] for b in batches for r in b] == [r["text"] for r in rows]
    assert read_records(path) == batches[0] + batches[1] + batches[2]
    task = TaskConfig(labels={"a": "", "b": ""})
    data = load_data(DataConfig(pool=str(path)), task)
    assert len(data["pool"]) == 25


def test_streamed_jsonl_keeps_the_checks(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n[1, 2]\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: each line must be a JSON object"):
        read_records(bad)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "caf\xe9"}\n')
    assert read_records(latin) == [{"text": "café"}]
    utf16 = tmp_path / "u16.jsonl"
    utf16.write_bytes('{"text": "x"}\n'.encode("utf-16"))
    with pytest.raises(UserError, match="UTF-16"):
        read_records(utf16)


# ---------------------------------------------------------------- the embedding cache


def test_cache_parts_are_memory_mapped_and_old_parts_still_read(tmp_path):
    cache = EmbeddingCache(tmp_path / "emb", "m")
    cache.put(["a", "b"], np.eye(2, 3, dtype=np.float32))
    # a part written by an earlier version (npz) is read too
    np.savez(tmp_path / "emb" / "part-000001.npz", ids=np.array(["c"]), vectors=np.ones((1, 3), np.float32))
    reopened = EmbeddingCache(tmp_path / "emb", "m")
    assert isinstance(reopened._load() and reopened._parts[0], np.memmap)
    np.testing.assert_array_equal(reopened.vectors(["c", "a"]), [[1, 1, 1], [1, 0, 0]])
    out = reopened.vectors_file(["b", "c"], tmp_path / "out.npy")
    assert isinstance(out, np.memmap) and not out.flags.writeable
    np.testing.assert_array_equal(out, [[0, 1, 0], [1, 1, 1]])


def test_index_vectors_memory_is_bounded_by_the_chunk(tmp_path):
    n, dim = 20_000, 256
    texts = [f"word{i % 97} word{i % 89} item {i}" for i in range(n)]
    ids = [f"id{i}" for i in range(n)]
    emb = HashEmbedder(dim=dim, chunk_size=512)
    cache = EmbeddingCache(tmp_path / "emb", emb.model_key)
    tracemalloc.start()
    vectors = emb.encode_to_file(texts, ids, cache, tmp_path / "emb" / "index.npy")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = n * dim * 4
    assert isinstance(vectors, np.memmap) and vectors.shape == (n, dim)
    assert peak < full / 2, f"peak {peak / 1e6:.1f} MB for a {full / 1e6:.1f} MB result"
    np.testing.assert_allclose(vectors[[5, 19_999]], emb.encode([texts[5], texts[19_999]]), atol=1e-6)


def test_chroma_is_filled_in_batches_of_at_most_its_max(tmp_path, monkeypatch):
    emb = HashEmbedder(dim=16)
    store = VectorStore.open(StoreConfig(embedding_model="hash:16"), tmp_path, emb)
    sizes = []
    real_add = store.collection.add

    def spy(**kw):
        sizes.append(len(kw["ids"]))
        return real_add(**kw)

    monkeypatch.setattr(store.collection, "add", spy)
    store.max_batch = 40
    ids = [f"x{i}" for i in range(100)]
    vectors = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32, shape=(100, 16))
    vectors[:] = emb.encode(ids)
    assert store.add(ids, ids, vectors, [{"split": "pool"}] * 100) == 100
    assert sizes == [40, 40, 20] and store.count() == 100
    store.close()


def test_batch_size_growing_at_model_load_keeps_one_vector_per_text():
    """On a GPU the model's first load grows `batch_size` (fit_batch); it happens inside the first batch of a
    call. Seen on an H200: 256 texts came back as 448 vectors, because the later batches overlapped."""
    from distillgraph.store.embed import HashEmbedder

    class GrowsOnLoad(HashEmbedder):
        def _encode_batch(self, texts):
            self.batch_size = 64  # what loading the model does on a GPU
            return super()._encode_batch(texts)

    texts = [f"text {i} " + "word " * (i % 7) for i in range(40)]
    grown = GrowsOnLoad(dim=16)
    grown.batch_size = 4
    vectors = grown.encode(texts)
    assert vectors.shape == (40, 16)
    np.testing.assert_allclose(vectors, HashEmbedder(dim=16).encode(texts), atol=1e-6)
