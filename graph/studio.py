"""Entry point for `langgraph dev` / LangGraph Studio (see langgraph.json).

Studio calls `make_graph(config)`; the distillgraph config file comes from the DISTILLGRAPH_CONFIG
variable set in langgraph.json (this entry point is the one place that reads it). The graph is built
with a fresh run directory; Studio supplies its own checkpointer.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from rich.console import Console

from distillgraph.graph.build import build_graph
from distillgraph.graph.config import load_config
from distillgraph.graph.runner import new_run_dir, open_deps

_stack = contextlib.ExitStack()


def make_graph(config: Any = None) -> Any:
    cfg = load_config(os.environ.get("DISTILLGRAPH_CONFIG", "examples/bbc-topic.yaml"))
    run_dir = new_run_dir(cfg)
    deps = _stack.enter_context(open_deps(cfg, run_dir, env=os.environ, console=Console(), progress=False))
    return build_graph(deps)
