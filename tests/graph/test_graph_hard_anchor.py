"""Where hard synthetic samples are anchored (`loop.hard_anchor`): on the student's errors on the round's new
teacher labels, predicted before it is trained on them (EvoKD; the default), or on its misclassified dev texts.
The default must never show a dev text to the writer, so dev figures stay measured on unseen data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from distillgraph.agents.records import Annotation
from distillgraph.graph.node_trainer import label_predictions
from tests.graph.conftest import LABELS, teacher_responder
from tests.graph.test_graph_teacher_quality import decisions, run
from tests.stub_server import StubServer, chosen_tool


def _recording(sink: list[str]) -> Any:
    def respond(body: dict[str, Any]) -> dict[str, Any]:
        tool = chosen_tool(body)
        if tool and tool["function"]["name"] == "SynthBatch":
            sink.append(body["messages"][-1]["content"])
        return teacher_responder(body)
    return respond


def _errors_shown(user: str) -> list[str]:
    """The texts the generator prompt lists under "Inputs the student got wrong"."""
    if "Inputs the student got wrong:" not in user:
        return []
    section = user.split("Inputs the student got wrong:")[1].split("Write ")[0]
    return [t.strip() for t in re.findall(r"<<<DATA\n(.*?)\nDATA>>>", section, flags=re.S)]


def _anchor_run(make_config, anchor: str) -> tuple[list[str], dict[str, Any], Path]:
    asked: list[str] = []
    with StubServer(responder=_recording(asked), seed=0) as srv:
        cfg = make_config(srv.base_url, name=f"anchor-{anchor}", loop__near_duplicate=0.0)
        run_dir, state = run(cfg, ["budget.max_calls=40", "loop.rounds=3", "loop.max_rounds=3", "loop.tail_factor=100",
                             f"loop.hard_anchor={anchor}"])
    assert asked, "the writer was never asked"
    return [t for u in asked for t in _errors_shown(u)], state, run_dir


def test_the_default_shows_the_writer_errors_on_new_labels_and_never_a_dev_text(make_config, dataset) -> None:
    dev = {json.loads(line)["text"] for line in Path(dataset["dev"]).read_text().splitlines()}
    shown, state, run_dir = _anchor_run(make_config, "labelled")
    assert not decisions(run_dir, "dev measured on the half the writer never sees")
    assert shown, "no error shown to the writer"
    assert not set(shown) & dev
    pool = {json.loads(line)["text"] for line in Path(dataset["pool"]).read_text().splitlines()}
    new_labels = state["label_predictions"]  # the last round's, as the student predicted them before training
    assert new_labels and not {r["id"] for r in new_labels} & set(state["dev_ids"])
    assert {r["id"] for r in new_labels} <= {a.id for a in state["dataset"] if a.round == state["round"]}
    written = {a.text for a in state["dataset"] if a.source == "synthetic"}
    assert set(shown) <= pool | written  # texts the teacher labelled, never a dev or test text

def test_dev_anchoring_shows_misclassified_dev_texts(make_config, dataset) -> None:
    dev = {json.loads(line)["text"] for line in Path(dataset["dev"]).read_text().splitlines()}
    shown, state, _ = _anchor_run(make_config, "dev")
    assert shown and set(shown) <= dev
    assert state["label_predictions"] == []  # not computed when nothing reads it


class _Student:
    def __init__(self) -> None:
        self.loaded: list[Path] = []
        self.asked: list[str] = []

    def load(self, path: Path) -> None:
        self.loaded.append(path)

    def predict(self, ids: list[str], texts: list[str]) -> list[Any]:
        self.asked += ids
        return [SimpleNamespace(prediction="sport") for _ in ids]


def _ann(i: str, rnd: int, weight: float = 1.0) -> Annotation:
    return Annotation(id=i, target="tech", cluster=1, source="pool", round=rnd, weight=weight)


def test_label_predictions_are_the_rounds_kept_labels_predicted_by_the_previous_student() -> None:
    student = _Student()
    deps = SimpleNamespace(cfg=SimpleNamespace(loop=SimpleNamespace(synthesis="auto", hard_anchor="labelled")),
                           student=student, student_round=None, policy=SimpleNamespace(synthesizes=True),
                           teacher_can=lambda kind: kind in ("label", "synth"))
    look = SimpleNamespace(text=lambda i: f"text {i}")
    state = {"round": 2, "adapter": "runs/x/adapters/round-1",
             "dataset": [_ann("old", 1), _ann("new", 2), _ann("dropped", 2, weight=0.0)]}
    rows = label_predictions(deps, state, look, 2)
    assert rows == [{"id": "new", "gold": "tech", "pred": "sport", "cluster": 1}]
    assert student.loaded == [Path("runs/x/adapters/round-1")]  # a resumed run predicts with last round's student
    assert label_predictions(deps, {**state, "round": 0}, look, 0) == []  # no student before round 0
    deps.cfg.loop.hard_anchor = "dev"
    assert label_predictions(deps, state, look, 2) == []
    deps.cfg.loop.hard_anchor, deps.cfg.loop.synthesis = "labelled", "off"
    assert label_predictions(deps, state, look, 2) == []
    deps.cfg.loop.synthesis, deps.teacher_can = "auto", lambda kind: kind == "label"  # the oracle: never writes
    assert label_predictions(deps, state, look, 2) == []
    deps.teacher_can, deps.policy.synthesizes = lambda kind: True, False  # random, uncertainty, ...
    assert label_predictions(deps, state, look, 2) == []
    assert student.asked == ["new"]


def test_dev_half_shows_the_writer_only_the_shown_half_of_dev(make_config, dataset) -> None:
    from distillgraph.graph.node_tools import shown_dev
    from distillgraph.store.schema import content_id

    dev = {json.loads(line)["text"] for line in Path(dataset["dev"]).read_text().splitlines()}
    assert {shown_dev(content_id(t)) for t in dev} == {True, False}  # both halves hold dev texts
    shown, state, run_dir = _anchor_run(make_config, "dev_half")
    assert shown and set(shown) <= dev
    assert all(shown_dev(content_id(t)) for t in shown)  # never a text of the held half
    # the run's dev figures are measured on the held half; the analyst still gets every dev prediction
    from distillgraph.trainer.evaluate import classification_metrics

    rows = state["dev_predictions"]
    held = [r for r in rows if not shown_dev(r["id"])]
    assert len(rows) == len(dev) and 0 < len(held) < len(rows)
    m = classification_metrics([r["gold"] for r in held], [r["pred"] for r in held], list(LABELS),
                               [r["cluster"] for r in held])
    assert state["history"][-1].dev["macro_f1"] == round(m["macro_f1"], 4)
    said = decisions(run_dir, "dev measured on the half the writer never sees")
    assert said and all(d["n"] == len(held) and d["of"] == len(rows) for d in said)


def test_a_run_that_does_not_write_measures_on_all_of_dev(make_config, dataset) -> None:
    from distillgraph.graph.config import LoopConfig
    from distillgraph.trainer.evaluate import classification_metrics

    assert LoopConfig().hard_anchor == "dev_half"
    with StubServer(responder=teacher_responder, seed=0) as srv:
        cfg = make_config(srv.base_url, name="no-writer")
        _, state = run(cfg, ["budget.max_calls=20", "loop.synthesis=off"])
    rows = state["dev_predictions"]
    m = classification_metrics([r["gold"] for r in rows], [r["pred"] for r in rows], list(LABELS))
    assert state["history"][-1].dev["macro_f1"] == round(m["macro_f1"], 4)


def test_the_writer_learns_from_all_of_dev_or_its_shown_half() -> None:
    from distillgraph.graph.node_tools import anchor_rows, shown_dev, writer_dev_rows

    rows = [{"id": f"d{i}", "gold": "tech", "pred": "sport", "cluster": 0} for i in range(12)]
    new = [{"id": "n1", "gold": "tech", "pred": "sport", "cluster": 0}]
    state = {"dev_predictions": rows, "label_predictions": new}
    half = [r for r in rows if shown_dev(r["id"])]
    assert 0 < len(half) < len(rows) and [shown_dev(r["id"]) for r in rows] == [shown_dev(r["id"]) for r in rows]
    assert writer_dev_rows(state, "dev_half") == half
    assert writer_dev_rows(state, "dev") == rows == writer_dev_rows(state, "labelled")  # missed labels: all of dev
    assert anchor_rows(state, "labelled") == new and anchor_rows(state, "dev") == rows
    assert anchor_rows(state, "dev_half") == half


def test_dev_is_measured_on_the_unseen_half_only_where_there_is_one() -> None:
    from distillgraph.graph.node_tools import shown_dev
    from distillgraph.graph.node_trainer import unseen_dev

    ids = [f"d{i}" for i in range(10)]
    shown = [i for i in ids if shown_dev(i)]
    deps = SimpleNamespace(cfg=SimpleNamespace(loop=SimpleNamespace(synthesis="auto", hard_anchor="dev_half")),
                           policy=SimpleNamespace(synthesizes=True), teacher_can=lambda kind: True)
    keep = unseen_dev(deps, ids)
    assert keep is not None and [i for i in ids if keep(i)] == [i for i in ids if i not in shown]
    assert unseen_dev(deps, shown) is None  # nothing held out: measured on all of dev
    assert unseen_dev(deps, []) is None
    deps.teacher_can = lambda kind: kind == "label"  # nothing is written: all of dev
    assert unseen_dev(deps, ids) is None
    deps.teacher_can, deps.cfg.loop.hard_anchor = (lambda kind: True), "labelled"
    assert unseen_dev(deps, ids) is None


def _analyst_ids(make_config, anchor: str) -> list[str]:
    """The dev example ids the analyst's weakness prompt quotes (its report's descriptions reach the writer)."""
    asked: list[str] = []

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        tool = chosen_tool(body)
        if tool and tool["function"]["name"] == "WeaknessReport":
            asked.append(body["messages"][-1]["content"])
        return teacher_responder(body)

    with StubServer(responder=respond, seed=0) as srv:
        cfg = make_config(srv.base_url, name=f"analyst-{anchor}", loop__near_duplicate=0.0)
        run(cfg, ["budget.max_calls=40", "loop.rounds=3", "loop.max_rounds=3", "loop.tail_factor=100",
                  f"loop.hard_anchor={anchor}", "loop.analyst_examples=50"])
    assert asked, "the analyst never asked the teacher"
    return [i for u in asked for i in re.findall(r"^\[([^\]]+)\] cluster", u, flags=re.M)]


def test_the_analysts_examples_come_only_from_what_the_writer_may_see(make_config, dataset) -> None:
    from distillgraph.graph.node_tools import shown_dev
    from distillgraph.store.schema import content_id

    dev = {content_id(json.loads(line)["text"]) for line in Path(dataset["dev"]).read_text().splitlines()}
    everything = _analyst_ids(make_config, "dev")
    assert {shown_dev(i) for i in everything} == {True, False}  # with `dev` it quotes both halves
    half = _analyst_ids(make_config, "dev_half")
    assert half and set(half) <= dev and all(shown_dev(i) for i in half)  # never the held half
    labelled = _analyst_ids(make_config, "labelled")
    assert not set(labelled) & dev  # only texts the teacher labelled
