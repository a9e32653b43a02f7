"""The on-disk embedding cache: id -> vector, written chunk by chunk, read memory-mapped."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import numpy as np

from distillgraph.store.schema import UserError

log = logging.getLogger(__name__)


class EmbeddingCache:
    """Append-only id -> vector store: `meta.json` plus one part per written chunk.

    A part is `part-NNNNNN-<pid>-<token>.npy` (float32 vectors, opened memory-mapped, so a cache of millions of
    vectors costs page cache rather than process memory) and the same name ending `.ids.npy`; parts written by
    earlier versions as `part-NNNNNN.npz` are still read. Each file is written to a temporary name and
    renamed (ids last), so a crash never leaves a half-written part. `model_key` guards against mixing
    vectors of two models, or of one model in two dtypes, in one cache.
    """

    def __init__(self, directory: Path, model_key: str | None = None):
        self.directory = Path(directory)
        self.model_key = model_key
        self._rows: dict[str, tuple[int, int]] | None = None
        self._parts: list[np.ndarray] = []
        self._check_model()

    def _check_model(self) -> None:
        meta = self.directory / "meta.json"
        if self.model_key is None or not meta.exists():
            return
        cached = json.loads(meta.read_text()).get("model")
        model, _, dtype = self.model_key.partition("|dtype=")
        cached_model, _, cached_dtype = str(cached).partition("|dtype=")
        if cached_model == model and dtype and not cached_dtype:  # an earlier version's key named no dtype
            log.warning("%s: embeddings of an earlier version, dtype not recorded; reused as %s",
                        self.directory, self.model_key)
            return
        if cached_model == model and dtype and cached_dtype != dtype:
            raise UserError(
                f"{self.directory}: embeddings were computed in {cached_dtype}, this run's store.embedding_dtype "
                f"resolves to {dtype}; set store.embedding_dtype={cached_dtype} to reuse them, or use a new run directory"
            )
        if cached != self.model_key:
            raise UserError(
                f"{self.directory}: embeddings were computed with {cached!r}, this run uses "
                f"{self.model_key!r}; use a new run directory or delete that folder"
            )

    def _load(self) -> dict[str, tuple[int, int]]:
        if self._rows is None:
            self._rows = {}
            for path in sorted(self.directory.glob("part-*")):
                if path.name.endswith(".npz"):
                    with np.load(path, allow_pickle=False) as data:
                        self._add_part(data["ids"].tolist(), data["vectors"])
                elif path.name.endswith(".ids.npy"):
                    vectors = np.load(path.with_name(path.name.replace(".ids.npy", ".npy")), mmap_mode="r")
                    self._add_part(np.load(path, allow_pickle=False).tolist(), vectors)
        return self._rows

    def _add_part(self, ids: list[str], vectors: np.ndarray) -> None:
        assert self._rows is not None
        part = len(self._parts)
        self._parts.append(vectors if isinstance(vectors, np.memmap) else np.asarray(vectors, dtype=np.float32))
        for row, id_ in enumerate(ids):
            self._rows.setdefault(id_, (part, row))

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, id_: str) -> bool:
        return id_ in self._load()

    def missing(self, ids: list[str]) -> list[str]:
        """Ids without a cached vector, in first-seen order and without duplicates."""
        rows = self._load()
        return [id_ for id_ in dict.fromkeys(ids) if id_ not in rows]

    def put(self, ids: list[str], vectors: np.ndarray) -> None:
        """Persist one chunk of vectors (the unit that survives an interruption)."""
        if not ids:
            return
        if len(vectors) != len(ids):  # a cache that pairs ids with the wrong vectors poisons every later run
            raise ValueError(f"embedding cache: {len(ids)} ids but {len(vectors)} vectors")
        self._load()
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = self.directory / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps({"model": self.model_key, "dim": int(vectors.shape[1])}))
        # unique per writer: processes sharing one cache (the benchmarks' workers) never write the same part
        stem = f"part-{len(self._parts):06d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        for name, array in ((f"{stem}.npy", np.asarray(vectors, dtype=np.float32)),
                            (f"{stem}.ids.npy", np.array(ids, dtype=str))):
            path = self.directory / name
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as handle:
                np.save(handle, array)
            os.replace(tmp, path)
        self._add_part(ids, np.load(self.directory / f"{stem}.npy", mmap_mode="r"))

    def vectors(self, ids: list[str], out: np.ndarray | None = None) -> np.ndarray:
        """Cached vectors in the order of `ids`; every id must be cached. `out` (e.g. a memory-mapped
        array from `vectors_file`) receives them instead of a new in-memory array."""
        rows = self._load()
        absent = [id_ for id_ in ids if id_ not in rows]
        if absent:
            raise UserError(
                f"{self.directory}: no embedding for {len(absent)} ids (e.g. {absent[0]!r}); re-run index"
            )
        if out is None:
            out = np.zeros((len(ids), self._dim()), dtype=np.float32)
        for start in range(0, len(ids), 8192):  # copy part by part in slices: bounded temporaries
            part_of = [rows[id_] for id_ in ids[start : start + 8192]]
            by_part: dict[int, list[tuple[int, int]]] = {}
            for k, (part, row) in enumerate(part_of):
                by_part.setdefault(part, []).append((start + k, row))
            for part, pairs in by_part.items():
                dest, src = zip(*pairs, strict=True)
                out[list(dest)] = self._parts[part][list(src)]
        return out

    def vectors_file(self, ids: list[str], path: Path) -> np.ndarray:
        """The vectors of `ids` copied into a memory-mapped float32 file (rewritten whole), read-only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(ids), self._dim()))
        self.vectors(ids, out=out)
        out.flush()
        del out
        os.replace(tmp, path)
        return np.load(path, mmap_mode="r")

    def _dim(self) -> int:
        if self._parts:
            return int(self._parts[0].shape[1])
        meta = self.directory / "meta.json"
        return int(json.loads(meta.read_text())["dim"]) if meta.exists() else 0
