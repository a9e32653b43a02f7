"""Sentence embeddings with an on-disk cache keyed by example id.

Embedding the pool is the slowest part of indexing on a CPU (~37 texts/s for MiniLM in bf16), so
vectors are written to disk chunk by chunk: re-indexing embeds only new ids and an interrupted run
keeps every finished chunk. `HashEmbedder` has the same interface without a model, for fast tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from distillgraph.store import device as devices
from distillgraph.store.device import cpu_supports_bf16  # noqa: F401  (re-exported: its old home)
from distillgraph.store.embed_cache import EmbeddingCache  # noqa: F401  (re-exported: its old home)
from distillgraph.store.schema import StoreConfig, UserError

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
CHUNK_SIZE = 512  # texts per cache file: what an interruption can lose (~15 s of MiniLM bf16 on 2 cores)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation to float32; an all-zero row stays zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def resolve_dtype(dtype: str, device: torch.device | None = None) -> torch.dtype:
    """Map the config value to a torch dtype; `auto` picks bf16 only where `device` runs it natively
    (default device: the one `store.device: auto` resolves to)."""
    import torch

    if dtype == "bfloat16":
        return torch.bfloat16
    if dtype == "float32":
        return torch.float32
    if dtype != "auto":
        raise UserError(f"store.embedding_dtype: unknown value {dtype!r} (auto, bfloat16, float32)")
    device = device if device is not None else devices.resolve_device("auto")
    return torch.bfloat16 if devices.bf16_native(device) else torch.float32


class Embedder:
    """Sentence-transformers encoder; the model is loaded on first use so building it costs nothing.

    Subclasses only override `_encode_batch`, `dim` and `model_key`; caching, chunking, length sorting
    and the progress bar live here.
    """

    def __init__(
        self,
        model: str | None = None,
        dtype: str = "auto",
        batch_size: int = 64,
        max_seq_length: int = 256,
        cache_dir: Path | None = None,
        progress: bool = True,
        chunk_size: int = CHUNK_SIZE,
        device: str = "auto",
        processes: int = 1,
    ):
        self.model_name = model
        self.dtype = dtype
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.progress = progress
        self.chunk_size = chunk_size
        self.device_setting = device
        self.processes = processes  # > 1 or 0 (auto): sentence-transformers' multi-process pool
        self._dtype_name: str | None = None
        self.cache = EmbeddingCache(cache_dir, self.model_key) if cache_dir is not None else None
        self._model: SentenceTransformer | None = None
        self._pool: dict | None = None

    @property
    def model_key(self) -> str:
        """What the vectors depend on, dtype included: bf16 and fp32 vectors agree only to about 2e-3, and in
        bf16 a text's vector also moves by that much with the other texts of its batch, so a cache never mixes
        the two (`auto` resolves differently on different machines)."""
        return f"{self.model_name or DEFAULT_MODEL_NAME}|max_seq_length={self.max_seq_length}|dtype={self.dtype_name}"

    @property
    def dtype_name(self) -> str:
        """The dtype `store.embedding_dtype` resolves to on this machine: 'float32' or 'bfloat16'."""
        if self._dtype_name is None:
            device = devices.resolve_device(self.device_setting, "store.device")
            self._dtype_name = str(resolve_dtype(self.dtype, device)).removeprefix("torch.")
        return self._dtype_name

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def _load_model(self) -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        from distillgraph.store.assets import minilm_path

        source = self.model_name or str(minilm_path())
        device = devices.resolve_device(self.device_setting, "store.device")
        torch_dtype = resolve_dtype(self.dtype, device)
        try:
            model = SentenceTransformer(source, device=str(device), model_kwargs={"dtype": torch_dtype,
                                                                              **devices.no_hub_kernels()})
        except Exception as exc:  # bad path, offline hub id, corrupt files: all for the user to fix
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"store.embedding_model: cannot load {source!r}: {first_line}") from exc
        model.max_seq_length = self.max_seq_length
        if device.type == "cuda":  # inference batches as large as the GPU's free memory allows
            config = getattr(getattr(model[0], "auto_model", None), "config", None)
            item = devices.bytes_per_item(config, self.max_seq_length, training=False,
                                          bf16=str(torch_dtype) == "torch.bfloat16")
            self.batch_size = devices.fit_batch(self.batch_size, device, item, inference=True)
            self.chunk_size = max(self.chunk_size, self.batch_size)
        log.info("embedding model %s loaded (%s, %s, batch %d)", source, torch_dtype, model.device, self.batch_size)
        return model

    def _multi_process(self, n_texts: int) -> bool:
        return self.processes != 1 and n_texts >= 4 * self.batch_size

    def _start_pool(self) -> dict:
        """sentence-transformers' pool: one worker per GPU when CUDA is present, else `processes` CPU workers."""
        if self._pool is None:
            import torch

            if torch.cuda.is_available() and self.device_setting != "cpu":
                n = torch.cuda.device_count() if self.processes == 0 else self.processes
                targets = [f"cuda:{i % torch.cuda.device_count()}" for i in range(n)]
            else:
                targets = ["cpu"] * (self.processes or max(1, os.cpu_count() or 1))
            self._pool = self.model.start_multi_process_pool(target_devices=targets)
        return self._pool

    def close(self) -> None:
        """Stop the multi-process pool, if one was started."""
        if self._pool is not None:
            self.model.stop_multi_process_pool(self._pool)
            self._pool = None

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise UserError(f"{self.model_key}: the embedding model does not report its dimension")
        return int(dim)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode(
        self, texts: list[str], ids: list[str] | None = None, *, cache: EmbeddingCache | None = None
    ) -> np.ndarray:
        """Float32 (n, dim) L2-normalised vectors; with ids and a cache, only uncached ids are embedded.

        `cache` overrides the embedder's own cache (the index step keeps one per run directory).
        """
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"encode: {len(texts)} texts but {len(ids)} ids")
        cache = cache if cache is not None else self.cache
        if ids is None or cache is None:
            return self._embed(texts)
        text_of = dict(zip(ids, texts, strict=True))
        todo = cache.missing(ids)
        if todo:
            self._embed([text_of[id_] for id_ in todo], ids=todo, on_chunk=cache.put)
        return cache.vectors(ids)

    def encode_to_file(self, texts: list[str], ids: list[str], cache: EmbeddingCache, path: Path) -> np.ndarray:
        """Like `encode` with a cache, but the result is a read-only memory-mapped array in `path`: missing
        ids are embedded chunk by chunk straight into the cache, then copied into the file part by part,
        so memory stays bounded by a chunk however large the pool is."""
        if len(ids) != len(texts):
            raise ValueError(f"encode_to_file: {len(texts)} texts but {len(ids)} ids")
        text_of = dict(zip(ids, texts, strict=True))
        todo = cache.missing(ids)
        if todo:
            self._embed([text_of[id_] for id_ in todo], ids=todo, on_chunk=cache.put)
        del text_of
        return cache.vectors_file(ids, path)

    def _embed(
        self,
        texts: list[str],
        ids: list[str] | None = None,
        on_chunk: Callable[[list[str], np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Embed longest texts first (less padding per batch), chunk by chunk, and return input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        streaming = on_chunk is not None and ids is not None  # chunks go to the cache: nothing is kept here
        out: np.ndarray | None = None
        pool = self._start_pool() if self._multi_process(len(texts)) else None
        chunk_size = self.chunk_size * (len(pool["processes"]) if pool else 1)
        with self._progress_bar(len(texts)) as advance:
            for start in range(0, len(order), chunk_size):
                chunk = order[start : start + chunk_size]
                vectors = self._embed_chunk([texts[i] for i in chunk], advance, pool)
                if streaming:
                    assert on_chunk is not None and ids is not None
                    on_chunk([ids[i] for i in chunk], vectors)
                    continue
                if out is None:
                    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
                out[chunk] = vectors
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _embed_chunk(self, texts: list[str], advance: Callable[[int], None], pool: dict | None = None) -> np.ndarray:
        if pool is not None:
            vectors = self.model.encode(texts, pool=pool, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            advance(len(texts))
            return normalise(vectors)
        parts = []
        size = self.batch_size  # read once: the first batch loads the model, which on a GPU grows batch_size
        for start in range(0, len(texts), size):
            batch = texts[start : start + size]
            parts.append(normalise(self._encode_batch(batch)))
            advance(len(batch))
        return np.concatenate(parts)

    def _progress_bar(self, total: int) -> _Bar:
        return _Bar(total, enabled=self.progress and total > self.batch_size)


class _Bar:
    """A rich progress bar as a context manager yielding `advance(n)`; a no-op when disabled."""

    def __init__(self, total: int, enabled: bool, label: str = "embedding"):
        self.total = total
        self.enabled = enabled
        self.label = label

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        self._progress = Progress(
            TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
        )
        self._progress.start()
        task = self._progress.add_task(self.label, total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()


_TOKEN = re.compile(r"\w+")


class HashEmbedder(Embedder):
    """Deterministic bag-of-words hashing embedder: texts sharing words get similar vectors.

    No model, no download, microseconds per text; same interface and cache as `Embedder`, so any
    test of the project can stand it in for MiniLM.
    """

    def __init__(
        self,
        dim: int = 64,
        cache_dir: Path | None = None,
        progress: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ):
        self._dim = dim
        super().__init__(
            model=f"hash:{dim}", batch_size=256, cache_dir=cache_dir, progress=progress, chunk_size=chunk_size
        )

    @property
    def model_key(self) -> str:
        return f"hash:{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._encode_one(text) for text in texts])

    def _encode_one(self, text: str) -> np.ndarray:
        vector = np.zeros(self._dim, dtype=np.float32)
        for bucket, sign in _hashed_tokens(text, self._dim):
            vector[bucket] += sign
        if not vector.any():
            vector[0] = 1.0  # empty text: a fixed direction rather than a zero vector (cosine undefined)
        return vector


def _hashed_tokens(text: str, dim: int) -> Iterator[tuple[int, float]]:
    """(bucket, ±1) per lower-cased word, from a stable hash (Python's hash() is salted per process)."""
    for token in _TOKEN.findall(text.lower()):
        digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
        yield digest % dim, 1.0 if (digest >> 63) & 1 else -1.0


def build_embedder(cfg: StoreConfig, cache_dir: Path | None) -> Embedder:
    """The embedder a run uses: `hash` / `hash:<dim>` selects HashEmbedder, anything else sentence-transformers."""
    name = cfg.embedding_model
    if name is not None and (name == "hash" or name.startswith("hash:")):
        dim = name.partition(":")[2] or "64"
        if not dim.isdigit() or int(dim) < 2:
            raise UserError(f"store.embedding_model: {name!r} needs a dimension >= 2, e.g. 'hash:64'")
        return HashEmbedder(dim=int(dim), cache_dir=cache_dir)
    return Embedder(
        model=name,
        dtype=cfg.embedding_dtype,
        batch_size=cfg.batch_size,
        max_seq_length=cfg.max_seq_length,
        cache_dir=cache_dir,
        device=cfg.device,
        processes=cfg.encode_processes,
    )
