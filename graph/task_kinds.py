"""What differs between task types, behind one interface: metrics, the headline numbers, what counts as
a correct prediction, the default informativeness score, and how a target is stored on an Example.

`task_kind(task)` picks the class; nodes and deps ask it instead of branching on `task.type`.
"""

from __future__ import annotations

from typing import Any

from distillgraph.store.schema import Example, TaskConfig


class TaskKind:
    type = ""
    headline_keys: tuple[str, ...] = ()
    cluster_key = ""          # the per-cluster score in the metrics dict
    default_scoring = "entropy"
    units = False             # does one example hold several labelled units (entities)? see `outcomes`
    # the dev score in [0, 1] an adaptive policy trusts the student's own scores by (TaskKind.quality); "" where
    # that rule was not chosen on dev data of the kind (the policy's fixed share applies)
    quality_key = ""

    def __init__(self, task: TaskConfig):
        self.task = task

    def metrics(self, gold: list[str], pred: list[str | None], clusters: list[int]) -> dict[str, Any]:
        raise NotImplementedError

    def correct(self, gold: str, pred: str | None) -> bool:
        return gold == pred

    def outcomes(self, gold: str, pred: str | None) -> list[tuple[str, bool, str]]:
        """(label, correct, predicted label) of each unit of one example (only for kinds with `units`)."""
        return [(gold, gold == pred, pred or "(unparseable)")]

    def example(self, id: str, text: str, split: Any, target: str) -> Example:
        """An Example holding `target` where this task keeps it (label or output)."""
        return Example(id=id, text=text, split=split, output=target)

    def shown_target(self, text: str, target: str) -> str:
        """A target as the teacher reads and writes it (ner: the entities as JSON, not tags)."""
        return target

    def normalize_text(self, text: str) -> str:
        """A teacher-written input in the form the task stores (ner: tokens joined by single spaces)."""
        return text.strip()

    def quality(self, dev: dict[str, float]) -> float | None:
        """The student's dev score in [0, 1] (what an adaptive policy trusts its scores by); None if unmeasured."""
        value = dev.get(self.quality_key)
        return None if value is None else float(value)

    def chance(self) -> float:
        """`quality` of guessing, what a student scores without having learnt anything; 0 where unknown."""
        return 0.0


class Classification(TaskKind):
    type = "classification"
    headline_keys = ("accuracy", "macro_f1")
    quality_key = "macro_f1"
    cluster_key = "accuracy"

    def chance(self) -> float:
        """The macro-F1 of a uniform guess on a label-balanced dev set: 1 / labels (the config asks for 2 or more)."""
        return 1.0 / len(self.task.labels)

    def metrics(self, gold: list[str], pred: list[str | None], clusters: list[int]) -> dict[str, Any]:
        from distillgraph.trainer.evaluate import classification_metrics

        return classification_metrics(gold, pred, self.task.label_names, clusters)

    def example(self, id: str, text: str, split: Any, target: str) -> Example:
        return Example(id=id, text=text, split=split, label=target)


class Generation(TaskKind):
    type = "generation"
    headline_keys = ("chrf", "rougeL", "distinct_1", "distinct_2", "judge")
    cluster_key = "chrf"
    default_scoring = "output_entropy"  # no quality_key: the adaptive share was never measured on generation

    def metrics(self, gold: list[str], pred: list[str | None], clusters: list[int]) -> dict[str, Any]:
        from distillgraph.trainer.evaluate import generation_metrics

        return generation_metrics(gold, [p or "" for p in pred], clusters)

    def correct(self, gold: str, pred: str | None) -> bool:
        """A sentence chrF of at least 40 counts as acceptable."""
        from sacrebleu.metrics import CHRF

        return CHRF().sentence_score(pred or "", [gold]).score >= 40.0


class Ner(TaskKind):
    """Targets are IOB2 tag sequences (space-joined); a sentence is correct when every entity is."""

    type = "ner"
    headline_keys = ("entity_f1", "macro_f1", "worst_type_f1", "token_accuracy")
    cluster_key = "entity_f1"
    # no quality_key: on NER dev (split seeds 10-12) a share following entity F1 lost to the fixed quarter
    default_scoring = "token_margin_mean"
    units = True

    def metrics(self, gold: list[str], pred: list[str | None], clusters: list[int]) -> dict[str, Any]:
        from distillgraph.trainer.evaluate_ner import ner_metrics

        n = [len(g.split(" ")) for g in gold]
        filled = [p if p else " ".join(["O"] * k) for p, k in zip(pred, n, strict=True)]
        return ner_metrics(gold, filled, self.task.label_names, clusters)

    def shown_target(self, text: str, target: str) -> str:
        from distillgraph.agents.annotator import shown_target

        return shown_target(self.task, text, target)

    def normalize_text(self, text: str) -> str:
        from distillgraph.store.ner import tokenize

        return " ".join(tokenize(text))

    def correct(self, gold: str, pred: str | None) -> bool:
        from distillgraph.store.ner import spans

        return pred is not None and set(spans(gold.split(" "))) == set(spans(pred.split(" ")))

    def outcomes(self, gold: str, pred: str | None) -> list[tuple[str, bool, str]]:
        """One unit per gold entity (right when the same span has the same type; else the type predicted
        on that span, or "missed") and one per predicted entity that is not gold ("spurious")."""
        from distillgraph.store.ner import spans

        g = spans(gold.split(" "))
        p = spans(pred.split(" ")) if pred else []
        by_range = {(s.start, s.end): s.type for s in p}
        units = [(s.type, by_range.get((s.start, s.end)) == s.type, by_range.get((s.start, s.end), "missed"))
                 for s in g]
        gold_set = set(g)
        return units + [(s.type, False, "spurious") for s in p if s not in gold_set]


KINDS: dict[str, type[TaskKind]] = {k.type: k for k in (Classification, Generation, Ner)}


def task_kind(task: TaskConfig) -> TaskKind:
    return KINDS[task.type](task)


def measures_quality(kind: Any) -> bool:
    """Whether the task kind (a TaskKind or its class) scores the student's quality (`quality_key`): the kinds
    on which the quality-dependent defaults (the cold start's check, the surplus scope) were chosen."""
    return bool(getattr(kind, "quality_key", ""))
