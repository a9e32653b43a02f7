"""Helpers the nodes share: asking the teacher (with trace events), the ledger as the state keeps it, and
lookups by id that take synthetic examples from the state (so a resumed process agrees with the one
that crashed)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillgraph.agents.records import Annotation, Candidate
from distillgraph.agents.teacher import TeacherRequest, TeacherResult
from distillgraph.graph.deps import Deps
from distillgraph.graph.state import DistillState, labelled_ids
from distillgraph.store.schema import Example


def ask(deps: Deps, requests: list[TeacherRequest]) -> list[TeacherResult]:
    """The teacher's answers, in request order; each one is a trace event."""
    results = deps.teacher.ask_many(requests) if requests else []
    for req, res in zip(requests, results, strict=True):
        deps.trace.event(
            "teacher", node=req.node, prompt=req.prompt_name, example_id=req.example_id,
            sample_index=req.sample_index, prompt_hash=req.prompt_hash,
            messages=req.messages if deps.trace_prompts else None,
            raw=res.raw, parsed=res.parsed.model_dump() if res.parsed is not None else None,
            error=res.error, cached=res.cached, skipped_budget=res.skipped_budget,
            tokens=res.input_tokens + res.output_tokens, attempts=res.attempts,
        )
    return results


def prefix_order(requests: list[TeacherRequest]) -> list[int]:
    """The order to send a batch in so that consecutive prompts share the longest prefixes: sorted by their
    messages (stable, so a request's self-consistency votes stay together). A server that keeps the last
    prompt's evaluated tokens (llama.cpp) or caches prefixes (OpenAI, vLLM) then skips the shared part:
    labelling prompts that start with the same demonstrations cost only their tail."""
    return sorted(range(len(requests)), key=lambda i: [(m["role"], m["content"]) for m in requests[i].messages])


def ask_prefix_ordered(deps: Deps, requests: list[TeacherRequest]) -> list[TeacherResult]:
    """`ask`, sent in `prefix_order`; the answers come back in request order. If the budget runs out
    part-way, the requests left unanswered are the last in that order, not the last given."""
    order = prefix_order(requests)
    results = ask(deps, [requests[i] for i in order])
    back: list[TeacherResult | None] = [None] * len(requests)
    for i, res in zip(order, results, strict=True):
        back[i] = res
    return [r for r in back if r is not None]


def ledger_state(deps: Deps) -> dict[str, Any]:
    """The ledger as checkpointed: `exhausted` once one more (voted) call no longer fits."""
    votes = deps.cfg.teacher.self_consistency
    d = deps.ledger.to_dict()
    per_call = max(deps.est_tokens_per_call, deps.reserve_tokens_per_call)  # the teacher reserves the bound
    d["exhausted"] = not deps.ledger.can_afford(calls=votes, tokens=per_call * votes)
    return d


@dataclass(frozen=True)
class Lookup:
    """Text and cluster of an example id: the data's splits from Deps, synthetic ones from the state."""

    examples: Mapping[str, Example]
    assignments: Mapping[str, int]
    synthetic_text: Mapping[str, str]
    synthetic_cluster: Mapping[str, int]

    def text(self, ex_id: str) -> str:
        ex = self.examples.get(ex_id)
        return ex.text if ex is not None else self.synthetic_text[ex_id]

    def cluster(self, ex_id: str) -> int:
        c = self.assignments.get(ex_id)
        return c if c is not None else self.synthetic_cluster.get(ex_id, 0)


def lookup(deps: Deps, state: DistillState) -> Lookup:
    items: list[Annotation | Candidate] = [*state.get("dataset", []), *state.get("candidates", [])]
    synthetic = [i for i in items if i.id not in deps.examples]
    return Lookup(deps.examples, deps.assignments(), {i.id: i.text for i in synthetic if i.text},
                  {i.id: i.cluster for i in synthetic})


def targets(deps: Deps, state: DistillState) -> dict[str, str]:
    """id -> target of everything labelled that may serve as a demonstration or training item."""
    out = {e.id: e.target for e in deps.data["seed"] if e.target is not None}
    out.update({a.id: a.target for a in state.get("dataset", []) if a.weight > 0})  # not labels gated out
    return out


def demonstration_targets(deps: Deps, state: DistillState) -> dict[str, str]:
    """id -> target of what the annotator may be shown: every label so far, or only the gold seed labels
    (`teacher.demonstrations_from: gold`)."""
    known = targets(deps, state)
    if deps.cfg.teacher.demonstrations_from == "gold":
        gold = {e.id for e in deps.data["seed"]}
        return {i: t for i, t in known.items() if i in gold}
    return known


def available_per_cluster(deps: Deps, state: DistillState, look: Lookup) -> Counter[int]:
    """Unlabelled pool examples per cluster (clusters with none left are absent): the pool's sizes less the
    labelled ones, so a round costs the labelled count, not the pool's."""
    avail = deps.pool_sizes().copy()
    avail.subtract(look.cluster(i) for i in labelled_ids(state) if i in deps.pool_ids)
    return +avail


def unlabelled_pool(deps: Deps, state: DistillState) -> list[str]:
    taken = labelled_ids(state)
    return [e.id for e in deps.data["pool"] if e.id not in taken]


def ensure_student(deps: Deps, state: DistillState) -> None:
    """After a resume the in-memory student may not hold the latest adapter: load it."""
    rnd = state.get("round", 0)
    if deps.student_round != rnd and state.get("adapter"):
        deps.student.load(Path(state["adapter"]))
        deps.student_round = rnd


def shown_dev(example_id: str) -> bool:
    """The half of the dev set, fixed by id (sha256 parity), that a `loop.hard_anchor: dev_half` writer is shown;
    the other half is never shown to it."""
    return hashlib.sha256(example_id.encode("utf-8")).digest()[0] % 2 == 0


def writer_dev_rows(state: DistillState, anchor: str) -> list[dict[str, Any]]:
    """The dev prediction rows the writer may learn from (error texts, missed labels): all of them, or with
    `hard_anchor: dev_half` only the shown half."""
    rows = state.get("dev_predictions", [])
    return [r for r in rows if shown_dev(r["id"])] if anchor == "dev_half" else rows


def missed_labels(rows: list[dict[str, Any]], labels: list[str],
                  correct: Callable[[list[dict[str, Any]]], list[bool]]) -> dict[int, list[str]]:
    """cluster -> the gold labels of the student's wrong dev predictions there, most often first (ties: label
    order). Label names only, so no dev text reaches the writer; empty for tasks whose targets are not labels."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for r, ok in zip(rows, correct(rows) if rows else [], strict=True):
        if not ok and r["gold"] in labels:
            counts[r["cluster"]][r["gold"]] += 1
    return {c: sorted(n, key=lambda g: (-n[g], labels.index(g))) for c, n in counts.items()}


def writer_missed_labels(deps: Deps, state: DistillState) -> dict[int, list[str]]:
    """`missed_labels` of the dev rows the writer may learn from (`loop.hard_anchor`): what the generator names to
    the writer and what `weak_synth_labels: rare` reads (node_analyst.weak_writers)."""
    rows = writer_dev_rows(state, deps.cfg.loop.hard_anchor)
    return missed_labels(rows, deps.cfg.task.label_names, deps.correct_flags)


def anchor_rows(state: DistillState, anchor: str) -> list[dict[str, Any]]:
    """The prediction rows whose errors the hard synthetic samples are written near (`loop.hard_anchor`): the
    round's new labels before training on them, every dev row, or the shown half of dev."""
    return state.get("label_predictions", []) if anchor == "labelled" else writer_dev_rows(state, anchor)


def can_write(deps: Deps) -> bool:
    """Whether this run may synthesise: a policy that does, a teacher that writes, synthesis not off."""
    return deps.policy.synthesizes and deps.teacher_can("synth") and deps.cfg.loop.synthesis != "off"


def writes_now(deps: Deps, state: DistillState) -> bool:
    """Whether this round may synthesise: `can_write`, unless the writer check (`loop.writer_check`) found that
    the run's synthetic texts did not raise the student's dev metric."""
    return can_write(deps) and not (state.get("writer_check") or {}).get("stopped", False)


def pays_analysis(deps: Deps, state: DistillState) -> bool:
    """Whether this round asks the teacher for its weakness report (`loop.teacher_analysis`): a policy that uses
    it, a teacher that analyses, and (auto) a round that may synthesise, the report's one reader."""
    return (deps.cfg.loop.wants_analysis(writes_now(deps, state)) and deps.policy.uses_analysis
            and deps.teacher_can("analyse"))
