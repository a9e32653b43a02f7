"""The oracle teacher for simulations and benchmarks: answers label/output requests from gold targets.

It stands in for a perfect teacher so strategies can be compared at equal budget without an LLM: each
answer costs one call in the ledger (same reserve/settle as the real teacher, 0 tokens). It cannot invent
anything, so synthesis, analysis and judge requests raise `TeacherRefused` before any budget is touched.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.teacher_types import (
    BaseTeacher,
    EventSink,
    TeacherRefused,
    TeacherRequest,
    TeacherResult,
    event,
    skipped_result,
)

ANSWERABLE = ("label", "output", "entities")  # entities: gold is the JSON list of {text, type}


def answer_values(kind: str, target: str, rationale: str) -> dict[str, Any]:
    """The fields of a label / output / entities answer holding the gold `target`."""
    if kind == "entities":
        return {"entities": json.loads(target), "rationale": rationale, "confidence": 1.0}
    return {"label" if kind == "label" else "output": target, "rationale": rationale, "confidence": 1.0}


class OracleTeacher(BaseTeacher):
    """Gold mapping example_id → target, behind the teacher interface."""

    model = "oracle"
    base_url = "oracle://gold"

    def __init__(self, ledger: BudgetLedger, gold: dict[str, str], *, on_event: EventSink | None = None):
        self.ledger = ledger
        self.gold = dict(gold)
        self._on_event = on_event
        self._lock = threading.Lock()

    def ask_many(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        for request in requests:
            if request.kind not in ANSWERABLE:
                raise TeacherRefused(
                    f"the oracle teacher only labels known examples; it cannot answer '{request.kind}' "
                    f"requests (node {request.node}): use teacher.provider openai or local"
                )
        with self._lock:  # one at a time: the ledger sees requests in order
            return [self._answer(request) for request in requests]

    def close(self) -> None:
        """Nothing to release: the oracle holds no connection or process."""

    def _answer(self, request: TeacherRequest) -> TeacherResult:
        key = f"oracle:{request.example_id}"
        target = self.gold.get(request.example_id or "")
        if target is None:
            return self._failed(request, key, f"no gold target for example {request.example_id!r}")
        return self._paid(request, key, answer_values(request.kind, target, "gold target (oracle)"), "gold target")

    def _paid(self, request: TeacherRequest, key: str, values: dict[str, Any], what: str) -> TeacherResult:
        """`values` as the answer, paid as one call (0 tokens): reserve, check against the schema, settle."""
        reservation = self.ledger.reserve(request.node, 0, 0)
        if reservation is None:
            self._emit("skipped_budget", request, key)
            return skipped_result(request, key)
        try:
            parsed = request.schema.model_validate(values)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            self.ledger.release(reservation)
            return self._failed(request, key, f"{what} does not fit {request.schema.__name__}: {exc}")
        self.ledger.settle(reservation, 0, 0)
        self._emit("answer", request, key)
        return TeacherResult(request, parsed, parsed.model_dump_json(), None, False, 0, 0, 0.0, 1, key)

    def _failed(self, request: TeacherRequest, key: str, error: str) -> TeacherResult:
        self._emit("failed", request, key, error=error)
        return TeacherResult(request, None, "", error, False, 0, 0, 0.0, 0, key)

    def _emit(self, kind: str, request: TeacherRequest, key: str, **fields: Any) -> None:
        if self._on_event is not None:
            self._on_event(event(kind, request, key, False, **fields))
