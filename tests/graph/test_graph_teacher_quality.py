"""Teacher quality in real graph runs (tiny models): the audit (continue / stop), label gating, and the
simulated teachers (noise, reserve writer) declared as simulations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from distillgraph.graph.config import load_config
from distillgraph.graph.runner import execute, new_run_dir
from distillgraph.graph.trace import decisions
from tests.graph.conftest import WORDS, _texts, teacher_responder
from tests.stub_server import StubServer, chosen_tool

ENV = {"DG_TEST_KEY": "sk-test-secret-key-1234567890"}


def run(cfg_path: Path, overrides: list[str] | None = None) -> tuple[Path, dict[str, Any]]:
    cfg = load_config(cfg_path, overrides or [])
    run_dir = new_run_dir(cfg)
    state = execute(cfg, run_dir, env=ENV, console=Console(quiet=True), progress=False)
    return run_dir, state


def test_audit_of_a_good_teacher_continues_and_is_reported(stub, make_config) -> None:
    run_dir, state = run(make_config(stub.base_url, name="audit-ok"), ["teacher.audit=6"])
    audit = state["audit"]
    assert audit["n"] == 6 and audit["verdict"] in ("better", "not_better") and audit["calls"] == 6
    assert audit["sources"] == {"dev": 6} and set(audit["per_label"]) == {"sport", "business", "tech"}
    assert audit["accuracy"] == 1.0  # the stub labels these texts by their topic words
    assert audit["ci95"][0] < 1.0 and "teacher audit:" in audit["line"]
    assert state["ledger"]["nodes"]["audit"]["spent"]["calls"] == 6
    assert decisions(run_dir, "teacher audit")
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["teacher_audit"]["accuracy"] == 1.0
    assert len(state["history"]) > 1  # went on to buy labels


def _bad_teacher(body: dict[str, Any]) -> dict[str, Any]:
    """Always a wrong label: the next topic after the one the text is about (accuracy 0)."""
    answer = teacher_responder(body)
    tool = chosen_tool(body)
    if tool and tool["function"]["name"] == "LabelAnswer":
        topics = list(WORDS)
        answer["label"] = topics[(topics.index(answer["label"]) + 1) % len(topics)]
    return answer


def test_audit_stops_a_teacher_no_better_than_the_student(make_config) -> None:
    with StubServer(responder=_bad_teacher, seed=0) as srv:
        # 0/12 right: the whole interval (0-0.24) lies below the random tiny student's ~0.33
        run_dir, state = run(make_config(srv.base_url, name="audit-stop"), ["teacher.audit=12"])
    audit = state["audit"]
    assert audit["verdict"] == "not_better" and audit["action"] == "stop"
    assert state["stop_reason"].startswith("teacher audit:")
    assert len(state["history"]) == 1  # no paid round after round 0
    spent = {n: r["spent"]["calls"] for n, r in state["ledger"]["nodes"].items() if r["spent"]["calls"]}
    assert set(spent) == {"bootstrap", "audit"} and spent["audit"] == 12  # nothing bought after: the budget is kept
    assert state["ledger"]["spent"]["calls"] < 30
    assert "NOT better" in audit["line"]


def test_audit_warn_goes_on(make_config) -> None:
    with StubServer(responder=_bad_teacher, seed=0) as srv:
        _, state = run(make_config(srv.base_url, name="audit-warn"), ["teacher.audit=12", "teacher.audit_action=warn"])
    assert state["audit"]["verdict"] == "not_better" and state["audit"]["action"] == "warn"
    assert len(state["history"]) > 1


def _labelled_pool(tmp_path: Path) -> Path:
    rows = []
    for label, n in {"sport": 24, "business": 12, "tech": 6}.items():
        rows += [{"text": t, "label": label} for t in _texts(label, n, 0)]
    p = tmp_path / "pool-gold.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_noisy_simulated_teacher_gated(make_config, tmp_path) -> None:
    cfg = make_config("http://unused", name="noisy", data__pool=str(_labelled_pool(tmp_path)))
    # the tiny random student is no evidence: a 0.6 prior below a 0.7 threshold drops what the neighbours do not back
    run_dir, state = run(cfg, ["teacher.provider=oracle", "teacher.simulation.noise=0.4", "teacher.gate.mode=drop",
                               "teacher.gate.threshold=0.7", "teacher.gate.teacher_accuracy=0.6",
                               "budget.max_calls=24", 'loop.synthesis="off"'])
    anns = state["dataset"]
    assert anns and all(a.teacher_model.startswith("simulated teacher (label noise 40% uniform") for a in anns)
    gold = {r["text"]: r["label"] for r in map(json.loads, (tmp_path / "pool-gold.jsonl").read_text().splitlines())}
    loop_anns = [a for a in anns if a.round >= 1]
    assert loop_anns and all(a.gate is not None for a in loop_anns)
    assert decisions(run_dir, "label gating")
    dropped = [a for a in anns if a.weight == 0]  # re-gating (on by default) gates the bootstrap labels too
    kept = [a for a in anns if a.weight > 0]
    assert dropped, "nothing dropped"
    assert state["history"][-1].train_size == len(kept)  # dropped labels are not trained on
    del gold  # the texts are looked up by id in the run; gating quality is measured in bench.teacher_quality
    card = json.loads((run_dir / "report" / "metrics.json").read_text())["data"]
    assert card["teacher"].startswith("simulated teacher") and kept
    assert card["label_gating"]["dropped"] == len(dropped)


def test_regating_updates_earlier_labels_as_the_labelled_set_grows(make_config, tmp_path) -> None:
    cfg = make_config("http://unused", name="regate", data__pool=str(_labelled_pool(tmp_path)))
    noisy = ["teacher.provider=oracle", "teacher.simulation.noise=0.4", "teacher.gate.mode=drop",
             "teacher.gate.threshold=0.5", "teacher.gate.w_neighbours=4", "budget.max_calls=30", 'loop.synthesis="off"']
    run_dir, state = run(cfg, [*noisy, "teacher.gate.regate_k=3"])
    regates = decisions(run_dir, "re-gating")
    assert len(regates) >= 2 and all(d["k"] == 3 for d in regates)
    assert any(d["earlier_changed"] > 0 for d in regates), "no earlier label was ever re-gated"
    anns = state["dataset"]
    assert len({a.id for a in anns}) == len(anns)   # updates replace, never duplicate
    assert regates[-1]["labels"] == len(anns)       # the last re-gate saw every teacher label
    kept = [a for a in anns if a.weight > 0]
    assert kept and len(kept) < len(anns)
    assert state["history"][-1].train_size == len(kept)  # the re-gated weights are what the student trains on
    assert not any(d["out_of_fold"] for d in regates)  # w_model 0: no out-of-fold evidence
    plain_dir, _ = run(cfg, [*noisy, "teacher.gate.regate_k=0", "run.name=plain"])
    assert decisions(plain_dir, "label gating") and not decisions(plain_dir, "re-gating")  # regate_k 0: off
    oof_dir, oof_state = run(cfg, [*noisy, "teacher.gate.regate_k=3", "teacher.gate.w_model=2", "run.name=oof"])
    assert all(d["out_of_fold"] for d in decisions(oof_dir, "re-gating"))
    gates = {a.id: a.gate for a in oof_state["dataset"]}
    assert gates != {a.id: a.gate for a in anns if a.id in gates}  # the out-of-fold evidence moved the gates


def test_reserve_writer_answers_synthesis_with_held_out_texts(make_config, tmp_path) -> None:
    reserve = tmp_path / "reserve.jsonl"
    rows = [{"text": t, "label": label} for label in WORDS for t in _texts(label, 5, 500)]
    reserve.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = make_config("http://unused", name="writer", data__pool=str(_labelled_pool(tmp_path)),
                      data__reserve=str(reserve))
    run_dir, state = run(cfg, ["teacher.provider=oracle", "teacher.simulation.writer=reserve", "loop.synthesis=only", "loop.near_duplicate=0",
                               "budget.max_calls=20"])
    synth = [a for a in state["dataset"] if a.source == "synthetic"]
    assert synth, "no synthetic sample"
    texts = {r["text"]: r["label"] for r in rows}
    for a in synth:
        assert a.text in texts and a.target == texts[a.text]  # a held-out text, labelled with its gold label
        assert "writer: held-out reserve texts" in a.teacher_model
