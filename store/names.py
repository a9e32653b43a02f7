"""Cluster names a person can read: each cluster's top keywords by class-based TF-IDF.

As BERTopic names its topics (ClassTfidfTransformer with bm25_weighting and reduce_frequent_words):
the texts of a cluster are joined into one document per cluster; a term's weight in cluster c is
sqrt(its frequency in c / c's number of words) x log(1 + (A - f + 0.5) / (f + 0.5)), where A is the
mean number of words per cluster and f the term's frequency over all clusters. Words frequent
everywhere ("said", "year") sink below zero; words typical of one cluster rise.
"""

from __future__ import annotations

import re

import numpy as np

SEPARATOR = " / "
MAX_TEXTS = 20_000  # above this a seeded sample names the clusters (the vocabulary is what costs)
_DEFAULT = re.compile(r"^(cluster |c)\d+$")


def default_name(cluster: int) -> str:
    return f"cluster {cluster}"


def is_default(name: str | None) -> bool:
    """A placeholder name ("cluster 3", "c3") rather than keywords or a written name."""
    return not name or bool(_DEFAULT.match(name))


def keywords(texts: list[str], clusters: list[int], top_n: int = 8, seed: int = 0) -> dict[int, list[str]]:
    """The `top_n` words of each cluster by class-based TF-IDF, best first (clusters without usable
    words get an empty list)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    if len(texts) != len(clusters):
        raise ValueError(f"keywords: {len(texts)} texts but {len(clusters)} clusters")
    labels = np.asarray(clusters, dtype=np.int64)
    if len(texts) > MAX_TEXTS:
        rows = np.sort(np.random.default_rng(seed).choice(len(texts), MAX_TEXTS, replace=False))
        texts, labels = [texts[i] for i in rows], labels[rows]
    ids = sorted(set(labels.tolist()))
    out: dict[int, list[str]] = {c: [] for c in ids}
    if not texts:
        return out
    # words of two letters or more, no digits; English stop words out; a word must occur in 2 texts
    vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{2,}\b", lowercase=True,
                          min_df=2 if len(texts) >= 20 else 1, max_df=0.5 if len(texts) >= 20 else 1.0)
    try:
        counts = vec.fit_transform(texts)
    except ValueError:  # empty vocabulary: nothing but stop words, digits or single letters
        return out
    row_of = {c: i for i, c in enumerate(ids)}
    member = sparse.csr_matrix((np.ones(len(labels)), ([row_of[c] for c in labels.tolist()], np.arange(len(labels)))),
                               shape=(len(ids), len(labels)))
    per_cluster = np.asarray((member @ counts).todense(), dtype=np.float64)  # clusters x terms
    words_per_cluster = per_cluster.sum(axis=1, keepdims=True)
    tf = np.sqrt(per_cluster / np.maximum(words_per_cluster, 1.0))
    mean_words = per_cluster.sum() / len(ids)
    freq = per_cluster.sum(axis=0)
    idf = np.log((mean_words - freq + 0.5) / (freq + 0.5) + 1.0)
    weight = tf * idf
    vocab = vec.get_feature_names_out()
    for c, i in row_of.items():
        order = np.argsort(-weight[i], kind="stable")[:top_n]
        out[c] = [str(vocab[j]) for j in order if weight[i, j] > 0]
    return out


def keyword_names(texts: list[str], clusters: list[int], k: int, n_words: int = 3, seed: int = 0) -> dict[int, str]:
    """A name per cluster 0..k-1: its top `n_words` keywords ("election / labour / party"), or the
    placeholder name when the cluster has no usable words."""
    kw = keywords(texts, clusters, top_n=n_words, seed=seed)
    return {c: SEPARATOR.join(kw.get(c, [])) or default_name(c) for c in range(k)}


def with_written_name(written: str, keyword_name: str) -> str:
    """A teacher-written name followed by the keywords it was written from: "UK politics (election / labour)"."""
    written = " ".join(written.split())
    if not written:
        return keyword_name
    return written if is_default(keyword_name) else f"{written} ({keyword_name})"
