"""Chroma-backed VectorStore: adds, filters, updates, persistence, names and URLs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import distillgraph.store.vectors as vectors_mod
from distillgraph.store.embed import HashEmbedder
from distillgraph.store.schema import StoreConfig, UserError
from distillgraph.store.vectors import VectorStore, build_where, clean_metadata, collection_name, matches

TEXTS = {
    "s1": ("football goal striker", "sport", 0, "pool", False),
    "s2": ("goal keeper football match", "sport", 0, "seed", True),
    "s3": ("striker penalty goal cup", "sport", 0, "pool", False),
    "t1": ("software chip cloud", "tech", 1, "pool", False),
    "t2": ("cloud app software startup", "tech", 1, "dev", True),
    "t3": ("robot code data software", "tech", 1, "synthetic", True),
}


def fill(store: VectorStore) -> int:
    ids = list(TEXTS)
    texts = [TEXTS[i][0] for i in ids]
    metas = [
        {
            "split": sp,
            "cluster": c,
            "label": lab if done else None,
            "labelled": done,
            "round": 0,
            "source": sp,
        }
        for _, lab, c, sp, done in (TEXTS[i] for i in ids)
    ]
    return store.add(ids, texts, store.embedder.encode(texts), metas)


def test_add_skips_present_ids_and_counts(store: VectorStore):
    assert fill(store) == 6
    assert fill(store) == 0
    assert store.count() == 6
    assert store.has(["s1", "zz", "t3"]) == {"s1", "t3"}
    assert store.count(cluster=0) == 3 and store.count(labelled=True) == 3
    assert store.count(split=["pool", "dev"], cluster=1) == 2
    assert sorted(store.ids(split="pool", labelled=False)) == ["s1", "s3", "t1"]


def test_add_in_batches_no_larger_than_the_limit(store: VectorStore, monkeypatch: pytest.MonkeyPatch):
    sizes: list[int] = []
    real_add = store.collection.add
    monkeypatch.setattr(store, "max_batch", 4)
    monkeypatch.setattr(store.collection, "add", lambda **kw: (sizes.append(len(kw["ids"])), real_add(**kw)))
    emb = store.embedder
    ids = [f"x{i}" for i in range(10)] + ["x0"]
    texts = [f"word{i}" for i in range(11)]
    assert store.add(ids, texts, emb.encode(texts), [{"split": "pool"}] * 11) == 10
    assert sizes == [4, 4, 2] and store.count() == 10


def test_neighbours_by_text_and_vector_with_filters(store: VectorStore):
    fill(store)
    hits = store.neighbours("football goal", k=3)
    assert [h.id[0] for h in hits] == ["s", "s", "s"]
    assert hits[0].distance <= hits[1].distance <= hits[2].distance
    assert hits[0].text == "" and hits[0].metadata["cluster"] == 0  # texts stay with the run's data by default

    assert [h.id for h in store.neighbours("football goal", k=5, labelled=True, cluster=0)] == ["s2"]
    assert {h.id for h in store.neighbours("football", k=5, label="tech")} == {"t2", "t3"}
    assert {h.id for h in store.neighbours("football", k=5, split=["dev", "synthetic"])} == {"t2", "t3"}
    assert {h.id for h in store.neighbours("x", k=9, source="pool", cluster=1)} == {"t1"}

    vector = store.embedder.encode(["software cloud"])[0]
    assert store.neighbours(vector=vector, k=1)[0].id in {"t1", "t2"}
    kept = store.neighbours(vector=vector, k=2, exclude_ids=["t1", "t2"])
    assert len(kept) == 2 and not {"t1", "t2"} & {h.id for h in kept}
    assert store.neighbours("x", k=0) == []
    with pytest.raises(ValueError):
        store.neighbours()


def test_update_merges_metadata_and_get_keeps_order(store: VectorStore):
    fill(store)
    store.update(["s1"], [{"labelled": True, "label": "sport", "round": 2}])
    hit = store.get(["t1", "missing", "s1"])
    assert [h.id for h in hit] == ["t1", "s1"]
    assert hit[1].metadata == {
        "split": "pool",
        "cluster": 0,
        "label": "sport",
        "labelled": True,
        "round": 2,
        "source": "pool",
    }
    assert store.count(labelled=True) == 4
    with pytest.raises(KeyError):
        store.update(["nope"], [{"labelled": True}])


def test_persists_across_reopen(tmp_path: Path, store_cfg: StoreConfig):
    emb = HashEmbedder(dim=64)
    first = VectorStore.open(store_cfg, tmp_path, emb)
    fill(first)
    first.update(["t1"], [{"round": 5}])
    first.close()
    second = VectorStore.open(store_cfg, tmp_path, emb)
    assert second.count() == 6 and second.get(["t1"])[0].metadata["round"] == 5
    assert fill(second) == 0
    second.close()
    assert (tmp_path / "chroma").is_dir()


def test_metadata_and_where_helpers():
    assert clean_metadata({"a": None, "b": np.int64(3), "c": True}) == {"a": "", "b": 3, "c": True}
    with pytest.raises(TypeError):
        clean_metadata({"a": [1]})
    assert build_where() is None and build_where(split=None) is None
    assert build_where(cluster=np.int64(2)) == {"cluster": 2}
    meta = {"cluster": 1, "labelled": True, "split": "pool"}
    assert matches(meta, {"cluster": [0, 1], "labelled": True}) and not matches(meta, {"split": "seed"})
    assert not matches(meta, {"cluster": True}) and not matches(meta, {"round": 0})
    assert build_where(split=["pool", "seed"], labelled=False) == {
        "$and": [{"split": {"$in": ["pool", "seed"]}}, {"labelled": False}]
    }


def test_collection_names_and_urls(tmp_path: Path):
    assert collection_name("distillgraph", tmp_path / "run 1", shared=False) == "distillgraph"
    assert collection_name("dg", tmp_path / "run 1", shared=True) == "dg-run-1"
    with pytest.raises(UserError):
        collection_name("a", tmp_path / "--", shared=True)
    with pytest.raises(UserError, match="chroma_url"):
        VectorStore.open(StoreConfig(chroma_url="localhost:8000"), tmp_path, None)
    with pytest.raises(UserError, match="cannot reach"):
        VectorStore.open(StoreConfig(chroma_url="http://127.0.0.1:9"), tmp_path, None)


@pytest.mark.parametrize("prefetch", [1, 32, 10_000])
def test_filtered_neighbours_match_brute_force(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch, prefetch: int
):
    """Whether the Python pre-check (large prefetch) or Chroma's `where` (prefetch 1) answers, results are exact."""
    monkeypatch.setattr(vectors_mod, "PREFETCH", prefetch)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 256)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    metas = [{"cluster": i % 4, "labelled": i % 10 == 0, "split": "pool"} for i in range(200)]
    ids = [f"v{i}" for i in range(200)]
    store.add(ids, ids, vectors, metas)
    for q, filters in enumerate([{"cluster": 2}, {"labelled": True, "cluster": [0, 2]}, {"labelled": False}]):
        query = vectors[q * 7] + 0.1
        ok = [
            i for i in range(200) if all(metas[i][key] in np.atleast_1d(val) for key, val in filters.items())
        ]
        ok = [i for i in ok if i != q * 7]
        expected = [ids[i] for i in sorted(ok, key=lambda i: -float(vectors[i] @ query))[:5]]
        got = store.neighbours(vector=query, k=5, exclude_ids=[ids[q * 7]], **filters)
        assert [h.id for h in got] == expected


def test_without_documents_chroma_keeps_vectors_and_metadata_but_no_texts(tmp_path: Path, store_cfg: StoreConfig):
    emb = HashEmbedder(dim=64)
    with_docs = VectorStore.open(store_cfg.model_copy(update={"documents": True}), tmp_path / "a", emb)
    without = VectorStore.open(store_cfg, tmp_path / "b", emb)  # the default
    for s in (with_docs, without):
        assert fill(s) == 6
    q = emb.encode(["football goal"])[0]
    a = with_docs.neighbours(vector=q, k=3, cluster=0)
    b = without.neighbours(vector=q, k=3, cluster=0)
    assert [h.id for h in a] == [h.id for h in b]  # same retrieval, same filters
    assert [h.metadata for h in a] == [h.metadata for h in b]
    assert all(h.text for h in a) and not any(h.text for h in b)  # the texts stay with the caller's data
    assert without.get(["s1"])[0].text == "" and with_docs.get(["s1"])[0].text == "football goal striker"
    with_docs.close()
    without.close()
