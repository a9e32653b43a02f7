"""Token and dollar caps hold within a concurrency window, even when the server bills the most it can."""

from __future__ import annotations

import pytest

from distillgraph.agents.budget import prompt_token_bound
from distillgraph.agents.schemas import label_answer_schema
from tests.stub_server import StubServer, full_usage
from tests.teacher.teacher_rig import LABELS, Rig, label_requests

PRICES = {"price_input_per_1m": 1.0, "price_output_per_1m": 4.0}


@pytest.mark.parametrize("cap", [{"max_tokens": 20_000}, {"max_usd": 0.01}])
def test_caps_hold_at_concurrency_8_when_usage_fills_the_reservations(rig: Rig, cap: dict) -> None:
    with StubServer(usage="full") as srv:
        teacher, ledger = rig.teacher(srv.base_url, budget=cap, max_tokens=64, max_concurrency=8, **PRICES)
        results = teacher.ask_many(label_requests(60))
        billed_tokens = srv.prompt_tokens + srv.completion_tokens
    ok = sum(r.ok for r in results)
    assert 8 <= ok < 60 and all(r.skipped_budget for r in results if not r.ok)  # the cap was reached
    assert ledger.paid.tokens == billed_tokens  # the ledger charges what the server reported
    assert ledger.spent.tokens <= cap.get("max_tokens", float("inf"))
    assert ledger.spent.usd <= cap.get("max_usd", float("inf")) + 1e-12


def test_bound_covers_what_the_server_can_bill_for_every_method(rig: Rig) -> None:
    request = label_requests(1, prefix="é ü 東京 " * 20)[0]  # multi-byte text: chars/4 undercounts most
    for method in ("function_calling", "json_schema", "json_mode"):
        with StubServer(usage="full", responder=lambda body: {"rationale": "r", "label": "sport"}) as srv:
            teacher, _ = rig.teacher(srv.base_url, structured_output=method, no_cache=True)
            assert teacher.ask(request).ok
            billed, _ = full_usage(srv.bodies[0])
        bound = teacher.structured.prompt_bound(label_answer_schema(LABELS), request.messages)
        assert billed <= bound < billed + 200, method


def test_bound_counts_messages_and_schema_fields() -> None:
    messages = [{"role": "user", "content": "é" * 10}]
    assert prompt_token_bound(messages) == 64 + 8 + 4 + 20
    assert prompt_token_bound(messages, {"tools": []}) == 64 + 8 + 4 + 20 + len('{"tools": []}')
