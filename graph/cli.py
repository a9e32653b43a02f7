"""The `distillgraph` command line (Typer + rich).

User errors print one line and exit with code 2 (`--debug` shows the traceback); Ctrl-C leaves the
run resumable.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from distillgraph.graph.config import load_config
from distillgraph.prompts import RUN_PROMPTS, PromptError, PromptLibrary
from distillgraph.store.schema import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Distil a teacher LLM into a small LoRA student, "
                  "spending a fixed teacher budget where the student is weakest.")
prompts_app = typer.Typer(no_args_is_help=True, help="List, show, export and check the prompt templates.")
data_app = typer.Typer(no_args_is_help=True, help="Bundled demo data.")
app.add_typer(prompts_app, name="prompts")
app.add_typer(data_app, name="data")

console = Console()
err = Console(stderr=True)
_debug = {"on": False}
F = TypeVar("F", bound=Callable[..., Any])

SetOpt = typer.Option(None, "--set", help="override a config key: a.b=value (repeatable)")


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show tracebacks")) -> None:
    _debug["on"] = debug


def user_errors(fn: F) -> F:
    """One clear line and exit code 2 for errors the user can fix; the traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, PromptError) as exc:
            if _debug["on"]:
                traceback.print_exc()
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("stopped (Ctrl-C). The run is resumable: distillgraph resume RUN")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------- init / plan


@app.command()
@user_errors
def init(path: Path, type: str = typer.Option("classification", "--type", help="classification | generation"),
         force: bool = typer.Option(False, "--force", help="overwrite an existing file")) -> None:
    """Write a commented starter config."""
    src = Path(__file__).parent / "templates" / f"{type}.yaml"
    if not src.exists():
        raise UserError(f"--type {type}: choose classification or generation")
    if path.exists() and not force:
        raise UserError(f"{path}: exists already (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, path)
    console.print(f"wrote {path}; next: distillgraph plan {path}")


@app.command()
@user_errors
def plan(config: Path, set_: list[str] = SetOpt) -> None:
    """Projected teacher calls, tokens and dollars (per node and total), without calling the teacher."""
    from distillgraph.graph.plan import project
    from distillgraph.store.datasets import load_data

    cfg = load_config(config, set_)
    prompts = PromptLibrary(cfg.prompts.dir)
    prompts.check_supplied(RUN_PROMPTS)
    data = load_data(cfg.data, cfg.task)
    rows = project(cfg, data, prompts)
    t = Table(title=f"Projected teacher cost: {cfg.run.name}")
    for col in ("node", "calls", "tokens", "usd"):
        t.add_column(col, justify="right" if col != "node" else "left")
    for r in rows:
        t.add_row(r.node, f"{r.calls:,.0f}", f"{r.tokens:,.0f}", f"{r.usd:,.4f}")
    console.print(t)
    caps = {k: v for k, v in cfg.budget.model_dump().items() if v is not None}
    console.print(f"caps: {caps}; pool {len(data['pool'])}, seed {len(data['seed'])}, dev {len(data['dev'])}, "
                  f"test {len(data['test'])}; {cfg.loop.rounds} rounds")


# ---------------------------------------------------------------- run / resume / fork


def _print_step(name: str, step: int, round_: int, summary: dict[str, Any], ledger: dict[str, Any]) -> None:
    """One progress line per node: round, budget spent of the cap, and what the node did."""
    spent = ledger.get("spent", {})
    budget = f"{spent.get('calls', 0)} calls, {spent.get('tokens', 0):,} tokens"
    if spent.get("usd"):
        budget += f", ${spent['usd']:.4f}"
    budget += f" ({100 * ledger.get('fraction_spent', 0):.0f}% of budget)"
    parts = []
    for k, v in summary.items():
        if k == "dev" and isinstance(v, dict):
            parts += [f"dev {m}={x:.3f}" for m, x in v.items() if isinstance(x, float)]
        elif not isinstance(v, dict | list):
            parts.append(f"{k}={v}")
    console.print(f"[dim]step {step:>3}[/] [bold]{name:<9}[/] round {round_} | {budget} | " + " ".join(parts),
                  highlight=False)


def _step_handler(graph: Any, snap: Any, config: dict[str, Any]) -> bool:
    """Step mode: show the node's result and wait. Enter continues, q stops, `r ID ...` rejects annotations."""
    from distillgraph.graph.trace import read_trace

    run_dir = Path(_current_run["dir"])
    rec = read_trace(run_dir)[-1] if read_trace(run_dir) else {}
    console.rule(f"after {rec.get('node', '?')} (step {rec.get('step', '?')}), next: {', '.join(snap.next)}")
    for d in rec.get("decisions", [])[:20]:
        console.print(f"  - {d}", highlight=False)
    node = rec.get("node")
    if node == "annotator":
        new = [a for a in snap.values.get("dataset", []) if a.round == snap.values.get("round")]
        t = Table("id", "cluster", "source", "target", "conf", "rationale")
        for a in new:
            t.add_row(a.id[:14], str(a.cluster), a.source, a.target[:40], f"{a.confidence:.2f}", a.rationale[:60])
        console.print(t)
    while True:
        hint = "Enter: continue, q: stop (resumable)" + (", r ID [ID...]: reject annotations" if node == "annotator" else "")
        try:
            answer = input(f"{hint} > ").strip()
        except EOFError:
            answer = ""
        if answer in ("q", "quit"):
            console.print("stopped; continue later with: distillgraph resume " + run_dir.name)
            return False
        if answer.startswith("r ") and node == "annotator":
            prefixes = answer.split()[1:]
            ids = [a.id for a in snap.values.get("dataset", []) if any(a.id.startswith(p) for p in prefixes)]
            graph.update_state(config, {"dataset": {"remove": ids}})
            console.print(f"rejected {len(ids)} annotation(s)")
            continue
        return True


_current_run: dict[str, str] = {}


def _execute(cfg: Any, run_dir: Path, *, resume: bool, step: bool, no_cache: bool, prompts_dir: str | None,
             data: dict[str, Any] | None = None) -> None:
    """Run or resume. A fresh run that fails before its first step leaves no run directory behind (there is
    nothing to resume, and a resume could not change the config that failed); later failures keep it."""
    from distillgraph.graph.runner import execute, has_started

    _current_run["dir"] = str(run_dir)
    console.print(f"run [bold]{run_dir.name}[/] in {run_dir}", highlight=False)
    try:
        state = execute(cfg, run_dir, env=os.environ, console=console, resume=resume,
                        step_handler=_step_handler if step else None, no_cache=no_cache, on_step=_print_step,
                        prompts_dir=prompts_dir, data=data)
    except (UserError, PromptError) as exc:
        if not resume and not has_started(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
            raise UserError(f"{exc} (run directory removed: nothing was done)") from None
        raise UserError(f"{exc} — the run stopped resumable: distillgraph resume {run_dir}") from None
    _summary(state, cfg)


def _summary(state: dict[str, Any], cfg: Any) -> None:
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
    note = regression_note(hist, metric)
    if note:
        console.print(f"[yellow]note:[/yellow] {note}")


@app.command()
@user_errors
def run(config: Path, set_: list[str] = SetOpt,
        step: bool = typer.Option(False, "--step", help="pause after every node"),
        no_cache: bool = typer.Option(False, "--no-cache", help="do not read the answer cache"),
        prompts: Path | None = typer.Option(None, "--prompts", help="folder of prompt files overriding the packaged ones"),
        run_id: str | None = typer.Option(None, "--run-id", help="name of the run directory")) -> None:
    """Run the distillation loop for a config."""
    from distillgraph.graph.runner import new_run_dir
    from distillgraph.store.datasets import load_data

    cfg = load_config(config, set_)
    if prompts is not None:
        cfg.prompts.dir = str(prompts)
    # bad prompts and bad data fail before a run directory exists
    PromptLibrary(cfg.prompts.dir).check_supplied(RUN_PROMPTS)
    data = load_data(cfg.data, cfg.task)
    run_dir = new_run_dir(cfg, run_id)
    _execute(cfg, run_dir, resume=False, step=step or cfg.run.step, no_cache=no_cache, prompts_dir=cfg.prompts.dir,
             data=data)


@app.command()
@user_errors
def resume(run_: str = typer.Argument(..., metavar="RUN"), step: bool = typer.Option(False, "--step"),
           runs_dir: str = typer.Option("runs", "--runs-dir")) -> None:
    """Continue a run after a crash, a kill or Ctrl-C, paying for nothing twice."""
    from distillgraph.graph.runner import find_run, load_run_config

    run_dir = find_run(run_, runs_dir)
    cfg = load_run_config(run_dir)
    _execute(cfg, run_dir, resume=True, step=step, no_cache=False, prompts_dir=cfg.prompts.dir)


@app.command()
@user_errors
def fork(run_: str = typer.Argument(..., metavar="RUN"), step: int = typer.Option(..., "--step"),
         set_: list[str] = SetOpt, go: bool = typer.Option(True, "--run/--no-run", help="run the fork right away"),
         runs_dir: str = typer.Option("runs", "--runs-dir")) -> None:
    """Start a new run from the checkpoint after step N (e.g. after editing a prompt file)."""
    from distillgraph.graph.runner import find_run
    from distillgraph.graph.runner import fork as do_fork

    src = find_run(run_, runs_dir)
    cfg, dst = do_fork(src, step, overrides=set_)
    console.print(f"forked {src.name} at step {step} -> {dst.name}")
    if go:
        _execute(cfg, dst, resume=True, step=False, no_cache=False, prompts_dir=cfg.prompts.dir)


# ---------------------------------------------------------------- trace / report / export


@app.command()
@user_errors
def trace(run_: str = typer.Argument(..., metavar="RUN"), step: int | None = typer.Option(None, "--step"),
          diff: int | None = typer.Option(None, "--diff"), runs_dir: str = typer.Option("runs", "--runs-dir")) -> None:
    """Table of steps; --step N: one step in full; --diff N: what step N changed in the state."""
    from distillgraph.graph.runner import find_run
    from distillgraph.graph.trace import read_trace

    run_dir = find_run(run_, runs_dir)
    steps = read_trace(run_dir)
    if step is not None:
        rec = next((r for r in steps if r["step"] == step), None)
        if rec is None:
            raise UserError(f"run {run_dir.name}: no step {step} (steps 1..{len(steps)})")
        console.print_json(json.dumps(rec, default=str))
        return
    if diff is not None:
        _diff(run_dir, diff)
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
                  " ".join(f"{k}={v}" for k, v in summary.items())[:160])
    console.print(t)


def _diff(run_dir: Path, step: int) -> None:
    from distillgraph.graph.runner import load_run_config, state_at_step

    cfg = load_run_config(run_dir)
    after = state_at_step(cfg, run_dir, step)
    before = state_at_step(cfg, run_dir, step - 1) if step > 1 else None
    if after is None:
        raise UserError(f"run {run_dir.name}: no checkpoint after step {step}")
    a, b = after.values, (before.values if before else {})
    t = Table(title=f"state change of step {step}")
    t.add_column("key")
    t.add_column("before")
    t.add_column("after")
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        show = lambda v: (f"{len(v)} items" if isinstance(v, list | dict) and len(str(v)) > 80 else str(v)[:80])  # noqa: E731
        t.add_row(key, show(vb), show(va))
    console.print(t)


@app.command()
@user_errors
def report(run_: str = typer.Argument(..., metavar="RUN"), runs_dir: str = typer.Option("runs", "--runs-dir")) -> None:
    """(Re)write a run's report: metrics.json, learning curve, per-cluster chart, data card."""
    from distillgraph.graph.report import write_report
    from distillgraph.graph.runner import final_state, find_run, load_run_config

    run_dir = find_run(run_, runs_dir)
    cfg = load_run_config(run_dir)
    state = final_state(run_dir)
    out = write_report(run_dir, state, cfg, state.get("ledger", {}))
    _summary({**state, "report": str(out)}, cfg)


@app.command()
@user_errors
def export(run_: str = typer.Argument(..., metavar="RUN"), out: Path | None = typer.Option(None, "--out"),
           round_: str = typer.Option("best", "--round", help="adapter of: best (highest dev metric), final, or N"),
           runs_dir: str = typer.Option("runs", "--runs-dir")) -> None:
    """Write the distilled dataset (JSONL chat messages + HF datasets folder) and a round's adapter."""
    from distillgraph.graph.export import export_run
    from distillgraph.graph.runner import find_run

    run_dir = find_run(run_, runs_dir)
    dest, picked = export_run(run_dir, out or run_dir / "export", round_)
    console.print(f"exported to {dest}" + (f" (adapter of round {picked})" if picked is not None else ""))


@app.command()
@user_errors
def train(run_: str = typer.Argument(..., metavar="RUN"), set_: list[str] = SetOpt,
          out: Path | None = typer.Option(None, "--out"), runs_dir: str = typer.Option("runs", "--runs-dir")) -> None:
    """Train another student (e.g. --set student.kind=classifier) on a run's distilled dataset; evaluate on test."""
    from distillgraph.graph.runner import find_run
    from distillgraph.graph.secondary import train_secondary

    run_dir = find_run(run_, runs_dir)
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


# ---------------------------------------------------------------- prompts / data


@prompts_app.command("list")
@user_errors
def prompts_list(prompts: Path | None = typer.Option(None, "--prompts")) -> None:
    lib = PromptLibrary(prompts)
    t = Table("name", "version", "source", "hash", "description")
    for name in lib.names():
        p = lib.get(name)
        t.add_row(name, p.version, lib.source(name), p.hash, p.description[:70])
    console.print(t)


@prompts_app.command("show")
@user_errors
def prompts_show(name: str, prompts: Path | None = typer.Option(None, "--prompts"),
                 render: bool = typer.Option(False, "--render", help="render with the sample variables")) -> None:
    lib = PromptLibrary(prompts)
    p = lib.get(name)
    if render:
        for m in p.render(**p.variables):
            console.rule(m["role"])
            console.print(m["content"], highlight=False, markup=False)
    else:
        console.print(p.path.read_text(encoding="utf-8"), highlight=False, markup=False)


@prompts_app.command("export")
@user_errors
def prompts_export(dest: Path) -> None:
    """Copy the packaged prompt files to a folder to edit; use it with --prompts or prompts.dir."""
    dest.mkdir(parents=True, exist_ok=True)
    lib = PromptLibrary()
    for name in lib.names():
        shutil.copy(lib.path_of(name), dest / f"{name}.yaml")
    console.print(f"exported {len(lib.names())} prompt files to {dest}")


@prompts_app.command("check")
@user_errors
def prompts_check(prompts: Path | None = typer.Option(None, "--prompts")) -> None:
    """Render every template with its sample variables; fail on undeclared or unused variables."""
    problems = PromptLibrary(prompts).check_all()
    for p in problems:
        err.print(f"[red]{p}[/]", highlight=False)
    if problems:
        raise typer.Exit(2)
    console.print("all prompt files OK")


@data_app.command("bbc")
@user_errors
def data_bbc(out: Path = typer.Option(..., "--out"), task: str = typer.Option("topic", "--task", help="topic | headline"),
             pool_size: int = typer.Option(1200, "--pool-size"), seed: int = typer.Option(0, "--seed")) -> None:
    """Write the long-tailed BBC split (pool/dev/test JSONL) so you can see the data format."""
    from distillgraph.store.datasets import load_bbc, pool_gold, split_counts, write_jsonl
    from distillgraph.store.schema import BBCConfig, TaskConfig

    labels = {t: "" for t in ("business", "entertainment", "politics", "sports", "tech")}
    tc = TaskConfig(type="classification", labels=labels) if task == "topic" else TaskConfig(type="generation")
    bc = BBCConfig(pool_size=pool_size, split_seed=seed)
    data = load_bbc(bc, tc)
    for split, exs in data.items():
        if exs:
            write_jsonl(exs, out / f"{split}.jsonl", tc)
    write_jsonl(data["pool"], out / "pool_gold.jsonl", tc, with_gold=pool_gold(bc, tc))
    console.print(f"wrote {out}: " + ", ".join(f"{s} {len(v)}" for s, v in data.items() if v))
    console.print(f"pool topics (long tail): {split_counts(data)['pool']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
