"""The annotator: the teacher labels each candidate (or writes its target output), with a rationale,
using retrieved labelled neighbours as demonstrations; optional self-consistency voting."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from distillgraph.agents.records import Annotation, Candidate
from distillgraph.agents.schemas import (
    EntitiesAnswer,
    LabelAnswer,
    OutputAnswer,
    entities_answer_schema,
    label_answer_schema,
)
from distillgraph.agents.teacher import TeacherRequest, TeacherResult
from distillgraph.prompts import PromptLibrary
from distillgraph.store.ner import align_entities, entities_of
from distillgraph.store.schema import TaskConfig


@dataclass
class AnnotationJob:
    candidate: Candidate
    text: str
    demonstrations: list[dict[str, Any]]  # {id, text, target}


def annotation_requests(
    jobs: list[AnnotationJob], *, task: TaskConfig, prompts: PromptLibrary, votes: int, node: str = "annotator"
) -> list[TeacherRequest]:
    """votes requests per job (sample_index = vote number), in job order."""
    tpl = prompts.get("annotator")
    schema, kind = answer_schema(task)
    reqs = []
    for job in jobs:
        messages = tpl.render(
            task_type=task.type, instruction=task.instruction, labels=task.labels,
            demonstrations=[{"text": d["text"], "target": shown_target(task, d["text"], d["target"])}
                            for d in job.demonstrations], text=job.text,
        )
        for v in range(votes):
            reqs.append(TeacherRequest(
                node=node, messages=messages, schema=schema, prompt_name=tpl.name, prompt_hash=tpl.hash,
                sample_index=v, example_id=job.candidate.id, kind=kind,
            ))
    return reqs


def answer_schema(task: TaskConfig) -> tuple[type[BaseModel], str]:
    """(answer schema, request kind) of a labelling request for this task type."""
    if task.type == "classification":
        return label_answer_schema(tuple(task.label_names)), "label"
    if task.type == "ner":
        return entities_answer_schema(tuple(task.label_names)), "entities"
    return OutputAnswer, "output"


def shown_target(task: TaskConfig, text: str, target: str) -> str:
    """A demonstration's target as the teacher is asked to answer it (ner: the entities as JSON, not tags)."""
    if task.type != "ner":
        return target
    return json.dumps(entities_of(text.split(" "), target.split(" ")), ensure_ascii=False)


@dataclass
class AnnotationOutcome:
    accepted: list[Annotation]
    rejected: list[dict[str, Any]]  # {id, reason}
    entities_dropped: list[dict[str, Any]] = field(default_factory=list)  # ner: {id, text, type, reason}


def _answer(res: TeacherResult, task: TaskConfig, text: str,
            dropped: list[dict[str, Any]]) -> tuple[str | None, str, float, str | None]:
    """(target, rationale, confidence, rejection reason) of one vote; entities not in the text go to `dropped`."""
    if not res.ok or res.parsed is None:
        return None, "", 0.0, "skipped: budget" if res.skipped_budget else f"failed: {res.error}"
    p = res.parsed
    if isinstance(p, EntitiesAnswer):
        tags, bad = align_entities(text.split(" "), [e.model_dump() for e in p.entities], task.label_names)
        dropped += [{"id": res.request.example_id, **b} for b in bad]
        return " ".join(tags), p.rationale, p.confidence, None
    if isinstance(p, LabelAnswer):
        label = p.label.strip()
        if label not in task.labels:
            return None, p.rationale, p.confidence, f"label outside the label set: {label!r}"
        return label, p.rationale, p.confidence, None
    if isinstance(p, OutputAnswer):
        out = p.output.strip()
        return (out, p.rationale, p.confidence, None) if out else (None, p.rationale, 0.0, "empty output")
    return None, "", 0.0, f"unexpected answer type {type(p).__name__}"


def collect(
    jobs: list[AnnotationJob], results: list[TeacherResult], *, task: TaskConfig, votes: int, teacher_model: str
) -> AnnotationOutcome:
    """Majority vote per job; a job whose votes all failed or fell outside the label set is rejected."""
    accepted: list[Annotation] = []
    rejected: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    for j, job in enumerate(jobs):
        answers = [_answer(r, task, job.text, dropped) for r in results[j * votes : (j + 1) * votes]]
        valid = [a for a in answers if a[0] is not None]
        if not valid:
            rejected.append({"id": job.candidate.id, "reason": answers[0][3] if answers else "no answer"})
            continue
        counts = Counter(a[0] for a in valid)
        winner, n = counts.most_common(1)[0]
        first = next(a for a in valid if a[0] == winner)
        c = job.candidate
        prompt_hash = results[j * votes].request.prompt_hash
        accepted.append(Annotation(
            id=c.id, target=str(winner), rationale=first[1].strip()[:1000], confidence=float(first[2]),
            cluster=c.cluster, source=c.source if c.source != "pool" else "pool", round=c.round, text=c.text,
            teacher_model=teacher_model, prompt_hash=prompt_hash, neighbour_ids=[d["id"] for d in job.demonstrations],
            votes=[str(a[0]) for a in valid], agreement=n / len(answers),
        ))
    return AnnotationOutcome(accepted=accepted, rejected=rejected, entities_dropped=dropped)
