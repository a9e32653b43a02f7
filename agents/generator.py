"""The generator's LLM-facing half: the teacher writes new inputs for a cluster (EvoKD: easy + hard).

Selecting from the pool is pure scoring + diversity (trainer/selection.py); this module only asks
for new texts. Labels are NOT written here: the annotator labels them in separate calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillgraph.agents.records import Candidate
from distillgraph.agents.schemas import SynthBatch, synth_batch_schema
from distillgraph.agents.teacher import TeacherRequest, TeacherResult
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import TaskConfig, content_id


@dataclass
class SynthJob:
    cluster: int
    cluster_name: str
    n: int
    weakness: str
    examples: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    missed: list[str] = field(default_factory=list)  # labels the student gets wrong here on dev, most often first


RETRY_STRIDE = 1_000_000_000  # sample_index offset per top-up attempt: the first pass keeps its earlier index
SYNTH_CONTEXT = "synth_context"  # TeacherRequest.context key read by simulated writers (agents/simulated.py)


def synth_context(job: SynthJob, n: int, hard: int) -> dict[str, Any]:
    """What a simulated writer needs that the prompt only says in prose: how many, which labels (those of the
    student's errors first, then of the cluster's examples; hard ones: also the labels it misses on dev), and the
    texts to write near."""
    def part(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
        return {"labels": list(dict.fromkeys(str(e["target"]) for e in rows if e.get("target"))),
                "anchors": [str(e["text"])[:1000] for e in rows if e.get("text")]}

    both, hard_part, easy = part([*job.errors, *job.examples]), part(job.errors), part(job.examples)
    if job.missed:  # hard ones of the labels the student misses, near its errors (else near the examples)
        hard_part = {"labels": list(dict.fromkeys([*hard_part["labels"], *job.missed])),
                     "anchors": hard_part["anchors"] or easy["anchors"]}
    # as the prompt asks: hard samples near the student's errors, easy ones near the cluster's examples
    return {"n": n, "n_hard": hard, "cluster": job.cluster, **both, "hard": hard_part, "easy": easy}


def split_easy_hard(n: int, easy_fraction: float) -> tuple[int, int]:
    """(hard, easy) counts for n samples; at least one easy sample once n >= 2 (EvoKD's ablation)."""
    easy = int(round(n * easy_fraction))
    if n >= 2 and easy_fraction > 0:
        easy = max(easy, 1)
    return n - easy, easy


def synth_requests(
    jobs: list[SynthJob], *, task: TaskConfig, prompts: PromptLibrary, per_call: int, easy_fraction: float,
    round_: int, temperature: float, attempt: int = 0,
) -> list[tuple[SynthJob, TeacherRequest]]:
    """One request per `per_call` samples; sample_index keeps the calls of a round distinct in the cache, and
    a later `attempt` (asking again for what an earlier pass did not deliver) distinct from the first."""
    tpl = prompts.get("generator")
    out = []
    for job in jobs:
        calls = math.ceil(job.n / per_call)
        for k in range(calls):
            n = min(per_call, job.n - k * per_call)
            hard, easy = split_easy_hard(n, easy_fraction)
            messages = tpl.render(
                task_type=task.type, instruction=task.instruction, labels=task.labels,
                cluster_name=job.cluster_name, weakness=job.weakness or "(none identified)",
                examples=job.examples, errors=job.errors, missed=job.missed, n_hard=hard, n_easy=easy,
            )
            req = TeacherRequest(
                node="generator", messages=messages, schema=synth_batch_schema(n), prompt_name=tpl.name,
                prompt_hash=tpl.hash, sample_index=round_ * 10_000 + job.cluster * 100 + k + attempt * RETRY_STRIDE,
                temperature=temperature, kind="synth", context={SYNTH_CONTEXT: synth_context(job, n, hard)},
            )
            out.append((job, req))
    return out


def candidates_from_answers(
    pairs: list[tuple[SynthJob, TeacherRequest]], results: list[TeacherResult], round_: int, max_chars: int,
    normalize: Callable[[str], str] = str.strip,
) -> tuple[list[Candidate], int]:
    """Synthetic candidates (id = content hash), at most `job.n` per job; returns (candidates, failed calls).
    `normalize` puts a written text in the task's form (ner: tokens joined by single spaces)."""
    taken: dict[int, int] = {}
    seen: set[str] = set()
    out, failed = [], 0
    for (job, _), res in zip(pairs, results, strict=True):
        if not res.ok or not isinstance(res.parsed, SynthBatch):
            failed += 1
            continue
        for s in res.parsed.samples:
            text = normalize(s.text.strip()[:max_chars])
            cid = content_id(text, prefix="syn-")
            if len(text) < 8 or cid in seen or taken.get(job.cluster, 0) >= job.n:
                continue
            seen.add(cid)
            taken[job.cluster] = taken.get(job.cluster, 0) + 1
            out.append(Candidate(id=cid, cluster=job.cluster, source="synthetic", round=round_, text=text,
                                 difficulty=s.difficulty, weakness=job.weakness or None))
    return out, failed
