"""Which round's student a user gets: the best on dev, with a warning when the teacher's labels made it worse."""

from __future__ import annotations

import pytest

from distillgraph.agents.records import RoundMetrics
from distillgraph.graph.export import pick_round
from distillgraph.graph.report import best_round, regression_note
from distillgraph.store.schema import UserError


def _round(r: int, f1: float) -> RoundMetrics:
    return RoundMetrics(round=r, train_size=10 * (r + 1), train_by_source={}, dev={"macro_f1": f1},
                        adapter=f"/runs/x/adapters/round-{r}")


def test_best_round_is_the_highest_dev_score_and_the_latest_of_equals():
    hist = [_round(0, 0.59), _round(1, 0.52), _round(2, 0.36)]
    assert best_round(hist, "macro_f1").round == 0
    assert best_round([_round(0, 0.5), _round(1, 0.7), _round(2, 0.7)], "macro_f1").round == 2
    assert best_round(hist, "chrf") is None and best_round([], "macro_f1") is None


def test_a_falling_dev_score_is_reported_a_flat_or_rising_one_is_not():
    note = regression_note([_round(0, 0.593), _round(1, 0.522), _round(3, 0.328)], "macro_f1")
    assert note is not None and "fell from 0.593 (round 0) to 0.328 (round 3)" in note and "round 0" in note
    assert regression_note([_round(0, 0.50), _round(1, 0.60), _round(2, 0.70)], "macro_f1") is None
    assert regression_note([_round(0, 0.600), _round(1, 0.595)], "macro_f1") is None  # within 2%: noise
    assert regression_note([], "macro_f1") is None


def test_pick_round_best_final_number_and_a_clear_error():
    hist = [_round(0, 0.59), _round(1, 0.52), _round(2, 0.36)]
    assert pick_round(hist, "best", "macro_f1").round == 0
    assert pick_round(hist, "final", "macro_f1").round == 2
    assert pick_round(hist, "1", "macro_f1").round == 1
    assert pick_round([], "best", "macro_f1") is None
    for bad in ("7", "last", "-1"):
        with pytest.raises(UserError, match="expected best, final or one of the rounds 0, 1, 2"):
            pick_round(hist, bad, "macro_f1")
