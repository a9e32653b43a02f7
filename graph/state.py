"""The graph state: small and JSON-friendly (ids, paths, metrics, plans, the budget ledger).

Models, tensors, clients and texts of the pool never enter it; pool texts are looked up by id.
The pydantic records are registered with the checkpoint serializer.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from distillgraph.agents.records import Annotation, Candidate, ClusterPlan, Plan, RoundMetrics, Weakness

RECORD_TYPES = (Annotation, Candidate, ClusterPlan, Plan, RoundMetrics, Weakness)


def merge_dataset(old: list[Annotation] | None, new: list[Annotation] | dict[str, Any] | None) -> list[Annotation]:
    """Reducer of `dataset`: a list appends; {"remove": [ids]} drops annotations (a human rejected them);
    {"add": [...], "update": [...]} appends and replaces annotations by id (re-gating changes their weights)."""
    old = list(old or [])
    if isinstance(new, dict):
        gone = set(new.get("remove", []))
        changed = {a.id: a for a in new.get("update", [])}
        return [changed.get(a.id, a) for a in old if a.id not in gone] + list(new.get("add", []))
    return old + list(new or [])


class DistillState(TypedDict, total=False):
    run_id: str
    step: int                       # node executions so far (trace step number)
    round: int                      # current round: 0 = bootstrap, then 1, 2, ...
    ledger: dict[str, Any]          # BudgetLedger.to_dict()
    clusters: dict[str, Any]        # k, sizes, names, method
    dev_ids: list[str]              # dev set used for evaluation (gold or teacher-labelled)
    dataset: Annotated[list[Annotation], merge_dataset]   # accepted annotations, all rounds
    dev_labels: dict[str, str]      # teacher labels of a dev set carved from the pool
    dev_predictions: list[dict[str, Any]]  # the latest round's dev predictions: {id, gold, pred, cluster}
    label_predictions: list[dict[str, Any]]  # the latest round's new labels as the student predicted them before
                                             # training on them: {id, gold (teacher), pred, cluster}
    weaknesses: list[Weakness]
    plan: Plan | None
    candidates: list[Candidate]
    rejected: Annotated[list[dict[str, Any]], operator.add]
    human_rejected: Annotated[list[str], operator.add]   # ids rejected in step mode: taken, never bought again
    history: Annotated[list[RoundMetrics], operator.add]
    adapter: str                    # path of the latest adapter
    failures: dict[str, int]        # teacher failures by kind, cumulative
    stop_reason: str
    audit: dict[str, Any] | None    # the teacher audit before the first paid round (agents/audit.py)
    writer_check: dict[str, Any]    # loop.writer_check: its latest check (dev with / without synthetic texts), stopped, drops
    report: str


def serializer() -> JsonPlusSerializer:
    """Checkpoint serializer that may rebuild exactly our records (and nothing else unexpected)."""
    return JsonPlusSerializer(allowed_msgpack_modules=list(RECORD_TYPES))


def labelled_ids(state: DistillState) -> set[str]:
    return ({a.id for a in state.get("dataset", [])} | set(state.get("dev_labels", {}))
            | set(state.get("human_rejected", [])))
