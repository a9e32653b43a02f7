"""The oracle teacher: gold answers at one call each, refusals for what it cannot do."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.cache import AnswerCache
from distillgraph.agents.config import BudgetConfig, TeacherConfig
from distillgraph.agents.schemas import OutputAnswer, WeaknessReport
from distillgraph.agents.teacher import TeacherRefused, TeacherRequest, build_teacher
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import UserError
from tests.teacher.teacher_rig import label_requests


def _oracle(tmp_path: Path, gold: dict[str, str], max_calls: int = 10):
    ledger = BudgetLedger(BudgetConfig(max_calls=max_calls))
    cache = AnswerCache(tmp_path / "c.sqlite")
    teacher = build_teacher(TeacherConfig(provider="oracle"), ledger, cache, env={}, prompts=PromptLibrary(),
                            gold=gold)
    return teacher, ledger


def test_oracle_answers_from_gold_at_one_call_each(tmp_path: Path) -> None:
    teacher, ledger = _oracle(tmp_path, {"ex0": "sport", "ex1": "tech", "ex2": "nonsense"}, max_calls=3)
    results = teacher.ask_many(label_requests(4))
    assert [r.parsed.label if r.ok else None for r in results] == ["sport", "tech", None, None]
    assert "does not fit" in results[2].error  # not one of the labels
    assert "no gold target" in results[3].error
    assert ledger.spent.calls == 2 and ledger.spent.tokens == 0


def test_oracle_output_and_budget(tmp_path: Path) -> None:
    teacher, ledger = _oracle(tmp_path, {"a": "Headline A", "b": "Headline B"}, max_calls=1)
    reqs = [TeacherRequest(node="annotator", messages=[], schema=OutputAnswer, kind="output", example_id=i)
            for i in ("a", "b")]
    first, second = teacher.ask_many(reqs)
    assert first.ok and first.parsed.output == "Headline A"
    assert second.skipped_budget and not second.ok
    assert ledger.exhausted


def test_oracle_refuses_synthesis_before_spending(tmp_path: Path) -> None:
    teacher, ledger = _oracle(tmp_path, {"ex0": "sport"})
    analyse = TeacherRequest(node="analyst", messages=[], schema=WeaknessReport, kind="analyse")
    with pytest.raises(TeacherRefused, match="analyse"):
        teacher.ask_many([label_requests(1)[0], analyse])
    assert ledger.spent.calls == 0
    assert issubclass(TeacherRefused, UserError)


def test_oracle_needs_gold(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="gold"):
        build_teacher(TeacherConfig(provider="oracle"), BudgetLedger(BudgetConfig(max_calls=1)),
                      AnswerCache(tmp_path / "c.sqlite"), env={}, prompts=PromptLibrary())
