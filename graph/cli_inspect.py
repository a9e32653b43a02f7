"""`distillgraph trace | report | export | train`: looking at a run and using what it distilled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from distillgraph.graph import cli_common as common
from distillgraph.graph.cli_common import app, console, locate_run, user_errors
from distillgraph.store.schema import UserError


def print_summary(state: dict[str, Any], cfg: Any) -> None:
    """The learning curve: the dev metric, the worst cluster and the test metric per round."""
    from distillgraph.graph.report import regression_note

    hist = state.get("history", [])
    if not hist:
        return
    metric = cfg.dev_metric
    t = Table(title=f"Learning curve ({metric})")
    for c in ("round", "train", "calls", f"dev {metric}", "dev worst cluster", f"test {metric}"):
        t.add_column(c, justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for m in hist:
        t.add_row(str(m.round), str(m.train_size), f"{m.budget_spent.get('calls', 0):.0f}", fmt(m.dev.get(metric)),
                  fmt(m.worst_cluster), fmt(m.test.get(metric)))
    console.print(t)
    if state.get("report"):
        console.print(f"stopped: {state.get('stop_reason') or '-'}; report in {state['report']}")
    audit = state.get("audit")
    if audit:  # the teacher audit before the first paid round, in one line
        console.print(audit["line"], highlight=False, markup=False)
    note = regression_note(hist, metric)
    if note:
        console.print(f"[yellow]note:[/yellow] {note}")


@app.command()
@user_errors
def trace(run_: str = common.RunArg, step: int | None = typer.Option(None, "--step"),
          diff: int | None = typer.Option(None, "--diff"),
          json_: bool = typer.Option(False, "--json", help="with --step: the raw trace record as JSON"),
          unfold: bool = typer.Option(False, "--unfold", help="with --step: long prompts and answers in full"),
          config: Path | None = common.ConfigOpt,
          runs_dir: str | None = common.RunsDirOpt) -> None:
    """Table of steps; --step N: one step in full (--json: the raw record); --diff N: what step N changed."""
    from distillgraph.graph.trace import read_trace
    from distillgraph.graph.trace_view import print_diff, print_step

    run_dir = locate_run(run_, runs_dir, config)
    steps = read_trace(run_dir)
    if step is not None:
        rec = next((r for r in steps if r["step"] == step), None)
        if rec is None:
            raise UserError(f"run {run_dir.name}: no step {step} (steps 1..{len(steps)})")
        if json_:
            console.print_json(json.dumps(rec, default=str))
        else:
            print_step(console, run_dir, rec, unfold=unfold)
        return
    if diff is not None:
        print_diff(console, run_dir, diff)
        return
    t = Table(title=f"trace of {run_dir.name}")
    for c in ("step", "node", "round", "s", "calls", "teacher"):
        t.add_column(c, no_wrap=True, min_width=9 if c == "node" else None)
    t.add_column("summary", overflow="fold")
    for r in steps:
        calls = lambda b: f"{b.get('spent', {}).get('calls', 0)}"  # noqa: E731
        n_teacher = sum(1 for e in r.get("events", []) if e.get("kind") == "teacher")
        summary = {k: v for k, v in r.get("summary", {}).items() if not isinstance(v, dict | list) and k != "seconds"}
        t.add_row(str(r["step"]), r["node"], str(r["round"]), f"{r.get('seconds', 0):.1f}",
                  f"{calls(r.get('budget_before', {}))}->{calls(r.get('budget_after', {}))}", str(n_teacher),
                  Text(" ".join(f"{k}={v}" for k, v in summary.items())[:160]))
    console.print(t)


@app.command()
@user_errors
def report(run_: str = common.RunArg, config: Path | None = common.ConfigOpt, runs_dir: str | None = common.RunsDirOpt) -> None:
    """(Re)write a run's report: index.html (one self-contained page), metrics.json, charts, data card."""
    from distillgraph.graph.report import write_report
    from distillgraph.graph.runner import final_state, load_run_config

    run_dir = locate_run(run_, runs_dir, config)
    cfg = load_run_config(run_dir)
    state = final_state(run_dir)
    out = write_report(run_dir, state, cfg, state.get("ledger", {}))
    print_summary({**state, "report": str(out / "index.html")}, cfg)


@app.command()
@user_errors
def export(run_: str = common.RunArg, out: Path | None = typer.Option(None, "--out"),
           round_: str = typer.Option("best", "--round", help="adapter of: best (highest dev metric), final, or N"),
           config: Path | None = common.ConfigOpt, runs_dir: str | None = common.RunsDirOpt) -> None:
    """Write the distilled dataset (JSONL chat messages + HF datasets folder) and a round's adapter."""
    from distillgraph.graph.export import export_run

    run_dir = locate_run(run_, runs_dir, config)
    dest, picked = export_run(run_dir, out or run_dir / "export", round_)
    console.print(f"exported to {dest}" + (f" (adapter of round {picked})" if picked is not None else ""))


@app.command()
@user_errors
def train(run_: str = common.RunArg, set_: list[str] = common.SetOpt, out: Path | None = typer.Option(None, "--out"),
          config: Path | None = common.ConfigOpt, runs_dir: str | None = common.RunsDirOpt) -> None:
    """Train another student (e.g. --set student.kind=classifier) on a run's distilled dataset; evaluate on test."""
    from distillgraph.graph.secondary import train_secondary
    from distillgraph.graph.terminal import quiet_libraries

    quiet_libraries(debug=common._debug["on"])  # loads and trains a student, as `run` does: the same quiet terminal
    run_dir = locate_run(run_, runs_dir, config)
    dest = out or run_dir / "secondary" / dt_stamp()
    result = train_secondary(run_dir, set_ or [], dest)
    t = Table(title=f"secondary student on {run_dir.name} ({result['train_examples']} examples, {result['split']})")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in result["metrics"].items():
        if v is not None:
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(t)
    console.print(f"adapter and metrics in {dest}")


def dt_stamp() -> str:
    import datetime as dt

    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")
