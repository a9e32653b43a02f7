"""What every `distillgraph` command shares: the Typer apps, the consoles, one-line user errors, and
how a RUN argument is found (a run directory's path, or a run id under the config's `run.dir`)."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from distillgraph.prompts import PromptError
from distillgraph.store.schema import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Distil a teacher LLM into a small LoRA student, "
                  "spending a fixed teacher budget where the student is weakest.")
prompts_app = typer.Typer(no_args_is_help=True, help="List, show, export and check the prompt templates.")
data_app = typer.Typer(no_args_is_help=True, help="Bundled demo data.")

console = Console()
err = Console(stderr=True)
_debug = {"on": False}
F = TypeVar("F", bound=Callable[..., Any])

SetOpt = typer.Option(None, "--set", help="override a config key: a.b=value (repeatable)")
RunArg = typer.Argument(..., metavar="RUN", help="run id under run.dir, or the path of a run directory")
ConfigOpt = typer.Option(None, "--config", "-c", help="the config the run was started with: RUN is looked up "
                         "under its run.dir")
RunsDirOpt = typer.Option(None, "--runs-dir", help="folder holding the runs (default: run.dir of --config, else runs)")


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="show tracebacks and every library warning")) -> None:
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


def locate_run(run: str, runs_dir: str | None, config: Path | None) -> Path:
    """The run directory of RUN: a path as given, else `<runs dir>/RUN`, where the runs dir is --runs-dir,
    or the `run.dir` of --config (the same folder `distillgraph run CONFIG` wrote to), or `runs`."""
    from distillgraph.graph.config import load_config
    from distillgraph.graph.runner import find_run

    if runs_dir is not None and config is not None:
        raise UserError("--runs-dir and --config both say where runs are: give one of them")
    if config is not None:
        runs_dir = load_config(config).run.dir
    return find_run(run, runs_dir)
