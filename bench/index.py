"""Index benchmark: sentence-transformers alone vs. the whole index step (embed + cluster + Chroma add).

Part 1 embeds the bundled BBC corpus (2,225 texts) with the packaged MiniLM, once with plain
`SentenceTransformer.encode` and once through `build_index`, and times neighbour queries.
Part 2 runs the cluster + Chroma part of `build_index` on a 100k pool of random unit vectors
(pre-filled into the embedding cache) and extrapolates the embedding time from part 1's throughput.

    .venv/bin/python -m bench.index [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from distillgraph.store.assets import bbc_dir  # noqa: E402
from distillgraph.store.embed import Embedder, EmbeddingCache, resolve_dtype  # noqa: E402
from distillgraph.store.index import EMBEDDINGS_DIR, build_index  # noqa: E402
from distillgraph.store.schema import Example, StoreConfig, content_id  # noqa: E402
from distillgraph.store.vectors import VectorStore, build_where  # noqa: E402

RESULTS = Path(__file__).parent / "results"
N_QUERIES = 50


def bbc_texts() -> list[str]:
    """Every BBC article as one string (the corpus has a few non-UTF-8 files: latin-1 fallback)."""
    texts = []
    for path in sorted(bbc_dir().glob("*/*.txt")):
        raw = path.read_bytes()
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(raw.decode("latin-1"))
    return texts


class Timer:
    """Wall and process CPU seconds; CPU time is what to compare when other jobs share the cores."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def time_st_alone(embedder: Embedder, texts: list[str]) -> Timer:
    """Plain SentenceTransformer.encode over all texts (model already loaded), the baseline."""
    with Timer() as timer:
        embedder.model.encode(
            texts,
            batch_size=embedder.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return timer


def query_latency(store: VectorStore, vectors: np.ndarray, clusters: list[int], kind: str) -> float:
    """Median ms of a k=5 query by vector. kind: plain; filtered = same cluster, unlabelled pool (the
    generator's query) through `neighbours`; chroma_where = the same filter forced through Chroma's `where`."""
    rng = np.random.default_rng(0)
    times = []
    for row in rng.choice(len(vectors), N_QUERIES, replace=len(vectors) < N_QUERIES):
        filters: dict[str, Any] = {"cluster": clusters[row], "labelled": False, "split": "pool"}
        start = time.perf_counter()
        if kind == "plain":
            store.neighbours(vector=vectors[row], k=5)
        elif kind == "filtered":
            store.neighbours(vector=vectors[row], k=5, **filters)
        else:
            store._query(vectors[row], 5, build_where(**filters))
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def query_figures(
    store: VectorStore, ids: list[str], assignments: dict[str, int], data_dir: Path
) -> dict[str, float]:
    vectors = EmbeddingCache(data_dir / EMBEDDINGS_DIR).vectors(ids)
    clusters = [assignments[id_] for id_ in ids]
    return {
        f"query{suffix}_ms": query_latency(store, vectors, clusters, kind)
        for suffix, kind in (("", "plain"), ("_filtered", "filtered"), ("_chroma_where", "chroma_where"))
    }


def bench_bbc(n_texts: int | None, repeats: int, work: Path) -> dict[str, Any]:
    """Part 1: real embeddings of the BBC pool, ST alone vs. build_index (interleaved, best of
    `repeats`, each index into a fresh directory), then query latency."""
    texts = list(
        dict.fromkeys(bbc_texts()[:n_texts])
    )  # the corpus has duplicates; the index embeds each once
    examples = [Example(id=content_id(t), text=t) for t in texts]
    cfg = StoreConfig()
    embedder = Embedder(batch_size=cfg.batch_size, max_seq_length=cfg.max_seq_length, progress=False)
    embedder.encode(sorted(texts, key=len)[-2 * cfg.batch_size :])  # load + warm up: timings exclude both

    alone, index = [], []
    for rep in range(repeats):
        alone.append(time_st_alone(embedder, texts))
        run_dir = work / f"bbc{rep}"
        store = VectorStore.open(cfg, run_dir, embedder)
        with Timer() as timer:
            result = build_index(examples, embedder, store, cfg, run_dir / "data")
        index.append(timer)
        if rep < repeats - 1:
            store.close()
    embed_s, index_s = min(t.wall for t in alone), min(t.wall for t in index)
    # store.documents=true: the same index step into a fresh collection that also stores the texts; embeddings
    # and clusters come from the run's caches, so only its Chroma add is comparable, and it replaces the add above
    docs_cfg = cfg.model_copy(update={"documents": True})
    docs_store = VectorStore.open(docs_cfg, work / "bbc-docs", embedder)
    docs = build_index(examples, embedder, docs_store, docs_cfg, run_dir / "data")
    docs_store.close()
    index_docs_s = index_s - result.seconds["add"] + docs.seconds["add"]
    embed_cpu, index_cpu = min(t.cpu for t in alone), min(t.cpu for t in index)
    out = {
        "pool_size": len(texts),
        "dtype": str(resolve_dtype(cfg.embedding_dtype)).removeprefix("torch."),
        "repeats": repeats,
        "embed_seconds": round(embed_s, 2),
        "index_seconds": round(index_s, 2),
        "overhead_ratio": round(index_s / embed_s - 1, 4),
        "add_seconds_with_documents": round(docs.seconds["add"], 3),
        "overhead_ratio_with_documents": round(index_docs_s / embed_s - 1, 4),
        "embed_cpu_seconds": round(embed_cpu, 2),
        "index_cpu_seconds": round(index_cpu, 2),
        "overhead_ratio_cpu": round(index_cpu / embed_cpu - 1, 4),
        "texts_per_second": round(len(texts) / embed_s, 1),
        "stages_seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "k": result.clustering.k,
        **query_figures(store, [ex.id for ex in examples], result.assignments, run_dir / "data"),
    }
    store.close()
    return out


def bench_synthetic(n: int, dim: int, texts_per_second: float, work: Path) -> dict[str, Any]:
    """Part 2: cluster + Chroma add of n random unit vectors through build_index; embedding extrapolated."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    examples = [Example(id=f"s{i:07d}", text=f"synthetic pool item {i}") for i in range(n)]
    cfg = StoreConfig(embedding_model="random-unit-vectors")
    embedder = Embedder(model=cfg.embedding_model, progress=False)
    data_dir = work / "synthetic" / "data"
    cache = EmbeddingCache(data_dir / EMBEDDINGS_DIR, embedder.model_key)
    for start in range(0, n, 4096):
        cache.put([ex.id for ex in examples[start : start + 4096]], vectors[start : start + 4096])

    store = VectorStore.open(cfg, work / "synthetic", embedder)
    with Timer() as timer:
        result = build_index(examples, embedder, store, cfg, data_dir)
    embed_s = n / texts_per_second
    out = {
        "pool_size": n,
        "note": f"random unit vectors; embedding time extrapolated from {texts_per_second} texts/s measured on BBC",
        "embed_seconds_extrapolated": round(embed_s, 1),
        "index_seconds_measured_without_embedding": round(timer.wall, 2),
        "index_seconds": round(embed_s + timer.wall, 1),
        "overhead_ratio": round(timer.wall / embed_s, 4),
        "stages_seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "method": result.clustering.method,
        "k": result.clustering.k,
        **query_figures(store, [ex.id for ex in examples], result.assignments, data_dir),
    }
    store.close()
    return out


def markdown(res: dict[str, Any]) -> str:
    syn = res["synthetic"]
    rows = [
        ("pool size", res["pool_size"], syn["pool_size"]),
        ("embedding alone (s)", res["embed_seconds"], f"{syn['embed_seconds_extrapolated']} (extrapolated)"),
        ("whole index step (s)", res["index_seconds"], syn["index_seconds"]),
        ("of which cluster (s)", res["stages_seconds"]["cluster"], syn["stages_seconds"]["cluster"]),
        ("of which Chroma add (s)", res["stages_seconds"]["add"], syn["stages_seconds"]["add"]),
        ("overhead (index / embed − 1)", f"{res['overhead_ratio']:.1%}", f"{syn['overhead_ratio']:.1%}"),
        ("Chroma add with `store.documents: true` (s)", res.get("add_seconds_with_documents", "-"), ""),
        ("overhead with `store.documents: true`", f"{res['overhead_ratio_with_documents']:.1%}"
         if "overhead_ratio_with_documents" in res else "-", ""),
        ("overhead in process CPU time", f"{res['overhead_ratio_cpu']:.1%}", ""),
        ("query k=5, median (ms)", res["query_ms"], syn["query_ms"]),
        (
            "query k=5 + same cluster, unlabelled pool (ms)",
            res["query_filtered_ms"],
            syn["query_filtered_ms"],
        ),
        (
            "same filter through Chroma `where` (ms)",
            res["query_chroma_where_ms"],
            syn["query_chroma_where_ms"],
        ),
    ]
    lines = [
        "## Index: embedding vs. the whole index step",
        "",
        f"MiniLM-L6-v2 ({res['dtype']}, max_seq_length 256, batch 64) on {res['machine']}; "
        f"{res['texts_per_second']} texts/s; load average {res['load_average']} at the start; BBC times are the "
        f"best of {res['repeats']} interleaved runs. Goal: overhead ≤ 10%. The synthetic pool uses random unit "
        "vectors for clustering and Chroma (and one-line texts); its embedding time is extrapolated from the measured "
        "throughput. Chroma holds vectors and metadata only by default; the `store.documents: true` rows time the "
        "same index step's Chroma add into a collection that also stores the article texts.",
        "",
        f"| | BBC ({res['pool_size']:,} texts) | synthetic ({syn['pool_size']:,}) |",
        "|---|---:|---:|",
        *[f"| {name} | {a} | {b} |" for name, a, b in rows],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 BBC texts and a 10k synthetic pool")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved BBC runs; the best is reported")
    args = parser.parse_args()
    load = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        work = Path(tmp)
        res = bench_bbc(1000 if args.quick else None, args.repeats, work)
        res["machine"] = f"{os.cpu_count()} CPU cores ({platform.machine()})"
        res["load_average"] = load
        res["quick"] = args.quick
        res["synthetic"] = bench_synthetic(
            10_000 if args.quick else 100_000, 384, res["texts_per_second"], work
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "index.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / "index.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
