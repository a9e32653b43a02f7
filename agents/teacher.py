"""The teacher client: structured answers from any OpenAI-compatible endpoint, within a hard budget.

What one request goes through (`Teacher.ask_many`):
1. The request list is processed in consecutive windows of `max_concurrency` items. In each window the
   budget is reserved IN REQUEST ORDER, then the window is dispatched concurrently, then settled in order:
   the same requests and answers always give the same ledger and the same skipped items.
2. A reserved item is answered from the cache (no HTTP, still charged to `spent`) or by the endpoint,
   with exponential backoff + jitter on 429 / 5xx / timeouts / connection errors (Retry-After honoured).
   What counts against the caps is what a provider bills: answers (valid or not). A 429, a 5xx or a
   refused connection is not billed and not charged (retries are bounded by `max_retries`); a TIMED-OUT
   request may have been answered and billed after the client gave up, so it is charged at its reserved
   upper bound (1 call, prompt estimate + max_tokens) and the retry reserves afresh. The cache record keeps
   those "lost" charges, so a replay charges exactly what the original run did. When the endpoint cannot
   be connected to after every retry the run stops (TeacherUnreachable, resumable) instead of failing
   item after item.
3. The answer (tool-call arguments or JSON content) is validated against the pydantic schema. On failure
   ONE repair call is made (prompt `repair`), reserved in request order like the first call. If that
   fails too the item is returned with `error` set and `parsed` None: callers check `result.ok`.
4. A valid fresh answer is committed to the cache before it is returned.

API keys come from the env mapping given to `build_teacher` and are scrubbed from every error text.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr, ValidationError

from distillgraph.agents.budget import Amount, BudgetLedger, Reservation, estimate_prompt_tokens
from distillgraph.agents.cache import AnswerCache, cache_key
from distillgraph.agents.config import TeacherConfig
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import UserError

if TYPE_CHECKING:
    from distillgraph.agents.local_server import LocalServer

OPENAI_URL = "https://api.openai.com/v1"
KINDS = ("label", "output", "synth", "analyse", "judge")
EventSink = Callable[[dict[str, Any]], None]
_SK_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{6,}")
_BEARER_PATTERN = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_DNS_HINTS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
              "no address associated", "getaddrinfo failed")


class TeacherUnreachable(UserError):
    """The endpoint could not be reached at all: the graph stops (resumable) instead of failing items."""


class TeacherRefused(UserError):
    """The teacher cannot answer this kind of request (e.g. the oracle asked to write new samples)."""


@dataclass
class TeacherRequest:
    """One structured question to the teacher. `kind`: label | output | synth | analyse | judge."""

    node: str
    messages: list[dict]
    schema: type[BaseModel]
    prompt_name: str = ""
    prompt_hash: str = ""
    sample_index: int = 0
    example_id: str | None = None
    temperature: float | None = None
    kind: str = "label"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"TeacherRequest.kind must be one of {KINDS}, got {self.kind!r}")


@dataclass
class TeacherResult:
    """The outcome of one request; `parsed` is None whenever `ok` is False."""

    request: TeacherRequest
    parsed: BaseModel | None
    raw: str
    error: str | None
    cached: bool
    input_tokens: int
    output_tokens: int
    usd: float
    attempts: int
    key: str
    skipped_budget: bool = False

    @property
    def ok(self) -> bool:
        return self.parsed is not None and self.error is None and not self.skipped_budget


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove API keys (the configured value, `sk-...` patterns, bearer tokens) from a text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SK_PATTERN.sub("sk-***", text)
    return _BEARER_PATTERN.sub(r"\1***", text)


def safe_url(url: str) -> str:
    """The URL without user:password@ (for messages and cache keys)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


# -- the shared interface -------------------------------------------------------------------------------


class BaseTeacher(ABC):
    """What the graph sees: `ask`, `ask_many` (results in request order) and `close`."""

    model: str
    base_url: str

    def ask(self, request: TeacherRequest) -> TeacherResult:
        return self.ask_many([request])[0]

    @abstractmethod
    def ask_many(self, requests: list[TeacherRequest]) -> list[TeacherResult]: ...

    @abstractmethod
    def close(self) -> None:
        """Release what the teacher holds (the embedded server, threads)."""

    def __enter__(self) -> BaseTeacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- internals ----------------------------------------------------------------------------------------------


class _CallFailed(Exception):
    """An HTTP call gave up (after retries, or at once for a non-retryable status)."""

    def __init__(self, kind: str, message: str, attempts: int):
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts


@dataclass
class _Answer:
    raw: str
    parsed: BaseModel | None
    error: str | None
    input_tokens: int
    output_tokens: int
    attempts: int
    lost: Amount = field(default_factory=Amount)  # timed-out attempts before it, charged as possibly billed


@dataclass
class _Job:
    """Mutable per-item state while a window is processed."""

    request: TeacherRequest
    key: str
    estimate_in: int
    reservation: Reservation | None = None
    skipped: bool = False  # the first call did not fit the budget
    record: dict[str, Any] | None = None  # cache hit
    answers: list[_Answer] = field(default_factory=list)
    repair_messages: list[dict] | None = None
    repair_estimate_in: int = 0
    error: str | None = None
    failure: BaseException | None = None  # UserError to raise after the window
    failed_attempts: int = 0  # HTTP attempts of calls that gave up without an answer

    @property
    def last(self) -> _Answer | None:
        return self.answers[-1] if self.answers else None


def _answer_text(message: Any) -> str:
    """Raw answer text of an AIMessage: the first tool call's JSON arguments, else the content."""
    calls = (getattr(message, "additional_kwargs", None) or {}).get("tool_calls") or []
    if calls:
        return str(calls[0].get("function", {}).get("arguments") or "")
    if getattr(message, "tool_calls", None):
        return json.dumps(message.tool_calls[0]["args"])
    if getattr(message, "invalid_tool_calls", None):
        return str(message.invalid_tool_calls[0].get("args") or "")
    content = message.content
    if isinstance(content, list):
        content = "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def parse_answer(schema: type[BaseModel], text: str) -> tuple[BaseModel | None, str | None]:
    """Validate raw JSON against the schema; the error text is short enough to show the teacher."""
    if not text.strip():
        return None, "the answer was empty (no tool call and no JSON content)"
    try:
        return schema.model_validate_json(_strip_fences(text)), None
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:8]]
        return None, "; ".join(problems)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _chain_text(exc: BaseException) -> str:
    parts, seen = [], set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        parts.append(str(node))
        node = node.__cause__ or node.__context__
    return " | ".join(parts).lower()


def classify_error(exc: Exception) -> str:
    """Failure kind: 429, 5xx, timeout, connection, dns, auth (fatal), http (not retried)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "dns" if any(h in _chain_text(exc) for h in _DNS_HINTS) else "connection"
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 429:
            return "429"
        if code >= 500:
            return "5xx"
        if code in (401, 403, 404):
            return "auth"
        return "http"
    if isinstance(exc, openai.APIError):  # e.g. a 200 whose body is not a chat completion
        return "http"
    raise exc


# -- the OpenAI-compatible teacher ------------------------------------------------------------------------


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
        self._api_key = api_key
        self._secrets = tuple(s for s in (api_key,) if len(s) >= 4)
        self._repair = prompts.get("repair")
        self.no_cache = no_cache
        self._on_event = on_event
        self.server = server  # the embedded llama.cpp server this teacher owns (provider local)
        self._event_lock = threading.Lock()
        self._clients: dict[tuple[type[BaseModel], float], Any] = {}
        self._clients_lock = threading.Lock()
        self._schemas: dict[type[BaseModel], dict] = {}
        self._reached = False
        self._rng = random.Random()
        self._pool = ThreadPoolExecutor(max_workers=cfg.max_concurrency, thread_name_prefix="teacher")

    # -- public --

    def ask_many(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        results: list[TeacherResult] = []
        for jobs in self._windows([self._job(r) for r in requests]):
            self._run_window(jobs)
            results += [self._result(job) for job in jobs]
        return results

    def _windows(self, jobs: list[_Job]) -> Iterator[list[_Job]]:
        """Consecutive windows of at most max_concurrency jobs. A repeated key starts a new window, so
        the repeat is answered from the cache instead of being paid for twice in parallel."""
        window: list[_Job] = []
        for job in jobs:
            if len(window) == self.cfg.max_concurrency or any(j.key == job.key for j in window):
                yield window
                window = []
            window.append(job)
        if window:
            yield window

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.server is not None:
            self.server.stop()

    # -- one window --

    def _run_window(self, jobs: list[_Job]) -> None:
        """Reserve in order → answer concurrently → settle in order; then the same for repairs."""
        live = [job for job in jobs if self._reserve(job, job.estimate_in)]
        for job in live:
            job.record = None if self.no_cache else self.cache.get(job.key)
        list(self._pool.map(self._first_call, [job for job in live if job.record is None]))
        for job in live:
            self._settle(job, stage=0)
        repairs = [job for job in live if self._needs_repair(job)]
        repairs = [job for job in repairs if self._reserve(job, job.repair_estimate_in, repair=True)]
        list(self._pool.map(self._repair_call, [job for job in repairs if job.record is None]))
        for job in repairs:
            self._settle(job, stage=1)
        for job in live:
            self._finish(job)
        fatal = next((job.failure for job in jobs if job.failure is not None), None)
        if fatal is not None:
            raise fatal

    def _job(self, request: TeacherRequest) -> _Job:
        temperature = self._temperature(request)
        params = {
            "temperature": temperature,
            "max_tokens": self.cfg.max_tokens,
            "schema": request.schema.__name__,
            "json_schema": self._json_schema(request.schema),
            "method": self.cfg.structured_output,
            "repair_prompt": self._repair.hash,
        }
        key = cache_key(
            model=self.model,
            base_url=self._identity,
            messages=request.messages,
            params=params,
            prompt_hash=request.prompt_hash,
            sample_index=request.sample_index,
        )
        return _Job(request, key, estimate_prompt_tokens(request.messages))

    def _reserve(self, job: _Job, estimate_in: int, repair: bool = False) -> bool:
        job.reservation = self.ledger.reserve(job.request.node, estimate_in, self.cfg.max_tokens)
        if job.reservation is None:
            if repair:
                job.error = "budget exhausted before the repair call: " + (job.error or "")
            else:
                job.skipped = True
            self._emit("skipped_budget", job, repair=repair)
            return False
        return True

    def _needs_repair(self, job: _Job) -> bool:
        if job.record is not None:
            return len(job.record["stages"]) > 1
        answer = job.last
        return answer is not None and answer.parsed is None and job.failure is None and len(job.answers) == 1

    # -- settling --

    def _settle(self, job: _Job, stage: int) -> None:
        """Charge the ledger for stage 0 (first call) or 1 (repair) with actual or cached usage.

        No reservation left means a timed-out last attempt already charged it (see `_charge_lost`)."""
        if job.reservation is None:
            return
        if job.record is not None:
            usage = job.record["stages"][stage]
            lost = usage.get("lost_calls", 0)
            self.ledger.settle(job.reservation, usage["input_tokens"] + usage.get("lost_tokens", 0),
                               usage["output_tokens"], calls=1 + lost, cached=True,
                               usd=usage["usd"] + usage.get("lost_usd", 0.0))
            if stage == 1 or len(job.record["stages"]) == 1:
                self._emit("cache_hit", job)
            else:
                job.repair_estimate_in = usage["repair_estimate_in"]
        elif len(job.answers) > stage:
            answer = job.answers[stage]
            self.ledger.settle(job.reservation, answer.input_tokens, answer.output_tokens)
            if answer.parsed is None:
                self.ledger.record_failure("parse")
        else:
            self.ledger.release(job.reservation)
        job.reservation = None

    def _finish(self, job: _Job) -> None:
        """Cache hits are rebuilt from the record; fresh failures are counted and reported."""
        if job.record is not None:
            return
        answer = job.last
        if answer is not None and answer.parsed is None and not job.error:
            job.error = "answer did not match the schema after one repair: " + (answer.error or "")
        if job.error:
            self._emit("failed", job, error=job.error)

    def _result(self, job: _Job) -> TeacherResult:
        request = job.request
        if job.skipped:
            return TeacherResult(request, None, "", "budget exhausted", False, 0, 0, 0.0, 0, job.key,
                                 skipped_budget=True)
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

    def _cached_result(self, job: _Job) -> TeacherResult:
        record = job.record
        assert record is not None
        if job.error:  # the recorded repair no longer fits the budget
            return TeacherResult(job.request, None, record["raw"], job.error, True, 0, 0, 0.0, 0, job.key,
                                 skipped_budget=True)
        stages = record["stages"]
        parsed = job.request.schema.model_validate(record["parsed"])
        return TeacherResult(job.request, parsed, record["raw"], None, True,
                             sum(s["input_tokens"] for s in stages), sum(s["output_tokens"] for s in stages),
                             sum(s["usd"] for s in stages), 0, job.key)

    # -- calls (worker threads) --

    def _first_call(self, job: _Job) -> None:
        self._answer(job, job.request.messages)
        answer = job.last
        if answer is not None and answer.parsed is None:
            job.repair_messages = job.request.messages + self._repair.render(
                answer=answer.raw, error=answer.error, schema_name=job.request.schema.__name__
            )
            job.repair_estimate_in = estimate_prompt_tokens(job.repair_messages)
            job.error = answer.error

    def _repair_call(self, job: _Job) -> None:
        assert job.repair_messages is not None
        job.error = None
        self._answer(job, job.repair_messages)

    def _answer(self, job: _Job, messages: list[dict]) -> None:
        """One answer with retries; stores it on the job and commits a valid one to the cache."""
        try:
            answer = self._call_with_retries(job, messages)
        except _CallFailed as exc:
            job.error = f"{exc.kind}: {exc} (after {exc.attempts} attempt(s))"
            job.failed_attempts += exc.attempts
            return
        except UserError as exc:
            job.failure = exc
            job.error = str(exc)
            return
        job.answers.append(answer)
        if answer.parsed is not None:  # persisted first: a kill from here on costs nothing already paid
            self.cache.put(job.key, self._record(job))
        self._emit("answer", job, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens,
                   error=answer.error, attempt=answer.attempts, stage=len(job.answers) - 1)

    def _record(self, job: _Job) -> dict[str, Any]:
        stages = []
        for i, answer in enumerate(job.answers):
            stage = {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens,
                     "usd": self.ledger.cost(answer.input_tokens, answer.output_tokens)}
            if i == 0 and len(job.answers) > 1:
                stage["repair_estimate_in"] = job.repair_estimate_in
            if answer.lost.calls:
                stage.update(lost_calls=answer.lost.calls, lost_tokens=answer.lost.tokens, lost_usd=answer.lost.usd)
            stages.append(stage)
        last = job.answers[-1]
        assert last.parsed is not None
        return {
            "model": self.model,
            "node": job.request.node,
            "kind": job.request.kind,
            "prompt_name": job.request.prompt_name,
            "example_id": job.request.example_id,
            "raw": last.raw,
            "parsed": last.parsed.model_dump(mode="json"),
            "stages": stages,
            "created": time.time(),
        }

    def _call_with_retries(self, job: _Job, messages: list[dict]) -> _Answer:
        runnable = self._runnable(job.request.schema, self._temperature(job.request))
        attempts = self.cfg.max_retries + 1
        lost = Amount()  # what timed-out attempts of this stage were charged
        for attempt in range(1, attempts + 1):
            try:
                out = runnable.invoke(messages)
            except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
                kind = classify_error(exc)
                message = scrub(str(exc), self._secrets)[:300]
                self.ledger.record_failure("connection" if kind == "dns" else kind)
                self._handle_fatal(kind, message)
                if kind == "timeout":
                    self._charge_lost(job, lost)
                if kind == "http" or attempt == attempts:
                    if kind == "connection":
                        raise self._unreachable(message) from None
                    raise _CallFailed(kind, message, attempt) from None
                if job.reservation is None and not self._reserve_retry(job, messages):
                    raise _CallFailed("budget", "budget exhausted after a timed-out attempt", attempt) from None
                wait = self._backoff(attempt, _retry_after(exc))
                self._emit("retry", job, error=f"{kind}: {message}", attempt=attempt, wait_s=round(wait, 3))
                time.sleep(wait)
                continue
            self._reached = True
            answer = self._to_answer(job.request.schema, out, messages, attempt)
            answer.lost = lost
            return answer
        raise AssertionError("unreachable: the loop returns or raises")

    def _charge_lost(self, job: _Job, lost: Amount) -> None:
        """A timed-out request may still be answered and billed: charge its reservation in full."""
        res = job.reservation
        if res is None:
            return
        self.ledger.settle(res, res.amount.tokens, 0, usd=res.amount.usd)
        job.reservation = None
        lost.add(res.amount)

    def _reserve_retry(self, job: _Job, messages: list[dict]) -> bool:
        """A new reservation for the attempt after a charged timeout (False: the budget cannot pay it)."""
        job.reservation = self.ledger.reserve(job.request.node, estimate_prompt_tokens(messages), self.cfg.max_tokens)
        return job.reservation is not None

    def _handle_fatal(self, kind: str, message: str) -> None:
        """Errors no retry can fix stop the run with one clear line."""
        if kind == "auth":
            raise UserError(f"teacher {safe_url(self.base_url)} refused the request (check the API key in "
                            f"${self.cfg.api_key_env} and teacher.model={self.model!r}): {message}")
        if kind == "dns" and not self._reached:
            raise self._unreachable(message)

    def _unreachable(self, message: str) -> TeacherUnreachable:
        return TeacherUnreachable(f"teacher endpoint {safe_url(self.base_url)} cannot be reached ({message}); "
                                  "check teacher.base_url / OPENAI_BASE_URL and that the server is running")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer."""
        cap = min(self.cfg.backoff_max, self.cfg.backoff_base * 2 ** (attempt - 1))
        wait = self._rng.uniform(cap / 2, cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cfg.backoff_max))
        return wait

    def _to_answer(self, schema: type[BaseModel], message: Any, messages: list[dict], attempts: int) -> _Answer:
        raw = _answer_text(message)
        parsed, error = parse_answer(schema, raw)
        usage = getattr(message, "usage_metadata", None) or {}
        tokens_in = int(usage.get("input_tokens") or estimate_prompt_tokens(messages))
        tokens_out = int(usage.get("output_tokens") or estimate_prompt_tokens([{"content": raw}]))
        return _Answer(raw, parsed, error, tokens_in, tokens_out, attempts)

    # -- clients --

    def _temperature(self, request: TeacherRequest) -> float:
        if request.temperature is not None:
            return request.temperature
        return self.cfg.synth_temperature if request.kind == "synth" else self.cfg.temperature

    def _json_schema(self, schema: type[BaseModel]) -> dict:
        if schema not in self._schemas:
            self._schemas[schema] = schema.model_json_schema()
        return self._schemas[schema]

    def _runnable(self, schema: type[BaseModel], temperature: float) -> Any:
        """ChatOpenAI bound to the schema for (schema, temperature), built once and reused.

        Bound by hand rather than with `with_structured_output`, whose json_schema path validates inside
        the HTTP call and loses the raw answer and its usage; here every method returns the raw AIMessage.
        """
        with self._clients_lock:
            key = (schema, temperature)
            if key not in self._clients:
                self._clients[key] = self._bind(self._chat_model(temperature), schema)
            return self._clients[key]

    def _bind(self, llm: Any, schema: type[BaseModel]) -> Any:
        method = self.cfg.structured_output
        if method == "function_calling":
            return llm.bind_tools([schema], tool_choice=schema.__name__, parallel_tool_calls=False)
        if method == "json_schema":
            spec = {"name": schema.__name__, "schema": self._json_schema(schema)}
            return llm.bind(response_format={"type": "json_schema", "json_schema": spec})
        return llm.bind(response_format={"type": "json_object"})

    def _chat_model(self, temperature: float) -> Any:
        from langchain_openai import ChatOpenAI

        send_max_tokens = self.cfg.send_max_tokens
        if send_max_tokens is None:
            send_max_tokens = not self.base_url.startswith(OPENAI_URL)
        return ChatOpenAI(
            model=self.model,
            base_url=self.base_url,
            api_key=SecretStr(self._api_key),
            temperature=temperature,
            max_tokens=self.cfg.max_tokens,  # type: ignore[call-arg]  # an alias of max_completion_tokens
            timeout=self.cfg.timeout,
            max_retries=0,
            extra_body={"max_tokens": self.cfg.max_tokens} if send_max_tokens else None,
        )

    # -- events --

    def _emit(self, kind: str, job: _Job, **fields: Any) -> None:
        if self._on_event is None:
            return
        event = {
            "kind": kind,
            "node": job.request.node,
            "request_kind": job.request.kind,
            "prompt": job.request.prompt_name,
            "example_id": job.request.example_id,
            "key": job.key,
            "cached": job.record is not None,
            **fields,
        }
        if event.get("error"):
            event["error"] = scrub(str(event["error"]), self._secrets)
        with self._event_lock:
            self._on_event(event)


# -- construction -----------------------------------------------------------------------------------------


def resolve_base_url(cfg: TeacherConfig, env: Mapping[str, str]) -> str:
    """teacher.base_url, else $OPENAI_BASE_URL, else the OpenAI API."""
    return (cfg.base_url or env.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")


def resolve_api_key(cfg: TeacherConfig, env: Mapping[str, str], base_url: str) -> str:
    """The key from the env variable named by `api_key_env`; self-hosted servers may need none."""
    key = env.get(cfg.api_key_env, "")
    if key:
        return key
    if base_url.startswith(OPENAI_URL):
        raise UserError(f"teacher: set the {cfg.api_key_env} environment variable (API key for {base_url})")
    return "not-needed"


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

