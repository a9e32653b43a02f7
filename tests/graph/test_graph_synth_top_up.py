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


class _FakeStore:
    """Stored items: id -> (vector, metadata); neighbours by cosine distance, nearest first."""

    def __init__(self, items: dict[str, tuple[list[float], dict[str, Any]]]):
        self.items = items

    def neighbours(self, *, vector: Any, k: int, exclude_ids: list[str]) -> list[Any]:
        import numpy as np

        from distillgraph.store.vectors import Hit

        def dist(v: list[float]) -> float:
            a, b = np.asarray(vector, float), np.asarray(v, float)
            return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

        hits = [Hit(id=i, text="", metadata=m, distance=dist(v)) for i, (v, m) in self.items.items()
                if i not in exclude_ids]
        return sorted(hits, key=lambda h: h.distance)[:k]


def _fake_deps(store: _FakeStore, vectors: dict[str, list[float]]) -> Any:
    from types import SimpleNamespace

    import numpy as np

    return SimpleNamespace(cfg=SimpleNamespace(loop=SimpleNamespace(near_duplicate=0.05)), store=store,
                           vectors=lambda ids, texts: np.asarray([vectors[i] for i in ids], float),
                           trace=SimpleNamespace(decision=lambda *a, **k: None))


def test_near_duplicates_ignore_this_rounds_stored_texts_so_a_rerun_drops_the_same() -> None:
    """A generator re-run after a crash finds its round's texts already stored: it must keep and drop exactly
    what the first run did (the shortfall, and so what it pays for next, depends on it)."""
    from distillgraph.graph.node_generator import drop_near_duplicates

    vecs = {"old": [1.0, 0.0, 0.0], "a": [0.0, 1.0, 0.0], "b": [0.0, 1.0, 0.01], "c": [0.0, 0.0, 1.0],
            "d": [1.0, 0.001, 0.0]}
    synth = [_cand(i, 0) for i in ("a", "b", "c", "d")]
    first = _FakeStore({"old": (vecs["old"], {"source": "pool", "round": 0})})
    kept = [c.id for c in drop_near_duplicates(_fake_deps(first, vecs), synth)]
    assert kept == ["a", "c"]  # b: near a (same batch); d: near stored data
    stored = {i: (vecs[i], {"source": "synthetic", "round": 1}) for i in kept}
    rerun = _FakeStore({**first.items, **stored})
    assert [c.id for c in drop_near_duplicates(_fake_deps(rerun, vecs), synth)] == kept
    # texts kept by an earlier pass of the same round count as stored data for a later pass
    assert [c.id for c in drop_near_duplicates(_fake_deps(rerun, vecs), [_cand("b", 0)], [synth[0]])] == []
