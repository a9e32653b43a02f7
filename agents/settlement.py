"""Budget settlement for teacher calls: reserve an upper bound, settle actual (or replayed) usage, build results.

Per request (`Job`) and stage (0: the first call, 1: the one repair): `reserve` holds 1 call + the prompt's
token bound + max_tokens before the call; `settle` replaces it by what the answer used, by what the cache
record says the original run was charged, or releases it when no answer came. A timed-out attempt may have
been billed after the client gave up: `charge_lost` charges its reservation in full and the retry reserves
afresh (`reserve_retry`). The cache record keeps those lost charges, so a replay charges exactly what the
original run did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distillgraph.agents.budget import Amount, BudgetLedger, Reservation
from distillgraph.agents.structured import Answer
from distillgraph.agents.teacher_types import TeacherRequest, TeacherResult, skipped_result


@dataclass
class Job:
    """Mutable per-item state while the item is in flight."""

    request: TeacherRequest
    key: str
    bound_in: int  # upper bound of the first call's prompt tokens
    reservation: Reservation | None = None
    skipped: bool = False  # the first call did not fit the budget
    record: dict[str, Any] | None = None  # cache hit
    answers: list[Answer] = field(default_factory=list)
    repair_messages: list[dict] | None = None
    repair_bound_in: int = 0
    error: str | None = None
    failure: BaseException | None = None  # UserError to raise once the calls in flight are settled
    failed_attempts: int = 0  # HTTP attempts of calls that gave up without an answer

    @property
    def last(self) -> Answer | None:
        return self.answers[-1] if self.answers else None


Emit = Callable[..., None]  # (kind, job, **fields)


class Settlement:
    """Reserve / settle / release against the ledger for every stage of a job, and the job's result."""

    def __init__(self, ledger: BudgetLedger, max_tokens: int, emit: Emit):
        self.ledger = ledger
        self.max_tokens = max_tokens
        self._emit = emit

    # -- before a call --

    def reserve(self, job: Job, bound_in: int, repair: bool = False, final: bool = True) -> bool:
        """Reserve the call's upper bound. A miss that is not `final` (the caller tries again once the calls
        in flight are settled) leaves the job as it was: not skipped, not counted, no event."""
        job.reservation = self.ledger.reserve(job.request.node, bound_in, self.max_tokens, final=final)
        if job.reservation is None and not final:
            return False
        if job.reservation is None:
            if repair:
                job.error = "budget exhausted before the repair call: " + (job.error or "")
            else:
                job.skipped = True
            self._emit("skipped_budget", job, repair=repair)
            return False
        return True

    def reserve_retry(self, job: Job, bound_in: int) -> bool:
        """A new reservation for the attempt after a charged timeout (False: the budget cannot pay it)."""
        job.reservation = self.ledger.reserve(job.request.node, bound_in, self.max_tokens)
        return job.reservation is not None

    def charge_lost(self, job: Job, lost: Amount) -> None:
        """A timed-out request may still be answered and billed: charge its reservation in full."""
        res = job.reservation
        if res is None:
            return
        self.ledger.settle(res, res.amount.tokens, 0, usd=res.amount.usd)
        job.reservation = None
        lost.add(res.amount)

    # -- after a call --

    def settle(self, job: Job, stage: int) -> None:
        """Charge the ledger for stage 0 (first call) or 1 (repair) with actual or cached usage.

        No reservation left means a timed-out last attempt already charged it (see `charge_lost`)."""
        if job.reservation is None:
            return
        if job.record is not None:
            self._settle_cached(job, stage)
        elif len(job.answers) > stage:
            answer = job.answers[stage]
            self.ledger.settle(job.reservation, answer.input_tokens, answer.output_tokens)
            if answer.parsed is None:
                self.ledger.record_failure("parse")
        else:
            self.ledger.release(job.reservation)
        job.reservation = None

    def _settle_cached(self, job: Job, stage: int) -> None:
        assert job.record is not None and job.reservation is not None
        usage = job.record["stages"][stage]
        lost = usage.get("lost_calls", 0)
        self.ledger.settle(job.reservation, usage["input_tokens"] + usage.get("lost_tokens", 0),
                           usage["output_tokens"], calls=1 + lost, cached=True,
                           usd=usage["usd"] + usage.get("lost_usd", 0.0))
        if stage == 1 or len(job.record["stages"]) == 1:
            self._emit("cache_hit", job)
        else:
            job.repair_bound_in = usage["repair_estimate_in"]

    def finish(self, job: Job) -> None:
        """Cache hits are rebuilt from the record; fresh failures are counted and reported."""
        if job.record is not None:
            return
        answer = job.last
        if answer is not None and answer.parsed is None and not job.error:
            job.error = "answer did not match the schema after one repair: " + (answer.error or "")
        if job.error:
            self._emit("failed", job, error=job.error)

    # -- what the caller gets and what the cache keeps --

    def result(self, job: Job) -> TeacherResult:
        request = job.request
        if job.skipped:
            return skipped_result(request, job.key)
        if job.record is not None:
            return self._cached_result(job)
        answers = job.answers
        tokens_in = sum(a.input_tokens for a in answers)
        tokens_out = sum(a.output_tokens for a in answers)
        parsed = answers[-1].parsed if answers and not job.error else None
        raw = answers[-1].raw if answers else ""
        return TeacherResult(request, parsed, raw, job.error, False, tokens_in, tokens_out,
                             self.ledger.cost(tokens_in, tokens_out),
                             sum(a.attempts for a in answers) + job.failed_attempts,
                             job.key, skipped_budget=job.error is not None and job.error.startswith("budget"))

    def _cached_result(self, job: Job) -> TeacherResult:
        record = job.record
        assert record is not None
        if job.error:  # the recorded repair no longer fits the budget
            return skipped_result(job.request, job.key, job.error, raw=record["raw"], cached=True)
        stages = record["stages"]
        parsed = job.request.schema.model_validate(record["parsed"])
        return TeacherResult(job.request, parsed, record["raw"], None, True,
                             sum(s["input_tokens"] for s in stages), sum(s["output_tokens"] for s in stages),
                             sum(s["usd"] for s in stages), 0, job.key)

    def record(self, job: Job, model: str) -> dict[str, Any]:
        """The cache record of a valid answer: the answer and what every stage was charged."""
        stages = [self._stage(job, i, answer) for i, answer in enumerate(job.answers)]
        last = job.answers[-1]
        assert last.parsed is not None
        request = job.request
        return {
            "model": model,
            "node": request.node,
            "kind": request.kind,
            "prompt_name": request.prompt_name,
            "example_id": request.example_id,
            "raw": last.raw,
            "parsed": last.parsed.model_dump(mode="json"),
            "stages": stages,
            "created": time.time(),
        }

    def _stage(self, job: Job, i: int, answer: Answer) -> dict[str, Any]:
        stage: dict[str, Any] = {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens,
                                 "usd": self.ledger.cost(answer.input_tokens, answer.output_tokens)}
        if i == 0 and len(job.answers) > 1:
            stage["repair_estimate_in"] = job.repair_bound_in  # the name older caches use
        if answer.lost.calls:
            stage.update(lost_calls=answer.lost.calls, lost_tokens=answer.lost.tokens, lost_usd=answer.lost.usd)
        return stage
