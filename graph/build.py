"""build_graph(deps): the distillation state machine.

    index -> bootstrap -> trainer -> analyst -> generator -> annotator -> trainer -> ... -> report -> END

The route after `trainer` is the pure function graph.routing.route_after_trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph

from distillgraph.graph.config import RunConfig
from distillgraph.graph.deps import Deps
from distillgraph.graph.nodes import make_nodes
from distillgraph.graph.routing import route_after_trainer
from distillgraph.graph.state import DistillState

NODES = ("index", "bootstrap", "trainer", "analyst", "generator", "annotator", "report")


def _assemble(nodes: Mapping[str, Callable[..., Any]], cfg: RunConfig, checkpointer: Any,
              interrupt_after: list[str] | None) -> Any:
    g = StateGraph(DistillState)
    for name in NODES:
        g.add_node(name, nodes[name])
    g.add_edge(START, "index")
    g.add_edge("index", "bootstrap")
    g.add_edge("bootstrap", "trainer")
    route = partial(route_after_trainer, loop=cfg.loop, metric=cfg.dev_metric)
    g.add_conditional_edges("trainer", route, {"analyst": "analyst", "report": "report"})
    g.add_edge("analyst", "generator")
    g.add_edge("generator", "annotator")
    g.add_edge("annotator", "trainer")
    g.add_edge("report", END)
    return g.compile(checkpointer=checkpointer, interrupt_after=interrupt_after)


def build_graph(deps: Deps, checkpointer: Any = None, interrupt_after: list[str] | None = None) -> Any:
    """The runnable graph, its nodes (graph/nodes.py) bound to the injected dependencies."""
    return _assemble(make_nodes(deps), deps.cfg, checkpointer, interrupt_after)


def reader_graph(cfg: RunConfig, checkpointer: Any) -> Any:
    """Same shape with inert nodes: reads a run's checkpoints (trace --diff, fork) without loading models."""

    def inert(state: DistillState) -> dict[str, Any]:
        raise RuntimeError("reader graph nodes never run")

    return _assemble({n: inert for n in NODES}, cfg, checkpointer, None)
