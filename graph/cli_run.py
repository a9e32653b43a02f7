"""`distillgraph init | plan | run | resume | fork`: writing a config, projecting its cost, and running the
loop (step mode included)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from distillgraph.graph.cli_common import (
    ConfigOpt,
    RunArg,
    RunsDirOpt,
    SetOpt,
    _debug,
    app,
    console,
    locate_run,
    user_errors,
)
from distillgraph.graph.config import load_config
from distillgraph.graph.terminal import quiet_libraries
from distillgraph.prompts import RUN_PROMPTS, PromptError, PromptLibrary
from distillgraph.store.schema import UserError

MIN_PREFIX = 6  # shortest id prefix `r` accepts in step mode
QuietOpt = typer.Option(False, "--quiet", "-q", help="no live progress, no line per step (errors and the summary still print)")


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
    from distillgraph.agents.prices import teacher_prices
    from distillgraph.graph.plan import project
    from distillgraph.store.datasets import load_data

    cfg = load_config(config, set_)
    prices = teacher_prices(cfg.teacher, cfg.budget, os.environ)
    prompts = PromptLibrary(cfg.prompts.dir)
    prompts.check_supplied(RUN_PROMPTS)
    data = load_data(cfg.data, cfg.task)
    rows = project(cfg, data, prompts, prices)
    t = Table(title=f"Projected teacher cost: {cfg.run.name}")
    for col in ("node", "calls", "tokens", "usd"):
        t.add_column(col, justify="right" if col != "node" else "left")
    for r in rows:
        t.add_row(r.node, f"{r.calls:,.0f}", f"{r.tokens:,.0f}", f"{r.usd:,.4f}")
    console.print(t)
    caps = {k: v for k, v in cfg.budget.model_dump().items() if v is not None}
    console.print(f"caps: {caps}; pool {len(data['pool'])}, seed {len(data['seed'])}, dev {len(data['dev'])}, "
                  f"test {len(data['test'])}; {cfg.loop.rounds} rounds")
    console.print(prices.describe(), highlight=False)


# ---------------------------------------------------------------- progress and step mode


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


def match_rejections(step_ids: list[str], tokens: list[str]) -> tuple[list[str], str | None]:
    """The annotation ids that `r TOKEN...` names among this step's annotations: an exact id, or a prefix of at
    least MIN_PREFIX characters that only one of them starts with. Any token that names nothing, is too
    short or is ambiguous: no ids and one line saying why (nothing is dropped)."""
    ids: list[str] = []
    for tok in tokens:
        if tok in step_ids:
            hit = [tok]
        elif len(tok) < MIN_PREFIX:
            return [], f"'{tok}': give an id of this step or at least {MIN_PREFIX} of its first characters; nothing rejected"
        else:
            hit = [i for i in step_ids if i.startswith(tok)]
        if not hit:
            return [], f"'{tok}': no annotation of this step has that id; nothing rejected"
        if len(hit) > 1:
            return [], f"'{tok}': matches {len(hit)} annotations of this step, give more characters; nothing rejected"
        if hit[0] not in ids:
            ids.append(hit[0])
    return ids, None


def _step_handler(graph: Any, snap: Any, config: dict[str, Any]) -> bool:
    """Step mode: show the node's result and wait. Enter continues, q stops, `r ID ...` rejects annotations
    of this step (never bought again: the state keeps their ids as taken)."""
    from distillgraph.graph.trace import read_trace

    run_dir = Path(_current_run["dir"])
    steps = read_trace(run_dir)
    rec = steps[-1] if steps else {}
    console.rule(f"after {rec.get('node', '?')} (step {rec.get('step', '?')}), next: {', '.join(snap.next)}")
    for d in rec.get("decisions", [])[:20]:
        console.print(f"  - {d}", highlight=False)
    node = rec.get("node")
    new = []
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
            console.print("stopped; continue later with: distillgraph resume " + _current_run["ref"])
            return False
        if answer.startswith("r ") and node == "annotator":
            ids, problem = match_rejections([a.id for a in new], answer.split()[1:])
            if problem:
                console.print(problem, highlight=False, markup=False, soft_wrap=True)
                continue
            graph.update_state(config, {"dataset": {"remove": ids}, "human_rejected": ids})
            new = [a for a in new if a.id not in ids]
            console.print(f"rejected {len(ids)} annotation(s): {' '.join(ids)}", highlight=False, soft_wrap=True)
            continue
        return True


# ---------------------------------------------------------------- run / resume / fork


_current_run: dict[str, str] = {}


def run_ref(run_dir: Path) -> str:
    """How to name the run on the command line: its id where the default lookup finds it, else its path."""
    from distillgraph.graph.runner import DEFAULT_RUNS_DIR

    same = run_dir.resolve() == (Path(DEFAULT_RUNS_DIR) / run_dir.name).resolve()
    return run_dir.name if same else str(run_dir)


def _execute(cfg: Any, run_dir: Path, *, resume: bool, step: bool, no_cache: bool, prompts_dir: str | None,
             data: dict[str, Any] | None = None, quiet: bool = False) -> None:
    """Run or resume. A fresh run that fails before its first step leaves no run directory behind (there is
    nothing to resume, and a resume could not change the config that failed); later failures keep it.
    Live progress on a terminal (not in step mode); --quiet: neither live progress nor a line per step."""
    from distillgraph.graph.cli_inspect import print_summary
    from distillgraph.graph.progress import LiveProgress, live_wanted
    from distillgraph.graph.runner import execute, has_started

    quiet_libraries(debug=_debug["on"])
    _current_run.update(dir=str(run_dir), ref=run_ref(run_dir))
    console.print(f"run [bold]{run_dir.name}[/] in {run_dir}", highlight=False)
    live = LiveProgress(console, enabled=live_wanted(console, quiet) and not step)

    def on_step(*args: Any) -> None:
        live.on_step(*args)
        if not quiet:
            _print_step(*args)

    try:
        with live:
            state = execute(cfg, run_dir, env=os.environ, console=console, resume=resume,
                            step_handler=_step_handler if step else None, no_cache=no_cache, on_step=on_step,
                            prompts_dir=prompts_dir, data=data, progress=live.enabled,
                            monitor=live if live.enabled else None)
    except (UserError, PromptError) as exc:
        if not resume and not has_started(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
            raise UserError(f"{exc} (run directory removed: nothing was done)") from None
        raise UserError(f"{exc} — the run stopped resumable: distillgraph resume {run_dir}") from None
    print_summary(state, cfg)


@app.command()
@user_errors
def run(config: Path, set_: list[str] = SetOpt,
        step: bool = typer.Option(False, "--step", help="pause after every node"),
        no_cache: bool = typer.Option(False, "--no-cache", help="do not read the answer cache"),
        prompts: Path | None = typer.Option(None, "--prompts", help="folder of prompt files overriding the packaged ones"),
        run_id: str | None = typer.Option(None, "--run-id", help="name of the run directory"),
        quiet: bool = QuietOpt) -> None:
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
             data=data, quiet=quiet)


@app.command()
@user_errors
def resume(run_: str = RunArg, step: bool = typer.Option(False, "--step"), config: Path | None = ConfigOpt,
           runs_dir: str | None = RunsDirOpt, quiet: bool = QuietOpt) -> None:
    """Continue a run after a crash, a kill or Ctrl-C, paying for nothing twice."""
    from distillgraph.graph.runner import load_run_config

    run_dir = locate_run(run_, runs_dir, config)
    cfg = load_run_config(run_dir)
    _execute(cfg, run_dir, resume=True, step=step, no_cache=False, prompts_dir=cfg.prompts.dir, quiet=quiet)


@app.command()
@user_errors
def fork(run_: str = RunArg, step: int = typer.Option(..., "--step"),
         set_: list[str] = SetOpt, go: bool = typer.Option(True, "--run/--no-run", help="run the fork right away"),
         config: Path | None = ConfigOpt, runs_dir: str | None = RunsDirOpt, quiet: bool = QuietOpt) -> None:
    """Start a new run from the checkpoint after step N (e.g. after editing a prompt file)."""
    from distillgraph.graph.runner import fork as do_fork

    src = locate_run(run_, runs_dir, config)
    cfg, dst = do_fork(src, step, overrides=set_)
    console.print(f"forked {src.name} at step {step} -> {dst.name}")
    if go:
        _execute(cfg, dst, resume=True, step=False, no_cache=False, prompts_dir=cfg.prompts.dir, quiet=quiet)
