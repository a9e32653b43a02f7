"""Label gating: a confidence for every teacher label from what the run already has, and what to do below a
threshold (drop the label, or down-weight it in training).

Signals (each in 0..1; a missing one is left out and the weights of the others renormalised):

* votes: the share of self-consistency votes for the winning label (absent with a single vote);
* neighbours: the share of the retrieved labelled Chroma neighbours (the annotator's demonstrations) whose
  label is the teacher's label;
* student: the current student's probability of the teacher's label.

`teacher.gate.mode`: ``off`` (default), ``drop`` (weight 0: kept in the dataset, so never bought again, but not
trained on and not shown as a demonstration) or ``weight`` (below the threshold the sample weight is the
confidence / threshold: a label at half the threshold counts half).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from distillgraph.agents.config import GateConfig
from distillgraph.agents.records import Annotation


@dataclass
class Signals:
    votes: float | None = None
    neighbours: float | None = None
    student: float | None = None


def signals_for(ann: Annotation, *, votes_asked: int, known: Mapping[str, str],
                student_probs: Mapping[str, float] | None) -> Signals:
    """The three signals of one annotation (`known`: id -> label of everything labelled so far)."""
    votes = ann.agreement if votes_asked > 1 else None
    labels = [known[i] for i in ann.neighbour_ids if i in known]
    neighbours = sum(label == ann.target for label in labels) / len(labels) if labels else None
    student = float(student_probs.get(ann.target, 0.0)) if student_probs else None
    return Signals(votes=votes, neighbours=neighbours, student=student)


def confidence(s: Signals, cfg: GateConfig) -> float | None:
    """Weighted mean of the available signals; None when there is none."""
    parts = [(v, w) for v, w in ((s.votes, cfg.w_votes), (s.neighbours, cfg.w_neighbours), (s.student, cfg.w_student))
             if v is not None and w > 0]
    total = sum(w for _, w in parts)
    return sum(v * w for v, w in parts) / total if total else None


def weight_for(conf: float | None, cfg: GateConfig) -> float:
    if cfg.mode == "off" or conf is None or conf >= cfg.threshold:
        return 1.0
    if cfg.mode == "drop":
        return 0.0
    return max(conf / cfg.threshold, cfg.min_weight) if cfg.threshold > 0 else 1.0


def gate(anns: Sequence[Annotation], signals: Sequence[Signals], cfg: GateConfig) -> tuple[list[Annotation], dict[str, Any]]:
    """Annotations with `gate` (confidence) and `weight` set; a summary for the trace."""
    out, low = [], 0
    for ann, s in zip(anns, signals, strict=True):
        conf = confidence(s, cfg)
        w = weight_for(conf, cfg)
        low += conf is not None and conf < cfg.threshold
        out.append(ann.model_copy(update={"gate": None if conf is None else round(conf, 4), "weight": round(w, 4)}))
    summary = {"mode": cfg.mode, "threshold": cfg.threshold, "labels": len(out), "below_threshold": low,
               "dropped": sum(a.weight == 0 for a in out) if cfg.mode == "drop" else 0,
               "down_weighted": sum(0 < a.weight < 1 for a in out)}
    return out, summary
