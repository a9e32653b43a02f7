"""The last node: the run's report (metrics, learning curve, per-cluster chart, data card)."""

from __future__ import annotations

from typing import Any

from distillgraph.graph.deps import Deps
from distillgraph.graph.state import DistillState


def report(state: DistillState, deps: Deps) -> dict[str, Any]:
    path = deps.write_report(state)
    return {"report": str(path), "_summary": {"report": str(path), "stop_reason": state.get("stop_reason", "")}}
