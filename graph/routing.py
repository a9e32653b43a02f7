"""Routing: pure functions of the state (and the loop settings)."""

from __future__ import annotations

from typing import Literal

from distillgraph.agents.audit import audit_stop_reason
from distillgraph.graph.config import LoopConfig
from distillgraph.graph.state import DistillState


def plateaued(history: list[float], patience: int, min_improvement: float) -> bool:
    """True when the best value of the last `patience` rounds is not above the best before them."""
    if len(history) <= patience:
        return False
    best_before = max(history[:-patience])
    return max(history[-patience:]) <= best_before + min_improvement


def stop_reason(state: DistillState, loop: LoopConfig, metric: str) -> str | None:
    """Why the loop should stop after this trainer round, or None to go on."""
    audited = audit_stop_reason(state.get("audit"))  # type: ignore[arg-type]
    if audited:
        return audited
    ledger = state.get("ledger", {})
    if ledger.get("exhausted"):
        return "budget spent"
    rnd = state.get("round", 0)
    if rnd >= loop.max_rounds:
        return f"reached loop.max_rounds={loop.max_rounds}"
    values = [m.dev.get(metric, 0.0) for m in state.get("history", [])]
    if plateaued(values, loop.patience, loop.min_improvement):
        return f"dev {metric} did not improve for {loop.patience} rounds"
    return None


def route_after_trainer(state: DistillState, loop: LoopConfig, metric: str) -> Literal["analyst", "report"]:
    return "report" if stop_reason(state, loop, metric) else "analyst"
