"""Embedding-probe student: logistic regression on frozen sentence embeddings.

Trains in well under a second, which is what makes many-seed benchmarks affordable; on BBC it is
about as accurate as the LoRA classifier (measured 0.960 vs 0.958 at 200 labels).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import joblib
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from distillgraph.store.schema import TaskConfig, UserError, content_id
from distillgraph.trainer.base import ProbabilisticStudent, TrainItem
from distillgraph.trainer.config import StudentConfig

PROBE_FILE = "probe.joblib"


class TextEmbedder(Protocol):
    def encode(self, texts: list[str], ids: list[str] | None = None) -> np.ndarray: ...


class ProbeStudent(ProbabilisticStudent):
    kind = "embedding-probe"
    score_methods = ("entropy", "margin")

    def __init__(self, cfg: StudentConfig, task: TaskConfig, embedder: TextEmbedder, progress: bool = True):
        if task.type != "classification":
            raise UserError("student.kind: 'embedding-probe' needs a classification task (use causal-lm)")
        super().__init__(cfg, task, progress)
        self.embedder = embedder
        self.clf: LogisticRegression | DummyClassifier | None = None
        self._vectors: dict[str, np.ndarray] = {}  # the pool is scored every round: embed each text once

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            # keyed by content hash, the id the data loader gives texts without their own id: with the run's
            # on-disk cache the probe reuses the index step's vectors and embeds a text at most once
            keys = [content_id(t) for t in missing]
            for text, vec in zip(missing, np.asarray(self.embedder.encode(missing, keys)), strict=True):
                self._vectors[text] = vec
        return np.stack([self._vectors[t] for t in texts])

    def fit(self, items: list[TrainItem], out_dir: Path, *, round: int) -> dict:
        self._check_fit_input(items)
        items = self._weighted(items)
        start = time.perf_counter()
        x = self._embed([it.text for it in items])
        y = [it.target for it in items]
        # one label seen so far (cold start): a constant predictor instead of a sklearn error
        if len(set(y)) < 2:
            self.clf = DummyClassifier(strategy="most_frequent")
        else:
            self.clf = LogisticRegression(C=self.cfg.probe_C, max_iter=2000, random_state=self.cfg.seed)
        weights = [it.weight for it in items]
        if isinstance(self.clf, LogisticRegression) and any(w != 1.0 for w in weights):
            self.clf.fit(x, y, sample_weight=weights)
        else:
            self.clf.fit(x, y)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.clf, out_dir / PROBE_FILE)
        stats = {
            "seconds": time.perf_counter() - start,
            "steps": 1,
            "epochs": 1.0,
            "final_loss": float(self._log_loss(x, y)),
            "n_train": len(items),
        }
        self._write_meta(out_dir, round, stats)
        return stats

    def _log_loss(self, x: np.ndarray, y: list[str]) -> float:
        probs = self.probabilities_of(x)
        index = {label: i for i, label in enumerate(self.labels)}
        picked = probs[np.arange(len(y)), [index[t] for t in y]]
        return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())

    def load(self, adapter_dir: Path) -> None:
        path = Path(adapter_dir) / PROBE_FILE
        if not path.exists():
            raise UserError(f"{adapter_dir}: no saved probe ({PROBE_FILE} missing)")
        self.clf = joblib.load(path)

    def probabilities_of(self, x: np.ndarray) -> np.ndarray:
        """(n, n_labels) in `task.labels` order; labels never seen in training get probability 0."""
        if self.clf is None:
            raise UserError("student: the embedding probe has not been trained yet")
        raw = self.clf.predict_proba(x)
        out = np.zeros((len(x), len(self.labels)))
        index = {label: i for i, label in enumerate(self.labels)}
        for j, label in enumerate(self.clf.classes_):
            out[:, index[label]] = raw[:, j]
        return out

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.probabilities_of(self._embed(texts))

