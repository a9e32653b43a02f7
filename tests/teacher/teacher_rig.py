"""Helpers for the teacher tests: label requests and a rig wiring Teacher + ledger + cache to a stub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.cache import AnswerCache
from distillgraph.agents.config import BudgetConfig, TeacherConfig
from distillgraph.agents.prices import resolve_prices
from distillgraph.agents.schemas import label_answer_schema
from distillgraph.agents.teacher import BaseTeacher, TeacherRequest, build_teacher
from distillgraph.prompts import PromptLibrary

LABELS = ("business", "sport", "tech")
SECRET = "sk-test-SECRETKEY0123456789abcdef"


def label_requests(n: int, node: str = "annotator", prefix: str = "text") -> list[TeacherRequest]:
    schema = label_answer_schema(LABELS)
    return [
        TeacherRequest(
            node=node,
            messages=[{"role": "system", "content": "Classify."}, {"role": "user", "content": f"{prefix} {i}"}],
            schema=schema,
            prompt_name="annotator",
            prompt_hash="h1",
            example_id=f"ex{i}",
        )
        for i in range(n)
    ]


class Rig:
    """Everything a test needs around one teacher; `events` collects on_event dicts."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.events: list[dict[str, Any]] = []
        self.teachers: list[BaseTeacher] = []
        self.caches: list[AnswerCache] = []

    def teacher(
        self,
        base_url: str,
        *,
        budget: dict[str, Any] | None = None,
        ledger_state: dict | None = None,
        cache_name: str = "llm_cache.sqlite",
        no_cache: bool = False,
        env: dict[str, str] | None = None,
        **cfg: Any,
    ) -> tuple[BaseTeacher, BudgetLedger]:
        settings = {"base_url": base_url, "model": "stub", "backoff_base": 0.01, "backoff_max": 1.0,
                    "timeout": 5.0, "max_retries": 3, **cfg}
        tcfg = TeacherConfig(**settings)
        prices = resolve_prices(tcfg, base_url)
        ledger = BudgetLedger(BudgetConfig(**(budget or {"max_calls": 1000})), prices.input_per_1m,
                              prices.output_per_1m, state=ledger_state)
        cache = AnswerCache(self.tmp_path / cache_name)
        self.caches.append(cache)
        teacher = build_teacher(tcfg, ledger, cache, env=env if env is not None else {"OPENAI_API_KEY": SECRET},
                                prompts=PromptLibrary(), no_cache=no_cache, on_event=self.events.append)
        self.teachers.append(teacher)
        return teacher, ledger

    def close(self) -> None:
        for teacher in self.teachers:
            teacher.close()
        for cache in self.caches:
            cache.close()
