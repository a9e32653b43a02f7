"""Readable code as the layout promises it: no module over 400 lines in graph/, agents/, trainer/ or store/,
and no node function (nor the wrapper that binds the nodes) over 40 lines."""

from __future__ import annotations

import inspect
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 400
MAX_NODE_LINES = 40


def test_no_module_over_400_lines():
    long = {str(p.relative_to(REPO)): n for folder in ("graph", "agents", "trainer", "store")
            for p in sorted((REPO / folder).rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES}
    assert not long, f"modules over {MAX_FILE_LINES} lines: {long}"


def test_no_node_function_over_40_lines():
    from distillgraph.graph.nodes import NODE_FUNCTIONS, make_nodes, step

    assert set(NODE_FUNCTIONS) == {"index", "bootstrap", "trainer", "analyst", "generator", "annotator", "report"}
    spans = {name: len(inspect.getsourcelines(fn)[0])
             for name, fn in {**NODE_FUNCTIONS, "step": step, "make_nodes": make_nodes}.items()}
    assert max(spans.values()) <= MAX_NODE_LINES, spans
