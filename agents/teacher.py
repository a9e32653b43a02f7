"""The teacher client: structured answers from any OpenAI-compatible endpoint, within a hard budget.

What one request goes through (`Teacher.ask_many`):
1. The request list goes through a sliding window: the budget is reserved IN REQUEST ORDER for up to
   `LOOKAHEAD x max_concurrency` items, at most `max_concurrency` calls are on the wire (a worker that is
   done starts the next reserved item at once), and answers are settled in request order; as soon as the
   oldest item is settled the next one is reserved (no window waits for its slowest answer before new
   calls start). Every ledger operation happens at a point fixed by the
   requests and their answers (a timed-out attempt's charge and its retry's reservation excepted: they
   happen when the timeout does), so the same requests and answers always give the same ledger and the
   same skipped items. A reservation is an upper bound of what the call can be billed
   (`budget.prompt_token_bound` of the messages and the schema sent with them, + max_tokens), and no call
   is made without one, so no concurrency can settle above a cap (`agents/settlement.py`).
2. A reserved item is answered from the cache (no HTTP, still charged to `spent`) or by the endpoint with
   retries (`agents/transport.py`). What counts against the caps is what a provider bills: answers (valid
   or not). A 429, a 5xx or a refused connection is not billed and not charged; a TIMED-OUT request may
   have been answered and billed after the client gave up, so it is charged at its reserved upper bound and
   the retry reserves afresh. When the endpoint cannot be connected to after every retry the run stops
   (TeacherUnreachable, resumable) instead of failing item after item.
3. The answer (tool-call arguments or JSON content) is validated against the pydantic schema
   (`agents/structured.py`). On failure ONE repair call is made (prompt `repair`), reserved in request order
   like the first call. If that fails too the item is returned with `error` set and `parsed` None: callers
   check `result.ok`.
4. A valid fresh answer is committed to the cache before it is returned.

API keys come from the env mapping given to `build_teacher` and are scrubbed from every error text.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillgraph.agents.budget import Amount, BudgetLedger
from distillgraph.agents.cache import AnswerCache, cache_key
from distillgraph.agents.config import TeacherConfig
from distillgraph.agents.settlement import Job, Settlement
from distillgraph.agents.structured import StructuredOutput, parse_answer
from distillgraph.agents.teacher_types import (
    KINDS,
    BaseTeacher,
    EventSink,
    TeacherRefused,
    TeacherRequest,
    TeacherResult,
    TeacherUnreachable,
    event,
    safe_url,
    scrub,
)
from distillgraph.agents.transport import (
    OPENAI_URL,
    CallFailed,
    Failure,
    Transport,
    classify_error,
    resolve_api_key,
    resolve_base_url,
)
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import UserError

if TYPE_CHECKING:
    from distillgraph.agents.local_server import LocalServer

LOOKAHEAD = 2  # items reserved ahead per concurrency slot: a free worker never waits for the oldest answer
HALTED = "not sent: an earlier call failed fatally"

__all__ = ["KINDS", "OPENAI_URL", "BaseTeacher", "EventSink", "Teacher", "TeacherRefused", "TeacherRequest",
           "TeacherResult", "TeacherUnreachable", "build_teacher", "classify_error", "parse_answer",
           "resolve_api_key", "resolve_base_url", "safe_url", "scrub"]


class Teacher(BaseTeacher):
    """Teacher behind an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server)."""

    def __init__(
        self,
        cfg: TeacherConfig,
        ledger: BudgetLedger,
        cache: AnswerCache,
        *,
        base_url: str,
        api_key: str,
        prompts: PromptLibrary,
        model: str | None = None,
        cache_identity: str | None = None,
        no_cache: bool = False,
        on_event: EventSink | None = None,
        server: LocalServer | None = None,
    ):
        self.cfg = cfg
        self.ledger = ledger
        self.cache = cache
        self.model = model or cfg.model
        self.base_url = base_url
        self._identity = cache_identity or safe_url(base_url)
        self.structured = StructuredOutput(cfg.structured_output, cfg.max_tokens, prompts.get("repair"))
        self.transport = Transport(cfg, self.structured, model=self.model, base_url=base_url, api_key=api_key)
        self.settlement = Settlement(ledger, cfg.max_tokens, self._emit)
        self.no_cache = no_cache
        self._on_event = on_event
        self.server = server  # the embedded llama.cpp server this teacher owns (provider local)
        self._event_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=cfg.max_concurrency, thread_name_prefix="teacher")
        self._queued_max = LOOKAHEAD * cfg.max_concurrency  # reserved items queued or in flight
        self._halt = threading.Event()  # set by a fatal failure: queued calls are not sent

    # -- public --

    def ask_many(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        jobs = [self._job(r) for r in requests]
        self._run(jobs)
        return [self.settlement.result(job) for job in jobs]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.server is not None:
            self.server.stop()

    # -- the sliding window --

    def _run(self, jobs: list[Job]) -> None:
        """At most max_concurrency calls on the wire; reserved in request order, settled in the order sent.

        Up to LOOKAHEAD x max_concurrency items are reserved and queued (the thread pool sends at most
        max_concurrency of them at once), so a worker that finishes a call starts the next one at once, even
        while an older answer is still awaited. The oldest item is settled as soon as it is answered, and then
        the next item is reserved: every ledger operation happens in an order fixed by the requests and their
        answers (the same order on a replay from the cache), and no call is made without its reservation.

        * An item that does not fit the budget while items are queued or in flight waits for them to be
          settled (they may free room); it is skipped only if it does not fit with nothing outstanding.
        * A repair is reserved after its first answer is settled, before any new item; one that does not fit
          waits likewise (no new item is reserved meanwhile), else it fails.
        * A repeated key waits until the first of its kind is settled, so it is answered from the cache
          instead of being paid for twice in parallel.
        * After a fatal failure (UserError) nothing new is sent (queued calls return unsent, their reservations
          released); it is raised once the calls in flight are settled."""
        self._halt.clear()
        flight: deque[tuple[Job, Future[None] | None, int]] = deque()  # (job, its call or None if cached, stage)
        pending, repairs = deque(jobs), deque[Job]()  # repairs: first answer settled, repair not yet reserved
        fatal: BaseException | None = None
        while True:
            self._queue_repairs(repairs, flight)
            if not repairs and fatal is None:
                self._queue_new(pending, flight)
            if not flight:
                break  # done, or a fatal failure: what was not reserved stays unanswered
            job, call, stage = flight.popleft()
            if call is not None:
                call.result()
            self.settlement.settle(job, stage=stage)
            if stage == 0 and self._needs_repair(job):
                repairs.append(job)
                continue
            self.settlement.finish(job)
            fatal = fatal or job.failure
        if fatal is not None:
            raise fatal

    def _queue_repairs(self, repairs: deque[Job], flight: deque) -> None:
        while repairs and len(flight) < self._queued_max:
            job = repairs[0]
            fits = self.settlement.reserve(job, job.repair_bound_in, repair=True, final=not flight)
            if not fits and flight:
                return  # wait for what is outstanding to be settled
            repairs.popleft()
            if not fits:
                self.settlement.finish(job)
                continue
            call = None if job.record is not None else self._pool.submit(self._repair_call, job)
            flight.append((job, call, 1))

    def _queue_new(self, pending: deque[Job], flight: deque) -> None:
        while pending and len(flight) < self._queued_max and not self._halt.is_set():
            job = pending[0]
            if any(j.key == job.key for j, _, _ in flight):
                return  # a repeat waits for the first of its kind: answered from the cache, not paid twice
            fits = self.settlement.reserve(job, job.bound_in, final=not flight)
            if not fits and flight:
                return  # wait for what is outstanding to be settled
            pending.popleft()
            if fits:
                job.record = None if self.no_cache else self.cache.get(job.key)
                call = None if job.record is not None else self._pool.submit(self._first_call, job)
                flight.append((job, call, 0))

    def _job(self, request: TeacherRequest) -> Job:
        params = {
            "temperature": self._temperature(request),
            "max_tokens": self.cfg.max_tokens,
            "schema": request.schema.__name__,
            "json_schema": self.structured.json_schema(request.schema),
            "method": self.cfg.structured_output,
            "repair_prompt": self.structured.repair.hash,
        }
        key = cache_key(model=self.model, base_url=self._identity, messages=request.messages, params=params,
                        prompt_hash=request.prompt_hash, sample_index=request.sample_index)
        return Job(request, key, self.structured.prompt_bound(request.schema, request.messages))

    def _needs_repair(self, job: Job) -> bool:
        if job.record is not None:
            return len(job.record["stages"]) > 1
        answer = job.last
        return answer is not None and answer.parsed is None and job.failure is None and len(job.answers) == 1

    # -- calls (worker threads) --

    def _first_call(self, job: Job) -> None:
        if self._halt.is_set():
            job.error = HALTED
            return
        self._answer(job, job.request.messages)
        answer = job.last
        if answer is not None and answer.parsed is None:
            job.repair_messages = self.structured.repair_messages(job.request.messages, answer, job.request.schema)
            job.repair_bound_in = self.structured.prompt_bound(job.request.schema, job.repair_messages)
            job.error = answer.error

    def _repair_call(self, job: Job) -> None:
        assert job.repair_messages is not None
        if self._halt.is_set():
            job.error = HALTED
            return
        job.error = None
        self._answer(job, job.repair_messages)

    def _answer(self, job: Job, messages: list[dict]) -> None:
        """One answer with retries; stores it on the job and commits a valid one to the cache."""
        hooks = _Hooks(self, job, messages)
        schema = job.request.schema
        try:
            out, attempts = self.transport.call(schema, self._temperature(job.request), messages, hooks)
        except CallFailed as exc:
            job.error = f"{exc.kind}: {exc} (after {exc.attempts} attempt(s))"
            job.failed_attempts += exc.attempts
            return
        except UserError as exc:
            self._halt.set()
            job.failure = exc
            job.error = str(exc)
            return
        answer = self.structured.to_answer(schema, out, messages, attempts)
        answer.lost = hooks.lost
        job.answers.append(answer)
        if answer.parsed is not None:  # persisted first: a kill from here on costs nothing already paid
            self.cache.put(job.key, self.settlement.record(job, self.model))
        self._emit("answer", job, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens,
                   error=answer.error, attempt=answer.attempts, stage=len(job.answers) - 1)

    def _temperature(self, request: TeacherRequest) -> float:
        if request.temperature is not None:
            return request.temperature
        return self.cfg.synth_temperature if request.kind == "synth" else self.cfg.temperature

    # -- events --

    def _emit(self, kind: str, job: Job, **fields: Any) -> None:
        if self._on_event is None:
            return
        payload = event(kind, job.request, job.key, job.record is not None, **fields)
        if payload.get("error"):
            payload["error"] = scrub(str(payload["error"]), self.transport.secrets)
        with self._event_lock:
            self._on_event(payload)


class _Hooks:
    """What a failed attempt of one job's call costs: counted, a timeout charged, the retry reserved."""

    def __init__(self, teacher: Teacher, job: Job, messages: list[dict]):
        self.teacher = teacher
        self.job = job
        self.messages = messages
        self.lost = Amount()  # what timed-out attempts of this stage were charged

    def failed(self, failure: Failure) -> None:
        self.teacher.ledger.record_failure("connection" if failure.kind == "dns" else failure.kind)
        if failure.kind == "timeout":
            self.teacher.settlement.charge_lost(self.job, self.lost)

    def retrying(self, failure: Failure, wait: float) -> None:
        teacher, job = self.teacher, self.job
        if job.reservation is None:
            bound = teacher.structured.prompt_bound(job.request.schema, self.messages)
            if not teacher.settlement.reserve_retry(job, bound):
                raise CallFailed("budget", "budget exhausted after a timed-out attempt", failure.attempt)
        teacher._emit("retry", job, error=f"{failure.kind}: {failure.message}", attempt=failure.attempt,
                      wait_s=round(wait, 3))


# -- construction -----------------------------------------------------------------------------------------


def build_teacher(
    cfg: TeacherConfig,
    ledger: BudgetLedger,
    cache: AnswerCache,
    *,
    env: Mapping[str, str],
    prompts: PromptLibrary,
    gold: dict[str, str] | None = None,
    no_cache: bool = False,
    on_event: EventSink | None = None,
) -> BaseTeacher:
    """The teacher for `cfg.provider`. For `local` this starts the embedded server; close() stops it."""
    if cfg.provider == "oracle":
        from distillgraph.agents.oracle import OracleTeacher

        if gold is None:
            raise UserError("teacher.provider 'oracle' needs gold targets (a labelled pool) to answer from")
        return OracleTeacher(ledger, gold, on_event=on_event)
    if cfg.provider == "local":
        return _local_teacher(cfg, ledger, cache, prompts=prompts, no_cache=no_cache, on_event=on_event)
    base_url = resolve_base_url(cfg, env)
    return Teacher(cfg, ledger, cache, base_url=base_url, api_key=resolve_api_key(cfg, env, base_url),
                   prompts=prompts, no_cache=no_cache, on_event=on_event)


def _local_teacher(
    cfg: TeacherConfig,
    ledger: BudgetLedger,
    cache: AnswerCache,
    *,
    prompts: PromptLibrary,
    no_cache: bool,
    on_event: EventSink | None,
) -> Teacher:
    """Start llama.cpp's server; the cache identity is the GGUF file, not the (random) port."""
    from distillgraph.agents.local_server import LocalServer

    server = LocalServer(cfg.local).start()
    try:
        gguf = Path(server.model_path)
        return Teacher(cfg, ledger, cache, base_url=server.base_url, api_key="not-needed", prompts=prompts,
                       model=server.model_alias, cache_identity=f"local:{gguf.name}:{gguf.stat().st_size}",
                       no_cache=no_cache, on_event=on_event, server=server)
    except BaseException:
        server.stop()
        raise
