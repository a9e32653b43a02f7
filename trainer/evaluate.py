"""Metrics for a student's predictions: pure functions over lists, JSON-ready dicts out.

Besides the usual averages they report per-cluster scores with the worst cluster and the spread
(max - min), because the point of distillgraph is to lift the weakest sub-population, not only the mean.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np
from rouge_score import rouge_scorer
from sacrebleu.metrics import CHRF
from sklearn.metrics import f1_score, precision_recall_fscore_support

NO_LABEL = "<none>"  # stands for an unparseable prediction inside sklearn (never a real label)


def parse_label(text: str, labels: list[str]) -> str | None:
    """The label a generative student answered, or None when there is none or more than one.

    Looks after the last "Answer:" if there is one (rationale first, answer last), otherwise at the
    whole text. An exact (case-insensitive) match wins; else exactly one label must occur as a word.
    """
    if not text:
        return None
    segment = re.split(r"answer\s*:", text, flags=re.IGNORECASE)[-1]
    lines = [ln for ln in segment.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    by_lower = {label.lower(): label for label in labels}
    first = lines[0].strip().strip("*_`'\".,;:!()[] ").lower()
    if first in by_lower:
        return by_lower[first]
    found = set()
    low = segment.lower()
    for label in sorted(labels, key=len, reverse=True):  # longest first: "sci-tech" before "tech"
        pattern = r"(?<!\w)" + re.escape(label.lower()) + r"(?!\w)"
        if re.search(pattern, low):
            found.add(label)
            low = re.sub(pattern, " ", low)
    return found.pop() if len(found) == 1 else None


def _cluster_summary(per_cluster: dict[int, dict], key: str) -> dict:
    """Worst cluster and spread (max - min) of `key` over clusters."""
    if not per_cluster:
        return {"worst_cluster": None, "worst_cluster_score": None, "cluster_spread": None}
    values = {c: v[key] for c, v in per_cluster.items()}
    worst = min(values, key=lambda c: (values[c], c))
    return {
        "worst_cluster": worst,
        "worst_cluster_score": values[worst],
        "cluster_spread": max(values.values()) - min(values.values()),
    }


def _group(clusters: list[int] | None, n: int) -> dict[int, list[int]]:
    if clusters is None:
        return {}
    if len(clusters) != n:
        raise ValueError("clusters must have one entry per example")
    groups: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(clusters):
        groups[int(c)].append(i)
    return dict(sorted(groups.items()))


def classification_metrics(
    y_true: list[str], y_pred: list[str | None], labels: list[str], clusters: list[int] | None = None
) -> dict:
    """Accuracy, macro-F1 over `labels`, per-label P/R/F1, confusion pairs and per-cluster accuracy.

    A None prediction (unparseable answer) counts as wrong and is reported in `unparsed`.
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred must have the same length")
    n = len(y_true)
    pred = [NO_LABEL if p is None else p for p in y_pred]
    correct = np.array([t == p for t, p in zip(y_true, pred, strict=True)], dtype=bool)
    out: dict = {"n": n, "accuracy": float(correct.mean()) if n else 0.0, "unparsed": y_pred.count(None)}
    if n:
        out["macro_f1"] = float(f1_score(y_true, pred, labels=labels, average="macro", zero_division=0))
        p, r, f, s = precision_recall_fscore_support(y_true, pred, labels=labels, zero_division=0)
    else:
        out["macro_f1"] = 0.0
        p = r = f = s = np.zeros(len(labels))
    out["per_label"] = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    errors = Counter((t, q) for t, q in zip(y_true, y_pred, strict=True) if t != q)
    out["confusion_pairs"] = [
        [t, q, c] for (t, q), c in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1])))
    ]
    per_cluster = {
        c: {"n": len(idx), "accuracy": float(correct[idx].mean())} for c, idx in _group(clusters, n).items()
    }
    out["per_cluster"] = per_cluster
    out.update(_cluster_summary(per_cluster, "accuracy"))
    return out


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams / all n-grams over the whole set of texts (lexical diversity, Li et al. 2016)."""
    grams: list[tuple[str, ...]] = []
    for text in texts:
        tokens = text.lower().split()
        grams += [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def generation_metrics(refs: list[str], hyps: list[str], clusters: list[int] | None = None) -> dict:
    """Corpus chrF (sacrebleu), mean ROUGE-L F1, distinct-1/2 and per-cluster chrF / ROUGE-L."""
    if len(refs) != len(hyps):
        raise ValueError("refs and hyps must have the same length")
    chrf = CHRF()
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = np.array([scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(refs, hyps, strict=True)])

    def corpus_chrf(idx: list[int]) -> float:
        return float(chrf.corpus_score([hyps[i] for i in idx], [[refs[i] for i in idx]]).score)

    n = len(refs)
    out: dict = {
        "n": n,
        "chrf": corpus_chrf(list(range(n))) if n else 0.0,
        "rougeL": float(rouge.mean()) if n else 0.0,
        "distinct_1": distinct_n(hyps, 1),
        "distinct_2": distinct_n(hyps, 2),
    }
    per_cluster = {
        c: {"n": len(idx), "chrf": corpus_chrf(idx), "rougeL": float(rouge[idx].mean())}
        for c, idx in _group(clusters, n).items()
    }
    out["per_cluster"] = per_cluster
    out.update(_cluster_summary(per_cluster, "chrf"))
    return out
