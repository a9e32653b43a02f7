"""Chroma collection of every example of a run, for neighbour retrieval by the graph nodes.

We always hand Chroma our own vectors: its default embedding function downloads an ONNX model,
which fails offline. Metadata per item: split, cluster, label, output, labelled, round, source
(Chroma metadata cannot hold None, so unknown strings are stored as "").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from distillgraph.store.embed import _Bar
from distillgraph.store.schema import StoreConfig, UserError

MetaValue = str | int | float | bool
FilterValue = MetaValue | Sequence[MetaValue] | None
PREFETCH = 32  # unfiltered nearest items checked before asking Chroma to filter


@dataclass
class Hit:
    """One retrieved item; `distance` is the cosine distance to the query (0.0 for plain `get`)."""

    id: str
    text: str
    metadata: dict[str, Any]
    distance: float


def _batches(items: Sequence[Any], size: int) -> Iterator[slice]:
    for start in range(0, len(items), size):
        yield slice(start, start + size)


def clean_metadata(metadata: dict[str, Any]) -> dict[str, MetaValue]:
    """Chroma-safe copy: None becomes "", numpy scalars become Python ones; other types are a bug."""
    out: dict[str, MetaValue] = {}
    for key, value in metadata.items():
        if value is None:
            value = ""
        elif isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"metadata {key!r}: {type(value).__name__} is not storable in Chroma")
        out[key] = value
    return out


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def active_filters(**filters: FilterValue) -> dict[str, MetaValue | list[MetaValue]]:
    """The given filters without the None ones; collections become lists ("any of"), numpy scalars Python."""
    out: dict[str, MetaValue | list[MetaValue]] = {}
    for key, value in filters.items():
        if value is None:
            continue
        is_many = isinstance(value, list | tuple | set | frozenset)
        out[key] = [_scalar(v) for v in value] if is_many else _scalar(value)  # type: ignore[union-attr]
    return out


def build_where(**filters: FilterValue) -> dict[str, Any] | None:
    """Chroma `where` from keyword filters: None is ignored, a list means "any of", several are AND-ed."""
    clauses = [
        {key: {"$in": value} if isinstance(value, list) else value}
        for key, value in active_filters(**filters).items()
    ]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def matches(metadata: dict[str, Any], filters: dict[str, MetaValue | list[MetaValue]]) -> bool:
    """The same test as `build_where`, in Python, for candidates already fetched."""
    for key, value in filters.items():
        have = metadata.get(key)
        if isinstance(value, list):
            if not any(have == v and type(have) is type(v) for v in value):
                return False
        elif have != value or type(have) is not type(value):
            return False
    return True


def collection_name(base: str, run_dir: Path, shared: bool) -> str:
    """A valid Chroma name (3-512 chars of [A-Za-z0-9._-], alphanumeric ends); per run on a shared server."""
    name = f"{base}-{Path(run_dir).resolve().name}" if shared else base
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name).strip("._-")[:512].rstrip("._-")
    if len(name) < 3:
        raise UserError(f"store.collection: {base!r} gives an invalid Chroma collection name {name!r}")
    return name


def chroma_headers(cfg: StoreConfig, env: Mapping[str, str]) -> dict[str, str]:
    """The HTTP headers for store.chroma_url: each value read from the environment variable the config names
    (the one place they are resolved; the values never reach a file)."""
    headers = {}
    for name, var in cfg.chroma_headers.items():
        value = env.get(var)
        if not value:
            raise UserError(f"store.chroma_headers.{name}: environment variable {var} is not set")
        headers[name] = value
    return headers


class ChromaUnreachable(UserError):
    """The Chroma server went away mid-run; the run is resumable once it is back."""


def _unreachable(url: str, exc: BaseException) -> ChromaUnreachable:
    return ChromaUnreachable(
        f"store.chroma_url: lost the Chroma server at {url} ({type(exc).__name__}); "
        "the run is resumable when it is back: distillgraph resume RUN"
    )


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError) or (
        isinstance(exc, ValueError) and "Could not connect to a Chroma server" in str(exc)
    )


class _Guarded:
    """A Chroma client or collection whose calls turn a lost connection into one resumable line."""

    def __init__(self, target: Any, url: str):
        self._target = target
        self._url = url

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                if _is_connection_error(exc):
                    raise _unreachable(self._url, exc) from exc
                raise

        return call


def _server(cfg: StoreConfig) -> tuple[str, int, bool]:
    assert cfg.chroma_url
    url = urlparse(cfg.chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UserError(f"store.chroma_url: {cfg.chroma_url!r} is not an http(s)://host:port URL")
    return url.hostname, url.port or (443 if url.scheme == "https" else 8000), url.scheme == "https"


def _ensure_database(cfg: StoreConfig, headers: dict[str, str], database: str) -> None:
    """Each run gets its own database on a shared server: its collections are invisible to other runs."""
    import chromadb
    from chromadb.config import Settings
    from chromadb.errors import NotFoundError

    host, port, ssl = _server(cfg)
    admin = chromadb.AdminClient(Settings(
        anonymized_telemetry=False, chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host=host,
        chroma_server_http_port=port, chroma_server_ssl_enabled=ssl, chroma_server_headers=headers or None,
    ))
    try:
        admin.get_database(database)
    except NotFoundError:
        admin.create_database(database)


def _client(cfg: StoreConfig, run_dir: Path, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if not cfg.chroma_url:
        return chromadb.PersistentClient(path=str(Path(run_dir) / "chroma"), settings=settings)
    headers = headers or {}
    host, port, ssl = _server(cfg)
    database = collection_name(cfg.collection, run_dir, shared=True)
    try:
        _ensure_database(cfg, headers, database)
        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, headers=headers or None, settings=settings,
                                     database=database)
    except Exception as exc:  # connection refused, DNS, TLS, a gateway refusing the headers
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise UserError(
            f"store.chroma_url: cannot reach Chroma at {cfg.chroma_url} ({type(exc).__name__}{': ' + first if first else ''})"
        ) from None
    return _Guarded(client, cfg.chroma_url)


class VectorStore:
    """A run's Chroma collection (cosine space) plus the embedder used for text queries.

    On disk (run_dir/chroma) by default; on a shared server (store.chroma_url) each run has its own
    database, named after the run, holding the collection `store.collection`, so concurrent runs on one
    server cannot see each other's items. A server lost mid-run ends the node with one resumable line.
    """

    def __init__(self, client: Any, collection: Any, embedder: Any, documents: bool = False):
        self.client = client
        self.collection = collection
        self.embedder = embedder
        self.documents = documents  # False: texts are not stored, hits carry text "" (callers look them up by id)
        self.max_batch = int(client.get_max_batch_size())

    @classmethod
    def open(cls, cfg: StoreConfig, run_dir: Path, embedder: Any, env: Mapping[str, str] | None = None) -> VectorStore:
        """Open or create the collection: on disk under run_dir/chroma, or on the server of store.chroma_url.

        `env`: where the values of store.chroma_headers are looked up (the run's environment)."""
        headers = chroma_headers(cfg, env or {}) if cfg.chroma_url else {}
        client = _client(cfg, run_dir, headers)
        name = cfg.collection if cfg.chroma_url else collection_name(cfg.collection, run_dir, shared=False)
        collection = client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        if cfg.chroma_url:
            collection = _Guarded(collection, cfg.chroma_url)
        return cls(client, collection, embedder, documents=cfg.documents)

    def has(self, ids: Iterable[str]) -> set[str]:
        """The subset of `ids` already in the collection."""
        ids = list(dict.fromkeys(ids))
        found: set[str] = set()
        for part in _batches(ids, self.max_batch):
            found.update(self.collection.get(ids=ids[part], include=[])["ids"])
        return found

    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict[str, Any]],
    ) -> int:
        """Add items whose id is not yet present (so a re-run or resume adds nothing twice); returns how many."""
        if not len(ids) == len(texts) == len(vectors) == len(metadatas):
            raise ValueError("add: ids, texts, vectors and metadatas differ in length")
        present = self.has(ids)
        seen: set[str] = set()
        keep = []
        for i, id_ in enumerate(ids):
            if id_ not in present and id_ not in seen:
                seen.add(id_)
                keep.append(i)
        vectors = np.asarray(vectors, dtype=np.float32)  # a memory-mapped array stays one: rows are read per batch
        progress = bool(getattr(self.embedder, "progress", False)) and len(keep) > self.max_batch
        with _Bar(len(keep), enabled=progress, label="adding to Chroma") as advance:
            for part in _batches(keep, self.max_batch):  # Chroma refuses batches over get_max_batch_size()
                rows = keep[part]
                self.collection.add(
                    ids=[ids[i] for i in rows],
                    embeddings=vectors[rows],
                    documents=[texts[i] for i in rows] if self.documents else None,
                    metadatas=[clean_metadata(metadatas[i]) for i in rows],
                )
                advance(len(rows))
        return len(keep)

    def update(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        """Merge keys into the metadata of existing items (other keys are kept), e.g. when an item is labelled."""
        if len(ids) != len(metadatas):
            raise ValueError("update: ids and metadatas differ in length")
        missing = set(ids) - self.has(ids)
        if missing:
            raise KeyError(f"update: {len(missing)} ids not in the collection, e.g. {sorted(missing)[0]!r}")
        for part in _batches(ids, self.max_batch):
            self.collection.update(
                ids=list(ids[part]), metadatas=[clean_metadata(m) for m in metadatas[part]]
            )

    def neighbours(
        self,
        text: str | None = None,
        vector: np.ndarray | None = None,
        k: int = 5,
        *,
        cluster: FilterValue = None,
        label: FilterValue = None,
        split: FilterValue = None,
        labelled: bool | None = None,
        source: FilterValue = None,
        exclude_ids: Iterable[str] = (),
    ) -> list[Hit]:
        """The k nearest items to a text or vector that match every given filter, nearest first.

        A filter value may be a list ("any of"). Chroma's `where` costs time in proportion to the
        items it matches (~350 ms at 100k), so filtered queries first try the nearest PREFETCH items
        unfiltered and check the filters here; only when fewer than k of those match does Chroma
        filter. Excluded ids are dropped after over-fetching, as `where` cannot filter on ids.
        """
        if (text is None) == (vector is None):
            raise ValueError("neighbours: give exactly one of text or vector")
        if k <= 0:
            return []
        query = self.embedder.encode([text])[0] if text is not None else np.asarray(vector, dtype=np.float32)
        exclude = set(exclude_ids)
        filters = active_filters(cluster=cluster, label=label, split=split, labelled=labelled, source=source)
        wanted = k + len(exclude)
        if filters:
            n_fetch = max(wanted, PREFETCH)
            candidates = self._query(query, n_fetch, None)
            hits = [h for h in candidates if h.id not in exclude and matches(h.metadata, filters)]
            if len(hits) >= k or len(candidates) < n_fetch:  # enough, or the whole collection was seen
                return hits[:k]
        hits = self._query(query, wanted, build_where(**filters))
        return [h for h in hits if h.id not in exclude][:k]

    def _query(self, query: np.ndarray, n: int, where: dict[str, Any] | None) -> list[Hit]:
        result = self.collection.query(
            query_embeddings=query.reshape(1, -1),
            n_results=n,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(id_, doc or "", dict(meta or {}), float(dist))
            for id_, doc, meta, dist in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Items by id, in the order asked; unknown ids are skipped."""
        ids = list(ids)
        found: dict[str, Hit] = {}
        for part in _batches(ids, self.max_batch):
            result = self.collection.get(ids=ids[part], include=["documents", "metadatas"])
            for id_, doc, meta in zip(result["ids"], result["documents"], result["metadatas"], strict=True):
                found[id_] = Hit(id_, doc or "", dict(meta or {}), 0.0)
        return [found[id_] for id_ in ids if id_ in found]

    def ids(self, **filters: FilterValue) -> list[str]:
        """Ids of all items matching the filters (same keywords as `neighbours`)."""
        return list(self.collection.get(where=build_where(**filters), include=[])["ids"])

    def count(self, **filters: FilterValue) -> int:
        """Number of items matching the filters; without filters the collection size."""
        if build_where(**filters) is None:
            return int(self.collection.count())
        return len(self.ids(**filters))

    def close(self) -> None:
        """Release the client (for an on-disk store: its SQLite handles, so the folder can be reopened) and the
        embedder's worker pool, if it started one."""
        stop_pool = getattr(self.embedder, "close", None)
        if stop_pool is not None:
            stop_pool()
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
