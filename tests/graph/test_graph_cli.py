"""The run-facing CLI on real runs: step mode with scripted input, trace, resume, fork, report, export."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from distillgraph.graph.cli import app

runner = CliRunner()


def cli(*args, input=None, env=None):
    return runner.invoke(app, [str(a) for a in args], input=input, env=env or {"DG_TEST_KEY": "sk-abc"})


def only_run(runs: Path) -> Path:
    dirs = sorted(p for p in runs.iterdir() if p.is_dir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_step_mode_pauses_after_each_node_and_q_stops_resumably(stub, make_config, tmp_path):
    path = make_config(stub.base_url, budget__max_calls=12)
    r = cli("run", path, "--step", input="\n\nq\n")
    assert r.exit_code == 0, r.output
    assert "after index (step 1)" in r.output and "after bootstrap (step 2)" in r.output
    assert "after trainer (step 3)" in r.output and "stopped; continue later" in r.output
    run_dir = only_run(tmp_path / "runs")
    steps = [json.loads(line)["node"] for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert steps == ["index", "bootstrap", "trainer"]
    # resumable: resume runs it to the end and the trace lists every node of every round
    r = cli("resume", run_dir)
    assert r.exit_code == 0, r.output
    assert "Learning curve" in r.output
    r = cli("trace", run_dir)
    assert r.exit_code == 0
    for node in ("index", "bootstrap", "trainer", "analyst", "generator", "annotator", "report"):
        assert node in r.output
    r = cli("resume", run_dir)
    assert "finished already" in r.output


def test_step_mode_refuses_short_id_prefixes(stub, make_config, tmp_path):
    """`r syn` used to drop every synthetic annotation of every round; prefixes under 6 characters now drop
    nothing (tests/foundation/test_cli_step.py and tests/reliability/test_reliability_step_reject.py test
    what `r` does reject)."""
    path = make_config(stub.base_url, budget__max_calls=20)
    # index, bootstrap, trainer, analyst, generator: Enter; at the annotator pause try to reject, then stop
    r = cli("run", path, "--step", input="\n\n\n\n\nr syn\nr 0\nq\n")
    assert r.exit_code == 0, r.output
    assert "after annotator" in r.output and r.output.count("at least 6") == 2
    run_dir = only_run(tmp_path / "runs")
    from distillgraph.graph.runner import final_state

    state = final_state(run_dir)
    accepted = [json.loads(line)["summary"]["accepted"] for line in (run_dir / "trace.jsonl").read_text().splitlines()
                if json.loads(line)["node"] == "annotator"]
    assert accepted and sum(1 for a in state["dataset"] if a.round == 1) == accepted[0] > 0
    assert not state.get("human_rejected")


def test_trace_step_diff_fork_report_export(stub, make_config, tmp_path):
    path = make_config(stub.base_url, budget__max_calls=14)
    assert cli("run", path).exit_code == 0
    run_dir = only_run(tmp_path / "runs")
    # one step in full: rendered prompts and raw teacher answers are there
    r = cli("trace", run_dir, "--step", 2, "--json")
    assert r.exit_code == 0
    rec = json.loads(r.output)
    assert rec["node"] == "bootstrap" and rec["events"][0]["messages"] and rec["events"][0]["raw"]
    r = cli("trace", run_dir, "--diff", 2)
    assert r.exit_code == 0 and "dataset" in r.output and "ledger" in r.output
    assert cli("trace", run_dir, "--step", 999).exit_code == 2
    # report and export
    assert cli("report", run_dir).exit_code == 0
    assert (run_dir / "report" / "metrics.json").exists() and (run_dir / "report" / "clusters.png").exists()
    out = tmp_path / "export"
    r = cli("export", run_dir, "--out", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert rows and rows[0]["messages"][-1]["role"] == "assistant" and rows[0]["provenance"]["source"]
    assert (out / "hf_dataset").is_dir() and (out / "adapter" / "adapter_config.json").exists()
    # the adapter is the best dev round's by default; --round picks another, a wrong one is one line + exit 2
    best = json.loads((run_dir / "report" / "metrics.json").read_text())["best_round"]["round"]
    assert json.loads((out / "adapter" / "distillgraph.json").read_text())["round"] == best
    assert f"adapter of round {best}" in " ".join(r.output.split())  # rich wraps long lines
    r = cli("export", run_dir, "--out", tmp_path / "export-0", "--round", "0")
    assert r.exit_code == 0 and json.loads((tmp_path / "export-0" / "adapter" / "distillgraph.json").read_text())["round"] == 0
    assert (tmp_path / "export-0" / "adapter" / "adapter_config.json").exists()
    r = cli("export", run_dir, "--out", tmp_path / "export-x", "--round", "99")
    assert r.exit_code == 2 and "expected best, final or one of the rounds" in r.output
    # the distilled data trains another student through the same trainer (secondary model)
    r = cli("train", run_dir, "--set", "student.lora_dropout=0.0", "--out", tmp_path / "second")
    assert r.exit_code == 0, r.output
    second = json.loads((tmp_path / "second" / "metrics.json").read_text())
    assert second["train_examples"] == len(rows) and 0 <= second["metrics"]["accuracy"] <= 1
    assert second["student"]["lora_dropout"] == 0.0
    # fork from the checkpoint after step 3 (first trainer): a new run that pays nothing already paid
    paid = stub.chat_requests
    r = cli("fork", run_dir, "--step", 3, "--set", "budget.max_calls=14")
    assert r.exit_code == 0, r.output
    forks = [p for p in (tmp_path / "runs").iterdir() if "fork3" in p.name]
    assert len(forks) == 1
    trace = [json.loads(line) for line in (forks[0] / "trace.jsonl").read_text().splitlines()]
    assert trace[0]["step"] == 4 and trace[0]["node"] == "analyst"
    assert stub.chat_requests == paid, "the fork paid for answers the source run had already bought"


def test_second_process_on_the_same_run_is_refused(stub, make_config, tmp_path):
    from distillgraph.graph.runner import run_lock

    path = make_config(stub.base_url, budget__max_calls=8)
    assert cli("run", path).exit_code == 0
    run_dir = only_run(tmp_path / "runs")
    before = (run_dir / "trace.jsonl").read_bytes()
    with run_lock(run_dir):
        r = cli("resume", run_dir)
    assert r.exit_code == 2 and "in use by another process" in r.output
    assert (run_dir / "trace.jsonl").read_bytes() == before
