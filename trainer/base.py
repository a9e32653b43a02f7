"""The student interface the graph talks to, and the records that cross it.

Five kinds implement it (classifier, causal-lm, embedding-probe; token-classifier and token-probe
for ner tasks); `trainer.student.build_student` picks one from the config. Kept separate from
student.py so the kind modules can import it without a cycle.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from distillgraph.store.ner import tag_names
from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.selection import entropy, margin_score

META_FILE = "student.json"


@dataclass
class TrainItem:
    """One training example: `target` is the label (classification), the output (generation) or the
    IOB2 tags joined by single spaces, one per token of `text` (ner)."""

    id: str
    text: str
    target: str
    rationale: str | None = None
    cluster: int | None = None
    weight: float = 1.0  # sample weight (label gating); the classifier, the probes and the token classifier use it, the causal LM does not


def balance_classes(items: list[TrainItem]) -> list[TrainItem]:
    """Each item's weight times n / (labels x its label's count), counts weighted by the items' own weights
    (label gating): every label carries the same total weight, as sklearn's class_weight='balanced'."""
    totals: dict[str, float] = defaultdict(float)
    for it in items:
        totals[it.target] += it.weight
    mass = sum(totals.values())
    return [replace(it, weight=it.weight * mass / (len(totals) * totals[it.target])) if totals[it.target] > 0 else it
            for it in items]


@dataclass
class Prediction:
    """`prediction` is None when a generative student's answer names no single label."""

    id: str
    prediction: str | None
    probs: dict[str, float] | None = None
    raw: str | None = None


class Student(ABC):
    """One student model: trained once per round, then asked for predictions and informativeness."""

    kind: str = ""
    score_methods: tuple[str, ...] = ()

    def __init__(self, cfg: StudentConfig, task: TaskConfig, progress: bool = True):
        self.cfg = cfg.resolved()  # the per-kind defaults, however the student was built
        self.task = task
        self.progress = progress

    @property
    def labels(self) -> list[str]:
        return self.task.label_names

    @abstractmethod
    def fit(self, items: list[TrainItem], out_dir: Path, *, round: int) -> dict:
        """Train per config on `items`, save into out_dir; return {seconds, steps, epochs, final_loss, n_train}."""

    @abstractmethod
    def load(self, adapter_dir: Path) -> None:
        """Restore the state saved by `fit` in adapter_dir (resume)."""

    @abstractmethod
    def predict(self, ids: list[str], texts: list[str]) -> list[Prediction]:
        """One prediction per text, in input order."""

    @abstractmethod
    def score(self, texts: list[str], method: str, targets: list[str] | None = None) -> np.ndarray:
        """Informativeness of each text for the student; higher = more informative."""

    def _weighted(self, items: list[TrainItem]) -> list[TrainItem]:
        """The items with the configured class weighting (classification only) folded into their weights."""
        if self.task.type == "classification" and self.cfg.class_weight == "balanced":
            return balance_classes(items)
        return items

    def _check_fit_input(self, items: list[TrainItem]) -> None:
        if not items:
            raise UserError("student: no training examples for this round")
        if self.task.type == "classification":
            unknown = sorted({it.target for it in items} - set(self.labels))
            if unknown:
                raise UserError(f"student: training label(s) {', '.join(unknown)} not in task.labels")
        if self.task.type == "ner":
            self._check_tags(items)

    def _check_tags(self, items: list[TrainItem]) -> None:
        """ner: one known IOB2 tag per token (tokens and tags are both joined by single spaces)."""
        known = set(tag_names(self.labels))
        for it in items:
            tags, n_tokens = it.target.split(" "), len(it.text.split(" "))
            if len(tags) != n_tokens:
                raise UserError(f"student: item {it.id}: {len(tags)} tags for {n_tokens} tokens (one IOB2 tag per token)")
            unknown = [t for t in tags if t not in known]
            if unknown:
                raise UserError(f"student: item {it.id}: tag {unknown[0]!r} is not O or B-/I- of a type in task.labels")

    def _check_method(self, method: str) -> None:
        if method not in self.score_methods:
            raise UserError(
                f"student {self.kind} cannot score by '{method}' (choose from {', '.join(self.score_methods)})"
            )

    def _write_meta(self, out_dir: Path, round: int, stats: dict) -> None:
        """student.json next to the weights: what was trained, for export and for humans."""
        meta = {
            "kind": self.kind,
            "round": round,
            "task_type": self.task.type,
            "labels": self.labels,
            "config": self.cfg.model_dump(),
            "stats": stats,
        }
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2))


class ProbabilisticStudent(Student):
    """A student with a probability per label (classifier, probe): argmax predictions, entropy/margin scores."""

    @abstractmethod
    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(n, n_labels) probabilities in the order of `self.labels`."""

    def predict(self, ids: list[str], texts: list[str]) -> list[Prediction]:
        probs = self.probabilities(texts)
        return [
            Prediction(id=i, prediction=self.labels[int(p.argmax())], probs=dict(zip(self.labels, p.tolist(), strict=True)))
            for i, p in zip(ids, probs, strict=True)
        ]

    def score(self, texts: list[str], method: str, targets: list[str] | None = None) -> np.ndarray:
        self._check_method(method)
        probs = self.probabilities(texts)
        return entropy(probs) if method == "entropy" else margin_score(probs)
