"""Teacher quality inside the loop: the teacher audit after the round-0 trainer, label gating in the annotator.

The logic lives in agents/audit.py and agents/gating.py; this module gives it what the nodes have (the
annotator's labelling path, the student, the state's labels) and writes the trace decisions.
"""

from __future__ import annotations

from typing import Any

from distillgraph.agents.audit import audit_sample, planned_audit, score_audit
from distillgraph.agents.gating import (
    Signals,
    confusion_from,
    gate,
    knn_label_counts,
    label_priors,
    out_of_fold,
    signals_for,
    teacher_reliability,
)
from distillgraph.agents.records import Annotation, Candidate
from distillgraph.agents.simulated import teacher_description
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_tools import ensure_student, lookup, targets
from distillgraph.graph.state import DistillState


def audit_plan(deps: Deps, state: DistillState) -> tuple[int, list[Any], list[Any]]:
    """(items the teacher audit will label, its gold seeds, its gold dev items): 0 items for a task kind other
    than classification. The cold start reads it too, to leave the audit its calls."""
    cfg = deps.cfg
    gold_dev = [] if state.get("dev_labels") else [e for e in deps.data["dev"] if e.target is not None]
    seeds = [e for e in deps.data["seed"] if e.target is not None]
    if cfg.task.type != "classification":
        return 0, seeds, gold_dev
    spent = float(deps.ledger.to_dict()["spent"].get("calls", 0))
    budget_calls = float(cfg.budget.max_calls) if cfg.budget.max_calls else deps.calls_left() + spent
    return planned_audit(cfg.teacher, budget_calls, len(seeds) + len(gold_dev)), seeds, gold_dev


def teacher_audit(deps: Deps, state: DistillState, student_accuracy: float | None) -> dict[str, Any] | None:
    """Before the first paid round: the teacher labels a small gold sample (seed labels, then a gold dev set).

    Returns the audit record for the state (None when there is nothing to audit: a generation task, no gold,
    or a budget too small for a meaningful sample). Its calls are charged to the node `audit`.
    """
    from distillgraph.graph.node_annotator import annotate

    cfg = deps.cfg
    if cfg.task.type != "classification":
        return None
    tcfg = cfg.teacher
    spent = float(deps.ledger.to_dict()["spent"].get("calls", 0))
    n, seeds, gold_dev = audit_plan(deps, state)
    if n <= 0:
        deps.trace.decision("teacher audit", skipped=True, reason="teacher.audit: 0" if tcfg.audit == 0 else
                            "no gold items, an oracle, or a budget too small for 5 items")
        return None
    items = audit_sample(seeds, gold_dev, n, cfg.run.seed)
    cands = [Candidate(id=e.id, cluster=lookup(deps, state).cluster(e.id), source="pool", round=0) for e in items]
    accepted, rejected = annotate(deps, state, cands, "audit")
    calls = float(deps.ledger.to_dict()["spent"].get("calls", 0)) - spent
    answers: dict[str, str | None] = {a.id: a.target for a in accepted}
    result = score_audit(items, answers, teacher=teacher_description(tcfg), student_accuracy=student_accuracy,
                         action=tcfg.audit_action, calls=calls)
    record = result.to_dict()
    deps.trace.decision("teacher audit", **record, answers=answers, rejected=rejected)
    return record


def gate_labels(deps: Deps, state: DistillState, accepted: list[Annotation]) -> tuple[list[Annotation], dict[str, Any]]:
    """Every accepted label gets a confidence (votes, labelled neighbours, the student); `teacher.gate.mode`
    drops or down-weights the ones below the threshold. Classification only (the student's label probabilities)."""
    gcfg = deps.cfg.teacher.gate
    if not accepted or deps.cfg.task.type != "classification":
        return accepted, {}
    look, known = lookup(deps, state), targets(deps, state)
    preds: dict[str, str | None] = {}
    confusion = confusion_from(state.get("dev_predictions", []))
    # with re-gating on, these gates are replaced by `regate` right away: no student pass for them
    if gcfg.w_student > 0 and confusion and state.get("adapter") and gcfg.regate_k == 0:
        ensure_student(deps, state)
        texts = [a.text or look.text(a.id) for a in accepted]
        preds = {p.id: p.prediction for p in deps.student.predict([a.id for a in accepted], texts)}
    signals = [signals_for(a, votes_asked=deps.cfg.teacher.self_consistency, known=known,
                           student_pred=preds.get(a.id)) for a in accepted]
    audit = state.get("audit") or {}
    alpha = teacher_reliability(audit["correct"], audit["n"], gcfg.teacher_accuracy) if audit.get("n") else None
    gated, summary = gate(accepted, signals, deps.cfg.task.label_names, gcfg, confusion=confusion,
                          teacher_accuracy=alpha)
    for a, s in zip(gated, signals, strict=True):
        if a.weight < 1.0:
            deps.trace.decision("gate", id=a.id, label=a.target, confidence=a.gate, weight=a.weight,
                                votes=s.votes, neighbours=s.neighbours, student=s.student)
    deps.trace.decision("label gating", **summary)
    return gated, summary


def regate(deps: Deps, state: DistillState, new: list[Annotation]) -> tuple[list[Annotation], list[Annotation]]:
    """`teacher.gate.regate_k` > 0: every teacher label (earlier ones and this round's `new`) is gated again with
    the labels of its k nearest labelled examples among all labels so far (seed labels included, each label's
    share divided by its share of the labelled set) and its votes.
    Returns (the new labels re-gated, the earlier labels whose gate or weight changed)."""
    gcfg = deps.cfg.teacher.gate
    if gcfg.regate_k <= 0 or deps.cfg.task.type != "classification" or not (new or state.get("dataset")):
        return new, []
    look, earlier = lookup(deps, state), list(state.get("dataset", []))
    anns = [*earlier, *new]
    seeds = [(e.id, e.target) for e in deps.data["seed"] if e.target is not None]
    ids, labels = [i for i, _ in seeds] + [a.id for a in anns], [t for _, t in seeds] + [a.target for a in anns]
    vecs = deps.vectors(ids, [look.text(i) for i in ids])
    counts = knn_label_counts(vecs, labels, range(len(seeds), len(ids)), gcfg.regate_k)
    multi = deps.cfg.teacher.self_consistency > 1
    oof = out_of_fold(vecs, labels, seed=deps.cfg.run.seed)[len(seeds):] if gcfg.w_model > 0 else [None] * len(anns)
    signals = [Signals(votes=a.agreement if multi else None, neighbours=c, model=m)
               for a, c, m in zip(anns, counts, oof, strict=True)]
    audit = state.get("audit") or {}
    alpha = teacher_reliability(audit["correct"], audit["n"], gcfg.teacher_accuracy) if audit.get("n") else None
    names = deps.cfg.task.label_names
    gated, summary = gate(anns, signals, names, gcfg, teacher_accuracy=alpha, priors=label_priors(labels, names))
    changed = [g for g, a in zip(gated[: len(earlier)], earlier, strict=True) if (g.gate, g.weight) != (a.gate, a.weight)]
    deps.trace.decision("re-gating", k=gcfg.regate_k, out_of_fold=gcfg.w_model > 0, earlier_changed=len(changed),
                        **summary)
    return gated[len(earlier):], changed
