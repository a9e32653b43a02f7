"""`exhausted` uses what the teacher would reserve for one more call (its upper bound), not the typical size:
otherwise a node plans a round near a token cap in which every request is skipped."""

from __future__ import annotations

from types import SimpleNamespace

from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.config import BudgetConfig
from distillgraph.graph.node_tools import ledger_state


def _deps(spent_tokens: int, est: int, reserve: int) -> SimpleNamespace:
    ledger = BudgetLedger(BudgetConfig(max_tokens=10_000))
    ledger.restore({"spent": {"calls": 3, "tokens": spent_tokens, "usd": 0.0}})
    cfg = SimpleNamespace(teacher=SimpleNamespace(self_consistency=1))
    return SimpleNamespace(cfg=cfg, ledger=ledger, est_tokens_per_call=est, reserve_tokens_per_call=reserve)


def test_exhausted_when_the_reservation_no_longer_fits():
    # 1,500 tokens left: a typical call (400) fits, the teacher's reservation (2,000) does not
    assert ledger_state(_deps(8_500, est=400, reserve=2_000))["exhausted"] is True
    assert ledger_state(_deps(7_000, est=400, reserve=2_000))["exhausted"] is False


def test_without_a_bound_the_typical_size_decides():
    assert ledger_state(_deps(9_700, est=400, reserve=0))["exhausted"] is True
    assert ledger_state(_deps(9_000, est=400, reserve=0))["exhausted"] is False
