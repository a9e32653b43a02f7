"""The loopback stub itself (other areas' tests rely on it): answers, faults, counters."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from distillgraph.agents.schemas import SynthBatch, WeaknessReport, label_answer_schema
from tests.stub_server import Faults, StubServer, example_from_schema, request_key


def _post(url: str, body: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def _tool_body(schema: dict, content: str = "hello world!") -> dict:
    tool = {"type": "function", "function": {"name": "Answer", "parameters": schema}}
    return {"model": "x", "messages": [{"role": "user", "content": content}], "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "Answer"}}}


@pytest.mark.parametrize("model", [label_answer_schema(("b", "a")), SynthBatch, WeaknessReport])
def test_default_answers_validate_against_pydantic_schemas(model) -> None:
    schema = model.model_json_schema()
    model.model_validate(example_from_schema(schema))


def test_tool_call_answer_usage_and_counters() -> None:
    schema = label_answer_schema(("sport", "tech")).model_json_schema()
    with StubServer(model="m1") as srv:
        status, data, _ = _post(srv.base_url, _tool_body(schema))
        _post(srv.base_url, _tool_body(schema))
        _post(srv.base_url, _tool_body(schema, content="other"))
        with urllib.request.urlopen(f"{srv.base_url}/models", timeout=5) as resp:
            models = json.loads(resp.read())
    assert status == 200
    call = data["choices"][0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == "Answer" and json.loads(call["arguments"])["label"] == "sport"
    assert data["usage"]["prompt_tokens"] == 3  # ceil(12 chars / 4)
    assert data["usage"]["completion_tokens"] == -(-len(call["arguments"]) // 4)
    assert srv.requests == 3 and srv.max_requests_per_key() == 2
    assert srv.key_counts[request_key(_tool_body(schema))] == 2
    assert models["data"][0]["id"] == "m1"


def test_scripted_faults_then_seeded_rates() -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    with StubServer(faults=Faults(script=["429", "500", "malformed", "ok"], retry_after=2)) as srv:
        codes = [_post(srv.base_url, body) for _ in range(4)]
    assert [c[0] for c in codes] == [429, 500, 200, 200]
    assert codes[0][2]["Retry-After"] == "2"
    assert codes[2][1]["choices"][0]["message"]["content"] == '{"label": "trunc'
    assert srv.faults_served == {"429": 1, "500": 1, "malformed": 1}

    def run(seed: int) -> list[int]:
        with StubServer(faults=Faults(rate_500=0.5), seed=seed) as srv:
            return [_post(srv.base_url, body)[0] for _ in range(20)]

    assert run(1) == run(1)
    assert 0 < run(1).count(500) < 20


def test_responder_can_script_answers() -> None:
    seen = []

    def responder(body: dict) -> dict:
        seen.append(body["messages"][-1]["content"])
        return {"echo": body["messages"][-1]["content"]}

    with StubServer(responder=responder) as srv:
        _, data, _ = _post(srv.base_url, {"messages": [{"role": "user", "content": "ping"}]})
    assert json.loads(data["choices"][0]["message"]["content"]) == {"echo": "ping"} and seen == ["ping"]


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Faults(script=["boom"])
