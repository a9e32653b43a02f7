"""The annotator node, and the labelling it shares with bootstrap: the teacher labels candidates with
their nearest labelled examples as demonstrations; accepted labels are marked in the vector store."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from distillgraph.agents.annotator import AnnotationJob, annotation_requests, collect
from distillgraph.agents.records import Annotation, Candidate
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_quality import gate_labels, regate
from distillgraph.graph.node_tools import Lookup, ask_prefix_ordered, demonstration_targets, lookup
from distillgraph.graph.state import DistillState
from distillgraph.store.index import add_samples


def annotator(state: DistillState, deps: Deps) -> dict[str, Any]:
    rnd = state["round"]
    cands = state.get("candidates", [])
    accepted, rejected = annotate(deps, state, cands, "annotator")
    accepted, gating = gate_labels(deps, state, accepted)  # a confidence per label; teacher.gate drops / weights
    accepted, regated = regate(deps, state, accepted)      # teacher.gate.regate_k: all labels against all labels
    was_out = {a.id for a in state.get("dataset", []) if a.weight == 0}    # re-gating may let one back in
    mark_labelled(deps, [a for a in accepted if a.weight > 0] + [a for a in regated if a.weight > 0 and a.id in was_out],
                  rnd)
    by_label = dict(Counter(a.target for a in accepted)) if deps.cfg.task.type == "classification" else {}
    return {"dataset": {"add": accepted, "update": regated} if regated else accepted, "rejected": rejected,
            "candidates": [],
            "_summary": {"candidates": len(cands), "accepted": len(accepted), "rejected": len(rejected),
                         "by_label": by_label, **({"gated_out": gating["dropped"]} if gating.get("dropped") else {})}}


def annotate(deps: Deps, state: DistillState, cands: list[Candidate],
             node: str) -> tuple[list[Annotation], list[dict[str, Any]]]:
    """The teacher's accepted annotations of `cands` and the rejected ones (each a trace decision)."""
    if not cands:
        return [], []
    look, known = lookup(deps, state), demonstration_targets(deps, state)
    texts = [c.text if c.text else look.text(c.id) for c in cands]
    vecs = deps.vectors([c.id for c in cands], texts)
    labelled = Labelled(deps, look, known)
    jobs = [AnnotationJob(c, t, labelled.demonstrations(v, c.id, deps.cfg.teacher.demonstrations))
            for c, t, v in zip(cands, texts, vecs, strict=True)]
    votes = deps.cfg.teacher.self_consistency
    reqs = annotation_requests(jobs, task=deps.cfg.task, prompts=deps.prompts, votes=votes, node=node)
    results = ask_prefix_ordered(deps, reqs)  # shared demonstrations: a local teacher skips re-reading them
    out = collect(jobs, results, task=deps.cfg.task, votes=votes, teacher_model=deps.teacher.model)
    for r in out.rejected:
        deps.trace.decision("reject", **r)
    for d in out.entities_dropped:  # ner: an entity the teacher named that is not in the text (or of no known type)
        deps.trace.decision("entity_rejected", **d)
    return out.accepted, out.rejected


class Labelled:
    """The labelled examples (the state, not Chroma's flags, says what is labelled) with their cached vectors,
    for demonstrations: the nearest by cosine, searched exactly among them. They are a few hundred or
    thousand, so this costs the same in a pool of 2k or 100k texts (a Chroma query restricted to them
    costs in proportion to the collection: ~35 ms per query at 100k)."""

    def __init__(self, deps: Deps, look: Lookup, known: dict[str, str]):
        self.look, self.known = look, known
        self.ids = list(known)
        self.vectors = deps.vectors(self.ids, [look.text(i) for i in self.ids]) if self.ids else None

    def demonstrations(self, vector: np.ndarray, exclude: str, k: int) -> list[dict[str, Any]]:
        if k <= 0 or self.vectors is None:
            return []
        order = np.argsort(-(self.vectors @ np.asarray(vector, dtype=np.float32)), kind="stable")
        nearest = [self.ids[j] for j in order[: k + 1] if self.ids[j] != exclude][:k]
        return [{"id": i, "text": self.look.text(i), "target": self.known[i]} for i in nearest]


def mark_labelled(deps: Deps, anns: list[Annotation], round_: int) -> None:
    """Store the accepted labels with their examples (new synthetic ones are embedded and added)."""
    exs = []
    for a in anns:
        base = deps.examples.get(a.id)
        exs.append(deps.kind.example(a.id, base.text if base is not None else (a.text or ""),
                                     base.split if base is not None else "synthetic", a.target))
    if exs:
        add_samples(exs, round=round_, source="labelled", embedder=deps.embedder, store=deps.store,
                    clustering=deps.clustering(), data_dir=deps.data_dir)
