"""Synthesis that falls short of the plan (a writer that returns fewer texts than asked): the generator asks
again for what is missing, then buys the rest from the pool, so the round's budget is not left unspent."""

from __future__ import annotations

from typing import Any

from distillgraph.agents.records import Candidate
from distillgraph.graph.node_generator import shortfall
from tests.graph.conftest import teacher_responder
from tests.graph.test_graph_teacher_quality import decisions, run
from tests.stub_server import StubServer, chosen_tool


def _terse_writer(body: dict[str, Any]) -> dict[str, Any]:
    """A sensible teacher whose writer returns one text per call, whatever it was asked for."""
    answer = teacher_responder(body)
    tool = chosen_tool(body)
    if tool and tool["function"]["name"] == "SynthBatch":
        answer["samples"] = answer["samples"][:1]
    return answer


def _cand(i: str, cluster: int) -> Candidate:
    return Candidate(id=i, cluster=cluster, source="synthetic", round=1, text=i)


def test_shortfall_counts_what_each_cluster_still_misses() -> None:
    kept = [_cand("a", 0), _cand("b", 0), _cand("c", 2)]
    assert shortfall({0: 2, 1: 3, 2: 4}, kept) == {1: 3, 2: 3}
    assert shortfall({0: 1}, kept) == {}
    assert shortfall({}, kept) == {}


def _synth_run(make_config, name: str, overrides: list[str]) -> tuple[Any, dict[str, Any]]:
    with StubServer(responder=_terse_writer, seed=0) as srv:
        cfg = make_config(srv.base_url, name=name, loop__near_duplicate=0.0)
        return run(cfg, ["budget.max_calls=40", "loop.rounds=2", "loop.max_rounds=2", *overrides])


def test_synthesis_only_asks_the_writer_again_for_what_it_did_not_return(make_config) -> None:
    once_dir, once = _synth_run(make_config, "synth-once", ["loop.synthesis=only", "loop.synth_top_up=0"])
    again_dir, again = _synth_run(make_config, "synth-again", ["loop.synthesis=only"])
    assert not decisions(once_dir, "synthesis short: ask the writer again")
    asked = decisions(again_dir, "synthesis short: ask the writer again")
    assert asked and all(d["attempt"] == 1 and d["missing"] for d in asked)
    synthetic = [a for a in again["dataset"] if a.source == "synthetic"]
    assert len(synthetic) > len([a for a in once["dataset"] if a.source == "synthetic"])
    for st in (once, again):  # the stub writes a round-1 text again in round 2: bought once
        ids = [a.id for a in st["dataset"] if a.source == "synthetic"]
        assert len(ids) == len(set(ids))
    assert again["ledger"]["spent"]["calls"] > once["ledger"]["spent"]["calls"]
    assert not [a for a in again["dataset"] if a.source == "pool"]  # synthesis only: never filled from the pool


def test_auto_synthesis_fills_what_the_writer_missed_from_the_pool(make_config) -> None:
    run_dir, state = _synth_run(make_config, "synth-fill", ["loop.tail_factor=100", "loop.synth_top_up=0"])
    filled = decisions(run_dir, "synthesis short: filled from the pool")
    assert filled and all(0 < d["filled"] <= d["missing"] for d in filled)
    pool_ids = [a.id for a in state["dataset"] if a.source == "pool"]
    assert len(pool_ids) == len(set(pool_ids))
