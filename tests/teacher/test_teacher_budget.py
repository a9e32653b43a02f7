"""The budget ledger: caps hold under concurrency, spent vs paid, persistence."""

from __future__ import annotations

import threading

import pytest

from distillgraph.agents.budget import BudgetLedger, estimate_prompt_tokens
from distillgraph.agents.config import BudgetConfig


def test_reservation_fails_when_outstanding_would_pass_the_cap() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=2))
    first = ledger.reserve("annotator", 10, 10)
    second = ledger.reserve("annotator", 10, 10)
    assert first is not None and second is not None
    assert ledger.reserve("annotator", 10, 10) is None  # 0 spent + 2 outstanding + 1 > 2
    assert ledger.skipped == 1
    assert ledger.reserve("annotator", 10, 10, final=False) is None  # to be tried again: not a skip
    assert ledger.skipped == 1
    ledger.release(first)
    third = ledger.reserve("annotator", 10, 10)
    assert third is not None
    assert ledger.skipped == 1


def test_token_cap_uses_estimate_then_actual() -> None:
    ledger = BudgetLedger(BudgetConfig(max_tokens=1000))
    res = ledger.reserve("generator", 100, 500)
    assert res is not None
    assert ledger.reserve("generator", 100, 500) is None  # 600 outstanding + 600 > 1000
    ledger.settle(res, 100, 50)  # actual use was small: room again
    assert ledger.spent.tokens == 150
    assert ledger.reserve("generator", 100, 500) is not None
    assert ledger.remaining() == {"tokens": 1000 - 150 - 600}


def test_usd_cap_and_prices() -> None:
    ledger = BudgetLedger(BudgetConfig(max_usd=0.01), price_in_per_1m=1.0, price_out_per_1m=4.0)
    assert ledger.cost(1_000_000, 0) == pytest.approx(1.0)
    res = ledger.reserve("analyst", 2000, 1000)  # 0.002 + 0.004
    assert res is not None
    assert ledger.reserve("analyst", 2000, 1000) is None
    ledger.settle(res, 2000, 1000)
    assert ledger.spent.usd == pytest.approx(0.006)
    assert ledger.fraction_spent() == pytest.approx(0.6)


def test_concurrent_reservations_never_overspend() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=20))
    granted: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            res = ledger.reserve("annotator", 5, 5)
            if res is not None:
                with lock:
                    granted.append(res)
                ledger.settle(res, 5, 5)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 20
    assert ledger.spent.calls == 20
    assert ledger.exhausted


def test_cached_answers_count_as_spent_but_not_paid() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=10))
    a = ledger.reserve("annotator", 10, 10)
    b = ledger.reserve("annotator", 10, 10)
    assert a and b
    ledger.settle(a, 10, 20)
    ledger.settle(b, 10, 20, cached=True)
    assert ledger.spent.calls == 2 and ledger.spent.tokens == 60
    assert ledger.paid_calls == 1 and ledger.paid_tokens == 30
    assert ledger.cache_hits == 1
    row = ledger.to_dict()["nodes"]["annotator"]
    assert row["spent"]["calls"] == 2 and row["paid"]["calls"] == 1 and row["cache_hits"] == 1


def test_state_round_trip_continues_the_count() -> None:
    cfg = BudgetConfig(max_calls=5, max_tokens=10_000)
    ledger = BudgetLedger(cfg)
    for _ in range(3):
        res = ledger.reserve("generator", 10, 10)
        assert res is not None
        ledger.settle(res, 10, 10)
    ledger.record_failure("429")
    state = ledger.to_dict()
    resumed = BudgetLedger(cfg, state=state)
    assert resumed.spent.calls == 3
    assert resumed.paid_calls == 0  # paid counts this process only
    assert resumed.failures["429"] == 1
    assert resumed.nodes["generator"].spent.calls == 3
    assert resumed.remaining() == {"calls": 2, "tokens": 10_000 - 60}
    assert resumed.reserve("generator", 1, 1) is not None
    assert resumed.reserve("generator", 1, 1) is not None
    assert resumed.reserve("generator", 1, 1) is None


def test_can_afford_and_exhausted() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=1, max_tokens=100))
    assert ledger.can_afford(calls=1, tokens=100)
    assert not ledger.can_afford(calls=1, tokens=101)
    assert not ledger.exhausted
    res = ledger.reserve("judge", 1, 1)
    assert res is not None
    ledger.settle(res, 1, 1)
    assert ledger.exhausted
    assert ledger.fraction_spent() == 1.0


def test_estimate_is_chars_over_four() -> None:
    assert estimate_prompt_tokens([{"content": "abcd" * 10}, {"content": "x"}]) == 11


def test_restore_keeps_what_this_process_paid() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=10))
    snapshot = ledger.to_dict()
    for cached in (False, True):
        res = ledger.reserve("annotator", 1, 1)
        assert res is not None
        ledger.settle(res, 1, 1, cached=cached)
    ledger.record_failure("5xx")
    ledger.restore(snapshot)  # time travel to before the two calls
    assert ledger.spent.calls == 0 and ledger.remaining() == {"calls": 10}
    assert ledger.failures["5xx"] == 0 and ledger.nodes["annotator"].spent.calls == 0
    assert ledger.paid_calls == 1 and ledger.cache_hits == 1
    assert ledger.nodes["annotator"].paid.calls == 1
