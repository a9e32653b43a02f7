"""A loopback OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, scripted answers, faults.

Usage::

    from tests.stub_server import Faults, StubServer

    with StubServer(responder=my_responder, faults=Faults(rate_429=0.2), seed=0) as srv:
        cfg = TeacherConfig(base_url=srv.base_url, model="stub", ...)
        ...
        assert srv.requests == 20                # HTTP requests to /v1/chat/completions
        assert srv.max_requests_per_key() == 1   # nothing asked twice

Endpoints
- ``GET  /v1/models``: one model (``model`` argument).
- ``POST /v1/chat/completions``: when the request has ``tools`` the answer is a tool call to the tool named
  by ``tool_choice`` (else the first tool) whose arguments are the responder's answer; otherwise the answer
  is message content. ``usage`` is reported as prompt tokens = ceil(chars of all message contents / 4) and
  completion tokens = ceil(chars of the answer / 4); with ``usage="full"`` as the most a provider could
  bill: prompt tokens = UTF-8 bytes of every message's role and content + 4 per message + the UTF-8 bytes of
  the compact JSON of the schema fields (``tools`` + ``tool_choice``, or ``response_format``), i.e. a
  byte-level tokenizer without merges, and completion tokens = the request's max_tokens (the answer fills
  the output limit).

Responder
``responder(request_json) -> dict | str``: a dict is serialised to JSON; a str is sent verbatim (use it for
malformed answers). The default responder (`schema_responder`) builds a schema-valid object from the
tool's JSON schema or from ``response_format.json_schema``: first enum value, ``"x"`` for strings, the
minimum for numbers, max(1, minItems) items for arrays; ``{}`` when the request carries no schema.

Faults (``Faults``)
Per request one fault is drawn: first from ``script`` (consumed in arrival order; ``"ok"`` = no fault),
then by the rates with a seeded RNG. Kinds: ``"429"`` (with ``Retry-After: retry_after``), ``"500"``,
``"401"`` (script only; echoes the bearer token in the error as OpenAI does, to test key scrubbing),
``"slow"`` (sleeps ``slow_seconds`` before answering, to pass a client timeout), ``"malformed"`` (truncated
JSON arguments), ``"off_schema"`` (valid JSON missing the required fields), ``"drop"`` (closes the
connection without a response).

Counters (thread-safe): ``requests`` and its alias ``chat_requests`` (every chat POST, faults included),
``answered`` (200 answers), ``faults_served`` by kind, ``prompt_tokens`` / ``completion_tokens`` reported
on 200 answers, ``key_counts`` (chat POSTs per hash of messages + sampling params + schema),
``bodies`` (every request JSON, in arrival order), ``auth_headers``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], "dict[str, Any] | str"]
FAULT_KINDS = ("429", "500", "401", "slow", "malformed", "off_schema", "drop")
USAGE_MODES = ("chars", "full")
SCHEMA_FIELDS = ("tools", "tool_choice", "response_format")
KEY_FIELDS = ("messages", "temperature", "max_tokens", "max_completion_tokens", "tools", "response_format")


class QuietHTTPServer(ThreadingHTTPServer):
    """A client that hangs up (timed out, or killed on purpose by a crash test) is expected: no traceback.

    The listen backlog is that of a real server (socketserver's default of 5 drops connection attempts when
    a client opens dozens at once, and each dropped one waits a second for its SYN to be sent again)."""

    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Faults:
    """Which faults the stub injects: a scripted sequence first, then random rates (seeded)."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_slow: float = 0.0
    rate_malformed: float = 0.0
    rate_off_schema: float = 0.0
    rate_drop: float = 0.0
    retry_after: float = 0.05
    slow_seconds: float = 2.0
    script: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = [s for s in self.script if s != "ok" and s not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; use one of {FAULT_KINDS} or 'ok'")

    def rates(self) -> list[tuple[str, float]]:
        return [
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("slow", self.rate_slow),
            ("malformed", self.rate_malformed),
            ("off_schema", self.rate_off_schema),
            ("drop", self.rate_drop),
        ]


# -- schema-driven default answers ----------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def example_from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small value that validates against a JSON schema (the subset pydantic emits)."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            return example_from_schema(schema[combo][0], root)
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_from_schema(sub, root) for name, sub in props.items()}
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), root) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "x" * max(1, schema.get("minLength", 1))


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks for: the chosen tool's parameters or response_format's schema."""
    tool = chosen_tool(body)
    if tool is not None:
        return tool["function"].get("parameters") or {}
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"].get("schema") or {}
    return None


def chosen_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    if not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        for tool in tools:
            if tool["function"]["name"] == name:
                return tool
    return tools[0]


def schema_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Default responder: a schema-valid answer (first enum value for labels, 'x' for strings)."""
    schema = request_schema(body)
    return example_from_schema(schema) if schema else {}


def request_key(body: dict[str, Any]) -> str:
    """Hash of messages + sampling params + schema: equal for requests a cache should have merged."""
    blob = json.dumps({k: body.get(k) for k in KEY_FIELDS}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def full_usage(body: dict[str, Any]) -> tuple[int, int]:
    """(prompt, completion) tokens at the most a provider could bill for this request (``usage="full"``)."""
    messages = body.get("messages", [])
    prompt = sum(_bytes(str(m.get("role") or "")) + _bytes(str(m.get("content") or "")) + 4 for m in messages)
    fields = {k: body[k] for k in SCHEMA_FIELDS if k in body}
    if fields:
        prompt += _bytes(json.dumps(fields, separators=(",", ":"), ensure_ascii=False))
    return prompt, int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)


# -- the server ---------------------------------------------------------------------------------------------


class StubServer:
    """Context manager running the stub on 127.0.0.1 (free port) in a background thread."""

    def __init__(
        self,
        responder: Responder | None = None,
        faults: Faults | None = None,
        seed: int = 0,
        model: str = "stub-model",
        usage: str = "chars",
    ):
        if usage not in USAGE_MODES:
            raise ValueError(f"usage must be one of {USAGE_MODES}, got {usage!r}")
        self.usage = usage
        self.responder = responder or schema_responder
        self.faults = faults or Faults()
        self.model = model
        self._rng = random.Random(seed)
        self._script = list(self.faults.script)
        self._lock = threading.Lock()
        self.requests = 0
        self.answered = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.faults_served: Counter[str] = Counter()
        self.key_counts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> StubServer:
        handler = _make_handler(self)
        self._httpd = QuietHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="stub-openai",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "StubServer is not running"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- counters --

    @property
    def chat_requests(self) -> int:
        """Chat POSTs so far (faults included): what a real provider would have been asked."""
        return self.requests

    def max_requests_per_key(self) -> int:
        return max(self.key_counts.values(), default=0)

    def _draw_fault(self) -> str:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            roll = self._rng.random()
        edge = 0.0
        for kind, rate in self.faults.rates():
            edge += rate
            if roll < edge:
                return kind
        return "ok"

    def _register(self, body: dict[str, Any], auth: str) -> None:
        with self._lock:
            self.requests += 1
            self.key_counts[request_key(body)] += 1
            self.bodies.append(body)
            self.auth_headers.append(auth)

    def _count_answer(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self.answered += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def _count_fault(self, kind: str) -> None:
        with self._lock:
            self.faults_served[kind] += 1

    # -- answers --

    def answer_text(self, body: dict[str, Any], fault: str) -> str:
        """The text that goes into the tool arguments / content for this request and fault."""
        if fault == "malformed":
            return '{"label": "trunc'
        if fault == "off_schema":
            return json.dumps({"unexpected_field": 1})
        answer = self.responder(body)
        return answer if isinstance(answer, str) else json.dumps(answer)

    def completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        """An OpenAI chat.completion object carrying `text` as a tool call or as content."""
        if self.usage == "full":
            prompt, completion = full_usage(body)
        else:
            prompt = sum(_tokens(str(m.get("content") or "")) for m in body.get("messages", []))
            completion = _tokens(text)
        self._count_answer(prompt, completion)
        tool = chosen_tool(body)
        if tool is not None:
            call = {"id": "call_0", "type": "function", "function": {"name": tool["function"]["name"], "arguments": text}}
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": text}
            finish = "stop"
        return {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }


def _make_handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid a 40 ms stall

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
            return

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test): nothing to answer

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": stub.model, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(raw or b"{}")
            stub._register(body, self.headers.get("Authorization", ""))
            fault = stub._draw_fault()
            if fault != "ok":
                stub._count_fault(fault)
            if fault == "429":
                self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                           {"Retry-After": str(stub.faults.retry_after)})
                return
            if fault == "401":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                self._send(401, {"error": {"message": f"Incorrect API key provided: {token}", "type": "auth"}})
                return
            if fault == "500":
                self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                return
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "slow":
                time.sleep(stub.faults.slow_seconds)
            self._send(200, stub.completion(body, stub.answer_text(body, fault)))

    return Handler
