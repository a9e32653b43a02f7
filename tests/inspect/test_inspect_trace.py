"""`trace RUN --step N` and `--diff N` on a recorded run: readable, folded, and inert to markup in the data."""

from __future__ import annotations

import json

from rich.console import Console
from typer.testing import CliRunner

from distillgraph.graph.cli import app
from distillgraph.graph.runner import load_run_config
from distillgraph.graph.trace import read_trace, run_texts
from distillgraph.graph.trace_view import cluster_names, fold, render_diff, render_step, snippet
from tests.inspect.conftest import MARKUP

runner = CliRunner()


def cli(*args, columns=100):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns), "DG_TEST_KEY": "sk-abc"})


def step_of(run_dir, node, nth=0):
    return [r for r in read_trace(run_dir) if r["node"] == node][nth]


def test_step_shows_header_requests_and_decisions(recorded_run):
    rec = step_of(recorded_run, "analyst")
    r = cli("trace", recorded_run, "--step", rec["step"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert f"step {rec['step']}: analyst" in out and "duration" in out and "→" in out  # budget before → after
    assert "request 1/1 · prompt analyst (v" in out and "system" in out and "raw answer" in out and "parsed" in out
    assert "paid ·" in out and "tokens" in out
    # the plan as a table, clusters by id and keywords
    assert "decisions: allocate" in out and "quota" in out and "reason" in out
    names = cluster_names(recorded_run)
    assert any(f"{c} · {n}" in out for c, n in names.items()), names


def test_markup_in_prompts_and_answers_stays_inert(recorded_run):
    rec = step_of(recorded_run, "annotator")
    r = cli("trace", recorded_run, "--step", rec["step"], columns=400)
    assert r.exit_code == 0, r.output
    # written exactly as the data holds it: neither interpreted as rich markup nor dropped
    assert MARKUP in r.output
    assert "\x1b[" not in r.output  # no styling escaped from the data (CliRunner is not a terminal)


def test_folding_keeps_an_annotator_request_to_one_screen(recorded_run):
    rec = step_of(recorded_run, "annotator")
    console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    for part in render_step(rec, names=cluster_names(recorded_run)):
        console.print(part)
    text = console.export_text()
    panels = text.split("╭─ request ")[1:]
    assert len(panels) == sum(1 for e in rec["events"] if e["kind"] == "teacher")
    assert max(len(p.splitlines()) for p in panels) <= 50, "a request does not fit one screen"
    assert "same as in request 1" in panels[1]  # the shared system message is shown once


def test_fold_and_unfold():
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(60))
    folded = fold(text, 10, 600).plain
    assert folded.startswith("line 0") and folded.rstrip().endswith("x" * 50) and "line 59" in folded
    assert "folded (--unfold shows all)" in folded and "line 30 " not in folded
    assert fold(text, 10, 600, unfold=True).plain == text
    block = "Now annotate:\n<<<DATA\n" + "word " * 400 + "\nDATA>>>"
    short = fold(block, 14, 1100).plain
    assert "more characters" in short and short.rstrip().endswith("DATA>>>") and len(short) < 400
    assert fold("[bold]x[/] <script>", 5, 100).plain == "[bold]x[/] <script>"


def test_unfold_shows_everything(recorded_run):
    rec = step_of(recorded_run, "analyst")
    folded = cli("trace", recorded_run, "--step", rec["step"]).output
    full = cli("trace", recorded_run, "--step", rec["step"], "--unfold").output
    assert "folded (--unfold shows all)" in folded and "folded (--unfold" not in full
    assert len(full) > len(folded)


def test_json_keeps_the_raw_record(recorded_run):
    rec = step_of(recorded_run, "annotator")
    r = cli("trace", recorded_run, "--step", rec["step"], "--json", columns=200)
    assert r.exit_code == 0
    assert json.loads(r.output) == json.loads(json.dumps(rec))


def test_diff_lists_annotations_item_by_item(recorded_run):
    from distillgraph.graph.runner import final_state

    rec = step_of(recorded_run, "annotator")
    r = cli("trace", recorded_run, "--diff", rec["step"], columns=250)
    assert r.exit_code == 0, r.output
    added = [a for a in final_state(recorded_run)["dataset"] if a.round == rec["round"]]
    assert added and f"dataset: {len(added)} annotation(s) added" in r.output
    for a in added:
        assert a.id in r.output
    assert "agreement" in r.output and "budget spent" in r.output
    assert f"step {rec['step']}: {len(added)} annotation(s) added" in r.output
    text_of = run_texts(load_run_config(recorded_run))
    for a in added:  # the texts' first 80 characters
        assert snippet(a.text or text_of(a.id))[:60] in r.output


def test_diff_shows_markup_in_texts_as_written():
    from distillgraph.agents.records import Annotation, Candidate

    ann = Annotation(id="syn-1", target="tech", cluster=0, source="synthetic", round=1, text=MARKUP, votes=["tech"] * 3,
                     agreement=1.0)
    cand = Candidate(id="syn-2", cluster=1, source="synthetic", round=1, text=f"[red]{MARKUP}")
    parts = render_diff({"dataset": [], "rejected": []},
                        {"dataset": [ann], "candidates": [cand], "rejected": [{"id": "p1", "reason": "[i]no votes[/i]"}]},
                        step=3, names={0: "a / b", 1: "[bold]c[/bold] / d"}, text_of=lambda i: None)
    console = Console(width=300, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    for part in parts:
        console.print(part)
    out = console.export_text()
    assert MARKUP[:60] in out and f"[red]{MARKUP}"[:60] in out and "[i]no votes[/i]" in out
    assert "1 · [bold]c[/bold] / d" in out and "0.99" not in out and "1.00 (3/3: tech, tech, tech)" in out
    assert "step 3: 1 annotation(s) added (1 synthetic), 0 removed, 1 rejected, 1 candidate(s) created" in out


def test_diff_of_a_generator_step_lists_the_candidates(recorded_run):
    rec = step_of(recorded_run, "generator")
    r = cli("trace", recorded_run, "--diff", rec["step"], columns=250)
    assert r.exit_code == 0, r.output
    summary = rec["summary"]
    n = summary["selected"] + summary["synthesized"] + summary["synthesis_short_filled_from_pool"]
    assert f"candidates created ({n})" in r.output and f"{n} candidate(s) created" in r.output


def test_step_table_and_missing_step(recorded_run):
    r = cli("trace", recorded_run)
    assert r.exit_code == 0 and "annotator" in r.output
    r = cli("trace", recorded_run, "--step", 999)
    assert r.exit_code == 2 and "no step 999" in r.output
