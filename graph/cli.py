"""The `distillgraph` command line (Typer + rich).

User errors print one line and exit with code 2 (`--debug` shows the traceback); Ctrl-C leaves the
run resumable. The commands live in:

* graph/cli_run.py      init, plan, run, resume, fork (and step mode)
* graph/cli_inspect.py  trace, report, export, train
* graph/cli_prompts.py  prompts list|show|export|check, data bbc
* graph/cli_common.py   the apps, one-line user errors, finding a RUN
"""

from __future__ import annotations

# importing the command modules registers their commands, in this order, on `app`
from distillgraph.graph import cli_run as _run  # noqa: F401  (init, plan, run, resume, fork)
from distillgraph.graph import cli_inspect as _inspect  # noqa: F401  (trace, report, export, train)
from distillgraph.graph import cli_prompts as _prompts  # noqa: F401  (prompts, data)
from distillgraph.graph.cli_common import app, data_app, prompts_app, user_errors

app.add_typer(prompts_app, name="prompts")
app.add_typer(data_app, name="data")

__all__ = ["app", "main", "user_errors"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
