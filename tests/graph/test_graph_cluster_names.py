"""Teacher-written cluster names: one paid call in the index step, shown before the keywords; off by default."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from distillgraph.agents.prices import teacher_prices
from distillgraph.graph.config import load_config
from distillgraph.graph.plan import project
from distillgraph.graph.runner import execute, new_run_dir
from distillgraph.prompts import PromptLibrary
from distillgraph.store.datasets import load_data
from tests.graph.conftest import teacher_responder
from tests.stub_server import StubServer, chosen_tool

ENV = {"DG_TEST_KEY": "sk-test-secret-key-1234567890"}


def naming_responder(body: dict[str, Any]) -> dict[str, Any]:
    tool = chosen_tool(body)
    if tool and tool["function"]["name"] == "ClusterNames":
        return {"names": [{"id": c, "name": f"written group {c}"} for c in range(3)]}
    return teacher_responder(body)


def _run(path: str, overrides: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cfg = load_config(path, overrides)
    run_dir = new_run_dir(cfg)
    state = execute(cfg, run_dir, env=ENV, console=Console(quiet=True), progress=False)
    steps = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    return state, [e for s in steps for e in s.get("events", []) if e.get("kind") == "teacher"]


def test_teacher_names_the_clusters_once_and_keywords_stay(make_config):
    with StubServer(responder=naming_responder, seed=0) as srv:
        path = make_config(srv.base_url, loop__rounds=1, loop__max_rounds=1, budget__max_calls=12)
        state, teacher = _run(str(path), ["store.teacher_names=true"])
        named = [e for e in teacher if e.get("prompt") == "cluster_name"]
        assert len(named) == 1 and named[0]["node"] == "index" and named[0].get("prompt_hash")
        names = state["clusters"]["names"]
        assert all(n.startswith(f"written group {c}") for c, n in names.items()), names
        assert all(len(n) > len(f"written group {c}") for c, n in names.items()), "keywords dropped"
        assert state["ledger"]["spent"]["calls"] <= 12


def test_without_the_switch_no_naming_call(stub, make_config):
    path = make_config(stub.base_url, loop__rounds=1, loop__max_rounds=1, budget__max_calls=12)
    state, teacher = _run(str(path), [])
    assert not [e for e in teacher if e.get("prompt") == "cluster_name"]
    assert not any(n.startswith("written") for n in state["clusters"]["names"].values())


def _analyst_calls(path: str, overrides: list[str]) -> float:
    cfg = load_config(path, overrides)
    rows = project(cfg, load_data(cfg.data, cfg.task), PromptLibrary(), teacher_prices(cfg.teacher, cfg.budget, ENV))
    return next(r.calls for r in rows if r.node == "analyst")


def test_plan_counts_analysis_only_for_policies_that_read_it(stub, make_config):
    path = str(make_config(stub.base_url))
    assert _analyst_calls(path, ["loop.policy=random"]) == 0
    assert _analyst_calls(path, ["loop.policy=distillgraph"]) == load_config(path).loop.rounds
    assert _analyst_calls(path, ["loop.policy=random", "store.teacher_names=true"]) == 1
    # the report's one reader is the writer: without synthesis it is not paid, unless asked for
    assert _analyst_calls(path, ['loop.synthesis="off"']) == 0
    assert _analyst_calls(path, ['loop.synthesis="off"', "loop.teacher_analysis=always"]) == load_config(path).loop.rounds
    assert _analyst_calls(path, ["loop.teacher_analysis=off"]) == 0
