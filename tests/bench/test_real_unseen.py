"""bench/real_unseen.py: a pre-registered real-teacher series stores each run at once, never re-runs a stored one,
and gives no verdict before every planned pair is in (the runner is faked: no teacher starts here)."""

from __future__ import annotations

import json

import pytest

from bench import real_unseen

PLAN = {"task": "vader_sentiment", "budget": 40, "seeds": (1, 2, 3, 4), "arms": ("distillgraph", "random")}
SCORES = {("distillgraph", 1): 0.60, ("random", 1): 0.50, ("distillgraph", 2): 0.62, ("random", 2): 0.55,
          ("distillgraph", 3): 0.58, ("random", 3): 0.54, ("distillgraph", 4): 0.61, ("random", 4): 0.52}


def fake_row(score: float) -> dict:
    return {"macro_f1": score, "accuracy": score, "calls": 40, "teacher_label_acc": 0.7,
            "train_by_source": {"bootstrap": 5, "pool": 30, "synthetic": 2}}


@pytest.fixture
def series(monkeypatch):
    monkeypatch.setitem(real_unseen.SERIES, "test series", PLAN)
    return "test series"


def test_runs_are_stored_at_once_and_never_rerun(tmp_path, series):
    path, calls = tmp_path / "r.json", []

    def runner(task, arm, budget, seed):
        calls.append((arm, seed))
        assert (task, budget) == ("vader_sentiment", 40)
        if len(calls) == 3:  # stop mid-series: what ran before is on disk
            raise KeyboardInterrupt
        return fake_row(SCORES[arm, seed])

    with pytest.raises(KeyboardInterrupt):
        real_unseen.run_series(series, runner, path)
    stored = json.loads(path.read_text())[series]
    assert set(stored["distillgraph"]) == set(stored["random"]) == {"1"}  # the two runs that ended
    calls.clear()
    ran = real_unseen.run_series(series, lambda t, a, b, s: (calls.append((a, s)), fake_row(SCORES[a, s]))[1], path)
    assert ran == 6 and calls[0] == ("distillgraph", 2) and ("random", 1) not in calls


def test_interim_until_every_pair_then_the_ci_verdict(tmp_path, series):
    path = tmp_path / "r.json"
    data = {series: {arm: {str(s): fake_row(SCORES[arm, s]) for s in (1, 2, 3)} for arm in PLAN["arms"]}}
    path.write_text(json.dumps(data))
    p = real_unseen.pairs(real_unseen.stored(path), series)
    assert p["n"] == 3 and p["verdict"] == "interim, 3 of 4 pairs: no verdict"
    for arm in PLAN["arms"]:
        data[series][arm]["4"] = fake_row(SCORES[arm, 4])
    p = real_unseen.pairs(data, series)
    assert p["n"] == 4 and p["wins"] == 4 and p["verdict"] == "ahead"
    assert p["diff"] == pytest.approx((0.10 + 0.07 + 0.04 + 0.09) / 4, abs=1e-4)
    text = "\n".join(real_unseen.series_lines(data, series))
    assert "not a simulation" in text and "| 1 | 0.600 | 0.500 | +10.0 | 35 / 2; 35 / 2 | 70.0% / 70.0% | 40 / 40 |" in text
    assert "**ahead**" in text


def test_a_loss_is_shown_as_one(series):
    data = {series: {"distillgraph": {"1": fake_row(0.4)}, "random": {"1": fake_row(0.5)}}}
    assert "| 1 | 0.400 | 0.500 | -10.0 |" in "\n".join(real_unseen.series_lines(data, series))


def test_the_real_teacher_keeps_the_shipped_demonstrations():
    from distillgraph.agents.config import TeacherConfig

    assert real_unseen.real_teacher() == ["teacher.provider=local",
                                          f"teacher.demonstrations={TeacherConfig().demonstrations}"]
