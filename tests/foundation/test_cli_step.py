"""Step mode's `r ID`: only this step's annotations, by exact id or a unique prefix of >= 6 characters; what it
rejects stays taken (never selected and paid for again). A two-node graph over the real state and reducers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

import distillgraph.graph.cli_run as cli_run
from distillgraph.agents.records import Annotation
from distillgraph.graph.state import DistillState, labelled_ids, serializer


def ann(id_: str, round_: int) -> Annotation:
    return Annotation(id=id_, target="a", cluster=0, source="synthetic" if id_.startswith("syn") else "pool",
                      round=round_)


EARLIER = [ann("syn-aaaa1111", 1), ann("pool-0001", 1)]           # accepted in round 1
THIS_STEP = [ann("syn-bbbb2222", 2), ann("syn-bbbb3333", 2), ann("pool-0002-xyz", 2), ann("ab", 2)]


def paused_after_annotator(tmp_path: Path):
    graph = StateGraph(DistillState)
    graph.add_node("annotator", lambda state: {"dataset": THIS_STEP, "round": 2})
    graph.add_node("trainer", lambda state: {})
    graph.add_edge(START, "annotator")
    graph.add_edge("annotator", "trainer")
    graph.add_edge("trainer", END)
    app = graph.compile(checkpointer=InMemorySaver(serde=serializer()), interrupt_after=["annotator"])
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"dataset": EARLIER, "round": 1}, config)
    (tmp_path / "trace.jsonl").write_text(json.dumps({"step": 9, "node": "annotator", "round": 2}) + "\n")
    return app, config


def step(app, config, tmp_path: Path, answers: list[str], monkeypatch, capsys) -> tuple[bool, str]:
    feed = iter(answers)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(feed))
    monkeypatch.setattr(cli_run, "_current_run", {"dir": str(tmp_path), "ref": "r1"})
    go_on = cli_run._step_handler(app, app.get_state(config), config)
    return go_on, capsys.readouterr().out


def ids(app, config) -> list[str]:
    return [a.id for a in app.get_state(config).values["dataset"]]


@pytest.mark.parametrize("answer, why", [
    ("r s", "at least 6"),                 # a short prefix used to drop every synthetic annotation ever made
    ("r syn-b", "at least 6"),
    ("r syn-bbbb", "matches 2 annotations"),
    ("r pool-0001", "no annotation of this step"),   # an id of an earlier round
    ("r syn-aaaa", "no annotation of this step"),
    ("r syn-bbbb2 nothing-like-it", "no annotation of this step"),  # one bad token: nothing at all is dropped
])
def test_short_ambiguous_or_foreign_ids_drop_nothing(tmp_path, monkeypatch, capsys, answer, why):
    app, config = paused_after_annotator(tmp_path)
    before = ids(app, config)
    go_on, out = step(app, config, tmp_path, [answer, ""], monkeypatch, capsys)
    assert go_on
    assert why in out and "nothing rejected" in out
    assert ids(app, config) == before
    assert not app.get_state(config).values.get("human_rejected")


def test_reject_by_unique_prefix_or_exact_id_and_the_ids_stay_taken(tmp_path, monkeypatch, capsys):
    app, config = paused_after_annotator(tmp_path)
    go_on, out = step(app, config, tmp_path, ["r syn-bbbb2 pool-0002", "r ab", "q"], monkeypatch, capsys)
    assert not go_on and "resume r1" in out
    assert "rejected 2 annotation(s)" in out and "rejected 1 annotation(s)" in out
    assert ids(app, config) == ["syn-aaaa1111", "pool-0001", "syn-bbbb3333"]
    values = app.get_state(config).values
    assert sorted(values["human_rejected"]) == ["ab", "pool-0002-xyz", "syn-bbbb2222"]
    # the pool's unlabelled ids leave them out: a rejected pool item is not selected (and paid for) again
    assert {"pool-0002-xyz", "ab", "syn-bbbb2222"} <= labelled_ids(values)


def test_match_rejections_rules():
    step_ids = ["abcdef-1", "abcdef-2", "xyz"]
    assert cli_run.match_rejections(step_ids, ["abcdef-2"]) == (["abcdef-2"], None)
    assert cli_run.match_rejections(step_ids, ["xyz", "abcdef-1", "abcdef-1"]) == (["xyz", "abcdef-1"], None)
    assert cli_run.match_rejections(step_ids, ["abcdef"])[0] == []
    assert cli_run.match_rejections(step_ids, ["xy"])[0] == []
