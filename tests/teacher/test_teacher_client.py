"""The OpenAI-compatible teacher against the loopback stub: retries, repair, budget, cache, secrets."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from distillgraph.agents.local_server import free_port
from distillgraph.agents.schemas import OutputAnswer, SynthBatch
from distillgraph.agents.teacher import TeacherRequest, TeacherUnreachable, build_teacher, scrub
from distillgraph.store.schema import UserError
from tests.stub_server import Faults, StubServer, schema_responder
from tests.teacher.teacher_rig import SECRET, Rig, label_requests


def _events(rig: Rig, kind: str) -> list[dict]:
    return [e for e in rig.events if e["kind"] == kind]


def test_429_with_retry_after_is_retried_after_the_asked_wait(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["429"], retry_after=0.3)) as srv:
        teacher, ledger = rig.teacher(srv.base_url)
        result = teacher.ask(label_requests(1)[0])
    assert result.ok and result.parsed.label == "business"
    assert result.attempts == 2 and srv.requests == 2
    (retry,) = _events(rig, "retry")
    assert retry["wait_s"] >= 0.3  # backoff_base is 0.01: only Retry-After explains the wait
    assert ledger.failures["429"] == 1
    assert ledger.spent.calls == 1 and ledger.paid_calls == 1


def test_500_and_dropped_connection_are_retried(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["500", "drop"])) as srv:
        teacher, ledger = rig.teacher(srv.base_url, max_concurrency=1)
        result = teacher.ask(label_requests(1)[0])
    assert result.ok and result.attempts == 3
    assert ledger.failures["5xx"] == 1 and ledger.failures["connection"] == 1


def test_timeout_is_retried(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["slow"], slow_seconds=1.5)) as srv:
        teacher, ledger = rig.teacher(srv.base_url, timeout=0.4)
        result = teacher.ask(label_requests(1)[0])
    assert result.ok and result.attempts == 2
    assert ledger.failures["timeout"] == 1


def test_retries_are_bounded_and_the_run_goes_on(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["500", "500", "500"])) as srv:
        teacher, ledger = rig.teacher(srv.base_url, max_retries=2, max_concurrency=1)
        failed, fine = teacher.ask_many(label_requests(2))
    assert not failed.ok and failed.parsed is None
    assert "5xx" in failed.error and "3 attempt" in failed.error
    assert fine.ok
    assert ledger.spent.calls == 1  # no answer, no charge; the reservation was released
    assert ledger.remaining()["calls"] == 999
    assert _events(rig, "failed")[0]["example_id"] == "ex0"


def test_malformed_answer_is_repaired_once(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["malformed"])) as srv:
        teacher, ledger = rig.teacher(srv.base_url)
        result = teacher.ask(label_requests(1)[0])
        repair_messages = srv.bodies[1]["messages"]
    assert result.ok and result.attempts == 2
    assert ledger.spent.calls == 2 and ledger.failures["parse"] == 1
    assert repair_messages[:2] == label_requests(1)[0].messages
    assert "could not be used" in repair_messages[-1]["content"]
    assert "Invalid JSON" in repair_messages[-1]["content"]  # the validation error is shown


def test_failed_repair_is_a_failed_item_and_not_cached(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["off_schema", "off_schema"])) as srv:
        teacher, ledger = rig.teacher(srv.base_url)
        result = teacher.ask(label_requests(1)[0])
    assert not result.ok and result.parsed is None
    assert "after one repair" in result.error and "label" in result.error
    assert len(rig.caches[0]) == 0
    assert ledger.failures["parse"] == 2 and ledger.spent.calls == 2


def test_fifty_concurrent_requests_under_a_cap_of_twenty_pay_twenty(rig: Rig) -> None:
    with StubServer() as srv:
        teacher, ledger = rig.teacher(srv.base_url, budget={"max_calls": 20}, max_concurrency=8)
        results = teacher.ask_many(label_requests(50))
    assert srv.requests == 20 and srv.answered == 20
    assert [r.ok for r in results] == [True] * 20 + [False] * 30  # reserved in request order
    assert all(r.skipped_budget for r in results[20:])
    assert ledger.spent.calls == 20 and ledger.exhausted
    assert [r.request.example_id for r in results] == [f"ex{i}" for i in range(50)]


def test_a_call_is_sent_when_the_oldest_is_settled_not_when_its_window_is(rig: Rig) -> None:
    """Sliding window of 2 over answers taking 0.05, 0.5, 0.5, 0.05 s: the third call starts once the first
    is settled, so the batch takes about 0.55 s (consecutive windows of 2 took 1.0 s); never more than 2 calls
    are in flight."""
    slow = {"text 1", "text 2"}
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most

    def responder(body: dict) -> dict:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        try:
            time.sleep(0.5 if body["messages"][-1]["content"] in slow else 0.05)
            return schema_responder(body)
        finally:
            with lock:
                in_flight[0] -= 1

    with StubServer(responder=responder) as srv:
        teacher, _ = rig.teacher(srv.base_url, max_concurrency=2)
        teacher.ask_many(label_requests(2, prefix="warm"))  # connections opened outside the timing
        start = time.perf_counter()
        results = teacher.ask_many(label_requests(4))
        seconds = time.perf_counter() - start
    assert all(r.ok for r in results) and in_flight[1] == 2
    assert seconds < 0.8, seconds


def test_replay_with_repairs_at_concurrency_4_charges_the_same_and_stops_at_the_same_place(rig: Rig) -> None:
    broken = {"text 1", "text 5", "text 6"}  # their first answer is malformed, the repair is fine

    def responder(body: dict) -> dict | str:
        if body["messages"][-1]["content"] in broken:
            return '{"label": "trunc'
        return schema_responder(body)

    requests = label_requests(20)
    with StubServer(responder=responder) as srv:
        first, ledger1 = rig.teacher(srv.base_url, max_concurrency=4, budget={"max_calls": 15})
        results1 = first.ask_many(requests)
        paid = srv.requests
        second, ledger2 = rig.teacher(srv.base_url, max_concurrency=4, budget={"max_calls": 15})
        results2 = second.ask_many(requests)
    assert paid == 15 and srv.requests == 15 and ledger2.paid_calls == 0  # 12 items + 3 repairs
    assert [r.ok for r in results1] == [r.ok for r in results2] == [True] * 12 + [False] * 8
    assert all(r.skipped_budget for r in results1[12:])
    assert ledger2.to_dict()["spent"] == ledger1.to_dict()["spent"] and ledger1.spent.calls == 15
    assert ledger1.skipped == ledger2.skipped == 8  # an item waiting for room is not counted as skipped


def test_an_item_waits_for_the_calls_in_flight_before_it_is_skipped(rig: Rig) -> None:
    """Near the end of a token cap the reservations of the calls in flight leave no room for the next item,
    but once they are settled (at what the server bills, below what was reserved) it may fit: an item is
    skipped only if it does not fit with nothing in flight, so less than one reservation of the cap is left."""
    requests = label_requests(40)
    with StubServer(usage="full") as srv:
        teacher, ledger = rig.teacher(srv.base_url, budget={"max_tokens": 8000}, max_tokens=40, max_concurrency=8)
        results = teacher.ask_many(requests)
    reservation = max(teacher.structured.prompt_bound(r.schema, r.messages) for r in requests) + 40
    ok = sum(r.ok for r in results)
    assert 8000 - reservation < ledger.spent.tokens <= 8000
    assert ok > 8 and all(r.ok for r in results[:ok]) and all(r.skipped_budget for r in results[ok:])


def test_second_identical_run_pays_nothing_and_charges_the_same(rig: Rig) -> None:
    requests = label_requests(10)
    with StubServer(faults=Faults(script=["malformed"])) as srv:
        first, ledger1 = rig.teacher(srv.base_url, max_concurrency=1, budget={"max_calls": 9})
        results1 = first.ask_many(requests)
        paid_requests = srv.requests
        second, ledger2 = rig.teacher(srv.base_url, max_concurrency=1, budget={"max_calls": 9})
        results2 = second.ask_many(requests)
    assert paid_requests == 9 and srv.requests == 9  # the second run asked nothing
    assert srv.max_requests_per_key() == 1
    assert ledger2.paid_calls == 0 and ledger2.cache_hits == 9
    assert ledger2.to_dict()["spent"] == ledger1.to_dict()["spent"]  # the repair is charged again
    assert [r.ok for r in results2] == [r.ok for r in results1] == [True] * 8 + [False] * 2
    assert all(r.cached for r in results2[:8])
    assert [r.parsed for r in results2] == [r.parsed for r in results1]


def test_replay_stops_at_the_same_place_under_a_token_cap(rig: Rig) -> None:
    requests = label_requests(30)
    with StubServer(usage="full") as srv:
        # each call reserves its upper bound (~680 tokens: bytes of messages and tool schema + max_tokens) and
        # the server bills nearly as much, so the cap binds
        first, ledger1 = rig.teacher(srv.base_url, budget={"max_tokens": 5000}, max_tokens=40,
                                     max_concurrency=4)
        ok1 = [r.ok for r in first.ask_many(requests)]
        second, ledger2 = rig.teacher(srv.base_url, budget={"max_tokens": 5000}, max_tokens=40,
                                      max_concurrency=4)
        ok2 = [r.ok for r in second.ask_many(requests)]
        assert srv.requests == sum(ok1)
    assert 0 < sum(ok1) < 30 and ok1 == ok2
    assert ledger1.spent.tokens == ledger2.spent.tokens <= 5000


def test_no_cache_asks_again_but_still_writes(rig: Rig) -> None:
    requests = label_requests(3)
    with StubServer() as srv:
        rig.teacher(srv.base_url)[0].ask_many(requests)
        teacher, ledger = rig.teacher(srv.base_url, no_cache=True)
        teacher.ask_many(requests)
    assert srv.requests == 6 and ledger.paid_calls == 3
    assert len(rig.caches[0]) == 3


def test_sample_index_asks_for_a_new_answer(rig: Rig) -> None:
    base = label_requests(1)[0]
    other = TeacherRequest(**{**base.__dict__, "sample_index": 1})
    with StubServer() as srv:
        teacher, _ = rig.teacher(srv.base_url)
        results = teacher.ask_many([base, other])
        again = teacher.ask_many([base, other])
    assert srv.requests == 2 and results[0].key != results[1].key
    assert all(r.cached for r in again)


def test_repeated_request_in_one_batch_is_paid_once(rig: Rig) -> None:
    request = label_requests(1)[0]
    with StubServer() as srv:
        teacher, ledger = rig.teacher(srv.base_url, max_concurrency=4)
        first, repeat = teacher.ask_many([request, request])
    assert srv.requests == 1 and not first.cached and repeat.cached
    assert ledger.paid_calls == 1 and ledger.spent.calls == 2  # the run used two answers


def test_request_carries_max_tokens_tool_choice_and_temperatures(rig: Rig) -> None:
    synth = TeacherRequest(node="generator", messages=[{"role": "user", "content": "write"}], schema=SynthBatch,
                           kind="synth")
    hot = TeacherRequest(**{**label_requests(1)[0].__dict__, "temperature": 0.5})
    with StubServer() as srv:
        teacher, _ = rig.teacher(srv.base_url, max_tokens=77, synth_temperature=0.9, max_concurrency=1)
        results = teacher.ask_many([label_requests(1)[0], synth, hot])
        bodies = srv.bodies
    assert all(r.ok for r in results)
    assert bodies[0]["max_tokens"] == 77  # via extra_body: llama.cpp ignores max_completion_tokens
    assert bodies[0]["tool_choice"]["function"]["name"] == "LabelAnswer"
    assert [b["temperature"] for b in bodies] == [0.0, 0.9, 0.5]
    assert isinstance(results[1].parsed, SynthBatch)


@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
def test_json_methods_read_the_content(rig: Rig, method: str) -> None:
    request = TeacherRequest(node="annotator", messages=[{"role": "user", "content": "go"}], schema=OutputAnswer,
                             kind="output")
    with StubServer(responder=lambda body: "```json\n{\"output\": \"A headline\"}\n```") as srv:
        teacher, _ = rig.teacher(srv.base_url, structured_output=method)
        result = teacher.ask(request)
        body = srv.bodies[0]
    assert result.ok and result.parsed.output == "A headline"
    assert "tools" not in body
    assert body["response_format"]["type"] == ("json_schema" if method == "json_schema" else "json_object")


def test_api_key_is_used_but_never_written_or_shown(rig: Rig) -> None:
    with StubServer(faults=Faults(script=["401"])) as srv:
        teacher, _ = rig.teacher(srv.base_url)
        with pytest.raises(UserError) as info:
            teacher.ask(label_requests(1)[0])
        results = teacher.ask_many(label_requests(3))
        assert srv.auth_headers[-1] == f"Bearer {SECRET}"
    assert "Incorrect API key" in str(info.value) and SECRET not in str(info.value)
    assert all(r.ok for r in results)
    assert SECRET not in json.dumps(rig.events, default=str)
    assert any(SECRET[:10] not in e.get("error", "") for e in rig.events)
    for path in Path(rig.tmp_path).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_fatal_failure_stops_the_calls_queued_behind_it(rig: Rig) -> None:
    """One worker, two items reserved ahead: the first call is refused (401); the one queued behind it is
    not sent, its reservation is released, and the error is raised once."""
    with StubServer(faults=Faults(script=["401"])) as srv:
        teacher, ledger = rig.teacher(srv.base_url, max_concurrency=1, budget={"max_calls": 10})
        with pytest.raises(UserError, match="Incorrect API key"):
            teacher.ask_many(label_requests(8))
        assert srv.requests == 1
    assert ledger.spent.calls == 0 and ledger.remaining() == {"calls": 10}


def test_scrub_removes_key_patterns() -> None:
    text = f"key {SECRET} and sk-abcdefghijkl and Bearer tok.en-123 and mykeyvalue"
    cleaned = scrub(text, ("mykeyvalue",))
    assert SECRET not in cleaned and "sk-abcdefghijkl" not in cleaned
    assert "tok.en-123" not in cleaned and "mykeyvalue" not in cleaned


def test_closed_port_raises_teacher_unreachable(rig: Rig) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    teacher, ledger = rig.teacher(url, max_retries=1, budget={"max_calls": 10})
    with pytest.raises(TeacherUnreachable) as info:
        teacher.ask_many(label_requests(3))
    assert url in str(info.value)
    assert isinstance(info.value, UserError)
    assert ledger.remaining() == {"calls": 10} and ledger.spent.calls == 0


def test_unknown_host_raises_teacher_unreachable_at_once(rig: Rig) -> None:
    url = "http://distillgraph-test.invalid/v1"  # .invalid never resolves (RFC 2606)
    teacher, ledger = rig.teacher(url, max_retries=3)
    with pytest.raises(TeacherUnreachable, match="distillgraph-test.invalid"):
        teacher.ask(label_requests(1)[0])
    assert ledger.failures["connection"] == 1  # no retries for a name that does not resolve


def test_missing_key_for_openai_and_base_url_from_env(rig: Rig, tmp_path: Path) -> None:
    from distillgraph.agents.budget import BudgetLedger
    from distillgraph.agents.cache import AnswerCache
    from distillgraph.agents.config import BudgetConfig, TeacherConfig
    from distillgraph.prompts import PromptLibrary

    ledger = BudgetLedger(BudgetConfig(max_calls=5))
    with AnswerCache(tmp_path / "x.sqlite") as cache:
        with pytest.raises(UserError, match="MY_KEY"):
            build_teacher(TeacherConfig(api_key_env="MY_KEY"), ledger, cache, env={}, prompts=PromptLibrary())
        with StubServer() as srv:
            teacher = build_teacher(TeacherConfig(model="stub"), ledger, cache,
                                    env={"OPENAI_BASE_URL": srv.base_url}, prompts=PromptLibrary())
            assert teacher.base_url == srv.base_url
            assert teacher.ask(label_requests(1)[0]).ok
            teacher.close()
