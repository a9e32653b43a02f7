"""What every teacher shares: the request and result records, the interface, its errors, key scrubbing.

The real teacher (`agents/teacher.py`) and the oracle (`agents/oracle.py`) both build on this module and
on nothing of each other, so they import without a cycle.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

from distillgraph.store.schema import UserError

KINDS = ("label", "output", "entities", "synth", "analyse", "judge")
EventSink = Callable[[dict[str, Any]], None]
_SK_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{6,}")
_BEARER_PATTERN = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


class TeacherUnreachable(UserError):
    """The endpoint could not be reached at all: the graph stops (resumable) instead of failing items."""


class TeacherRefused(UserError):
    """The teacher cannot answer this kind of request (e.g. the oracle asked to write new samples)."""


@dataclass
class TeacherRequest:
    """One structured question to the teacher. `kind`: label | output | entities | synth | analyse | judge."""

    node: str
    messages: list[dict]
    schema: type[BaseModel]
    prompt_name: str = ""
    prompt_hash: str = ""
    sample_index: int = 0
    example_id: str | None = None
    temperature: float | None = None
    kind: str = "label"
    # side information for simulated teachers (e.g. the generator's requested labels); never sent to an
    # endpoint and not part of the cache key
    context: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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


def skipped_result(request: TeacherRequest, key: str, error: str = "budget exhausted", raw: str = "",
                   cached: bool = False) -> TeacherResult:
    """The result of a request the budget could not pay for."""
    return TeacherResult(request, None, raw, error, cached, 0, 0, 0.0, 0, key, skipped_budget=True)


def event(kind: str, request: TeacherRequest, key: str, cached: bool, **fields: Any) -> dict[str, Any]:
    """The dict an `EventSink` receives."""
    return {"kind": kind, "node": request.node, "request_kind": request.kind, "prompt": request.prompt_name,
            "example_id": request.example_id, "key": key, "cached": cached, **fields}


SHORT_SECRET = 8  # a configured secret shorter than this is masked only where it stands as a whole token


def mask_secret(text: str, secret: str) -> str:
    """`secret` replaced by ***: everywhere when it is key-sized, else only as a whole token (a test key "k"
    must not turn every "token" of a trace into "to***en")."""
    if not secret:
        return text
    if len(secret) >= SHORT_SECRET:
        return text.replace(secret, "***")
    return re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", "***", text)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove API keys (the configured value, `sk-...` patterns, bearer tokens) from a text."""
    for secret in secrets:
        text = mask_secret(text, secret)
    text = _SK_PATTERN.sub("sk-***", text)
    return _BEARER_PATTERN.sub(r"\1***", text)


def safe_url(url: str) -> str:
    """The URL without user:password@ (for messages and cache keys)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


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
