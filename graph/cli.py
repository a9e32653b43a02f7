"""The `distillgraph` command line (Typer + rich).

User errors print one line and exit with code 2 (`--debug` shows the traceback); Ctrl-C leaves the
run resumable. The commands live in:

* graph/cli_run.py      init, plan, run, resume, fork (and step mode)
* graph/cli_inspect.py  trace, report, export, train
* graph/cli_prompts.py  prompts list|show|export|check, data bbc
* graph/cli_common.py   the apps, one-line user errors, finding a RUN
"""

from __future__ import annotations

import importlib

from distillgraph.graph.cli_common import app, data_app, prompts_app, user_errors

# importing the command modules registers their commands on `app`, in this order (the order of --help)
for _module in ("cli_run", "cli_inspect", "cli_prompts"):
    importlib.import_module(f"distillgraph.graph.{_module}")
app.add_typer(prompts_app, name="prompts")
app.add_typer(data_app, name="data")

__all__ = ["app", "main", "user_errors"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
