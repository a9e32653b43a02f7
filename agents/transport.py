"""Transport: the endpoint, its chat clients, and one call with retries.

Retries use exponential backoff with full jitter on 429 / 5xx / timeouts / connection errors (a server's
Retry-After wins when it asks for longer), at most `max_retries` times. Errors no retry can fix stop the run
with one line: a refused key (401/403/404) at once, a host name that does not resolve before anything was
reached, a connection still refused after every retry (`TeacherUnreachable`, resumable). What a failed
attempt costs is the caller's business: `RetryHooks` tells it about every failure and every retry.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr

from distillgraph.agents.config import TeacherConfig
from distillgraph.agents.structured import StructuredOutput
from distillgraph.agents.teacher_types import TeacherUnreachable, safe_url, scrub
from distillgraph.store.schema import UserError

OPENAI_URL = "https://api.openai.com/v1"
_DNS_HINTS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
              "no address associated", "getaddrinfo failed")


class CallFailed(Exception):
    """An HTTP call gave up (after retries, or at once for a non-retryable status)."""

    def __init__(self, kind: str, message: str, attempts: int):
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts


@dataclass
class Failure:
    """One failed attempt: its kind (see `classify_error`), the scrubbed message, the attempt number."""

    kind: str
    message: str
    attempt: int


class RetryHooks(Protocol):
    def failed(self, failure: Failure) -> None:
        """Every failed attempt, first thing (count it; a timeout may have been billed)."""

    def retrying(self, failure: Failure, wait: float) -> None:
        """Before the wait for the next attempt; raise CallFailed to give up (e.g. no budget left)."""


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


class Transport:
    """ChatOpenAI clients for one endpoint, built once per (schema, temperature), and the retry loop."""

    def __init__(self, cfg: TeacherConfig, structured: StructuredOutput, *, model: str, base_url: str,
                 api_key: str):
        self.cfg = cfg
        self.structured = structured
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self.secrets = tuple(s for s in (api_key,) if len(s) >= 4)
        self._clients: dict[tuple[type[BaseModel], float], Any] = {}
        self._lock = threading.Lock()
        self._reached = False
        self._rng = random.Random()

    def call(self, schema: type[BaseModel], temperature: float, messages: list[dict],
             hooks: RetryHooks) -> tuple[Any, int]:
        """The AIMessage and the number of attempts it took; CallFailed or UserError when it gives up."""
        runnable = self._runnable(schema, temperature)
        attempts = self.cfg.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                out = runnable.invoke(messages)
            except Exception as exc:  # noqa: BLE001 - classified below, unknown ones re-raised
                failure = Failure(classify_error(exc), scrub(str(exc), self.secrets)[:300], attempt)
                hooks.failed(failure)
                self._stop_if_fatal(failure)
                if failure.kind == "http" or attempt == attempts:
                    raise self._gave_up(failure) from None
                wait = self.backoff(attempt, _retry_after(exc))
                hooks.retrying(failure, wait)
                time.sleep(wait)
                continue
            self._reached = True
            return out, attempt
        raise AssertionError("unreachable: the loop returns or raises")

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it asks for longer."""
        cap = min(self.cfg.backoff_max, self.cfg.backoff_base * 2 ** (attempt - 1))
        wait = self._rng.uniform(cap / 2, cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cfg.backoff_max))
        return wait

    def _gave_up(self, failure: Failure) -> Exception:
        if failure.kind == "connection":
            return self._unreachable(failure.message)
        return CallFailed(failure.kind, failure.message, failure.attempt)

    def _stop_if_fatal(self, failure: Failure) -> None:
        """Errors no retry can fix stop the run with one clear line."""
        if failure.kind == "auth":
            raise UserError(f"teacher {safe_url(self.base_url)} refused the request (check the API key in "
                            f"${self.cfg.api_key_env} and teacher.model={self.model!r}): {failure.message}")
        if failure.kind == "dns" and not self._reached:
            raise self._unreachable(failure.message)

    def _unreachable(self, message: str) -> TeacherUnreachable:
        return TeacherUnreachable(f"teacher endpoint {safe_url(self.base_url)} cannot be reached ({message}); "
                                  "check teacher.base_url / OPENAI_BASE_URL and that the server is running")

    def _runnable(self, schema: type[BaseModel], temperature: float) -> Any:
        """ChatOpenAI bound to the schema for (schema, temperature), built once and reused.

        Bound by hand rather than with `with_structured_output`, whose json_schema path validates inside
        the HTTP call and loses the raw answer and its usage; here every method returns the raw AIMessage.
        """
        with self._lock:
            key = (schema, temperature)
            if key not in self._clients:
                self._clients[key] = self.structured.bind(self._chat_model(temperature), schema)
            return self._clients[key]

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
