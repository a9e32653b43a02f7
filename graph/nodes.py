"""The graph's nodes by name. Each is a module-level function `node(state, deps) -> partial update`:

    index, bootstrap   graph/node_start.py       analyst     graph/node_analyst.py
    trainer            graph/node_trainer.py     generator   graph/node_generator.py (selection: node_pool.py)
    annotator          graph/node_annotator.py   report      graph/node_report.py

`make_nodes(deps)` binds them to the run's dependencies through one wrapper, `step`: it restores the
budget ledger from the state (a resumed node continues the checkpointed count), records the step in
trace.jsonl, and returns the step number and the ledger with the node's update.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from distillgraph.graph.deps import Deps
from distillgraph.graph.node_analyst import analyst
from distillgraph.graph.node_annotator import annotator
from distillgraph.graph.node_generator import generator
from distillgraph.graph.node_report import report
from distillgraph.graph.node_start import bootstrap, index
from distillgraph.graph.node_tools import ledger_state
from distillgraph.graph.node_trainer import trainer
from distillgraph.graph.state import DistillState

Node = Callable[[DistillState, Deps], dict[str, Any]]
NodeFn = Callable[[DistillState], dict[str, Any]]

NODE_FUNCTIONS: dict[str, Node] = {"index": index, "bootstrap": bootstrap, "trainer": trainer, "analyst": analyst,
                                   "generator": generator, "annotator": annotator, "report": report}


def make_nodes(deps: Deps) -> dict[str, NodeFn]:
    return {name: partial(step, name, fn, deps=deps) for name, fn in NODE_FUNCTIONS.items()}


def step(name: str, fn: Node, state: DistillState, deps: Deps) -> dict[str, Any]:
    """Run one node as a step of the run: ledger restored, traced, timed, reported to `deps.on_step`."""
    deps.ledger.restore(state.get("ledger") or {})
    number, rnd = state.get("step", 0) + 1, state.get("round", 0)
    deps.trace.begin(name, number, rnd, deps.ledger.to_dict())
    t0 = time.time()
    update = fn(state, deps)
    update["step"] = number
    update["ledger"] = ledger_state(deps)
    summary = update.pop("_summary", {})
    summary["seconds"] = round(time.time() - t0, 3)
    deps.node_seconds[name] = deps.node_seconds.get(name, 0.0) + summary["seconds"]
    deps.trace.end(update["ledger"], summary, sorted(update))
    deps.on_step(name, number, update.get("round", rnd), summary, update["ledger"])
    return update
