"""Deps: everything the nodes need that is not state (models, clients, files, the policy), built once per run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distillgraph.graph.config import RunConfig
from distillgraph.graph.policies import Policy, build_policy
from distillgraph.graph.task_kinds import TaskKind, task_kind
from distillgraph.graph.trace import TraceWriter
from distillgraph.store.schema import Example


@dataclass
class Deps:
    cfg: RunConfig
    run_dir: Path
    run_id: str
    data: dict[str, list[Example]]
    prompts: Any          # PromptLibrary
    embedder: Any         # store.embed.Embedder
    store: Any            # store.vectors.VectorStore
    student: Any          # trainer Student
    teacher: Any          # agents Teacher / OracleTeacher
    ledger: Any           # agents.budget.BudgetLedger
    trace: TraceWriter
    write_report: Callable[[Any], Path]
    on_step: Callable[[str, int, int, dict[str, Any], dict[str, Any]], None] = lambda *a: None
    trace_prompts: bool = True
    est_tokens_per_call: int = 0      # a typical call's tokens (projections, calls_left)
    reserve_tokens_per_call: int = 0  # what the teacher reserves for one such call (its upper bound)
    student_round: int | None = None
    node_seconds: dict[str, float] = field(default_factory=dict)
    _index: Any = None
    _pool_sizes: Counter[int] | None = None
    _pool_density: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self.examples: dict[str, Example] = {e.id: e for split in self.data.values() for e in split}
        self.pool_ids = {e.id for e in self.data["pool"]}
        self.data_dir = self.run_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._assignments: dict[str, int] = {}
        self.policy: Policy = build_policy(self.cfg.loop)  # the selection policy (graph/policies.py), built once
        self.kind: TaskKind = task_kind(self.cfg.task)     # what differs per task type (graph/task_kinds.py)

    # ---------------------------------------------------------------- index (lazy after a resume)

    def set_index(self, result: Any) -> None:
        self._index = result
        self._assignments.update({k: int(v) for k, v in result.assignments.items()})
        self._pool_sizes = None

    # Plain methods, not properties: LangGraph inspects the nodes' closures at compile time and would
    # trigger a property's side effect (re-indexing) while building the graph.

    def assignments(self) -> dict[str, int]:
        """Cluster of every example id (after a resume the index is reopened first)."""
        if self._index is None:
            self.clustering()
        return self._assignments

    def clustering(self) -> Any:
        if self._index is None:  # resumed past the index node: rebuild from caches (idempotent, no re-embedding)
            from distillgraph.store.index import build_index

            exs = [e for s in ("pool", "seed", "dev", "test") for e in self.data[s]]
            self.set_index(build_index(exs, self.embedder, self.store, self.cfg.store, self.data_dir))
        return self._index.clustering

    def pool_sizes(self) -> Counter[int]:
        """Pool examples per cluster, counted once (the pool and its clusters do not change during a run)."""
        if self._pool_sizes is None:
            assignments = self.assignments()
            self._pool_sizes = Counter(assignments[e.id] for e in self.data["pool"])
        return self._pool_sizes

    def pool_density(self) -> dict[str, float]:
        """Every pool example's typicality (TypiClust's density over the whole pool), computed once per run."""
        if self._pool_density is None:
            from distillgraph.trainer.selection import typicality

            ids = [e.id for e in self.data["pool"]]
            dens = typicality(self.vectors(ids, None)) if ids else np.zeros(0)
            self._pool_density = dict(zip(ids, dens.tolist(), strict=True))
        return self._pool_density

    def cluster_names(self) -> dict[int, str]:
        cl = self.clustering()
        return {int(c): (cl.names.get(c) or f"c{c}") for c in cl.sizes}

    def cluster_summary(self) -> dict[str, Any]:
        cl = self.clustering()
        return {"k": cl.k, "method": cl.method, "sizes": {str(k): int(v) for k, v in cl.sizes.items()},
                "names": {str(k): v for k, v in self.cluster_names().items()}}

    def vectors(self, ids: list[str], texts: list[str] | None) -> np.ndarray:
        """Embeddings by id from the run's cache; texts not embedded yet are embedded (and cached)."""
        from distillgraph.store.index import run_cache

        cache = run_cache(self.embedder, self.data_dir)
        if texts is None:
            texts = [self.examples[i].text for i in ids]
        return self.embedder.encode(texts, ids, cache=cache)

    # ---------------------------------------------------------------- metrics

    def metrics(self, gold: list[str], pred: list[str | None], clusters: list[int]) -> dict[str, Any]:
        return self.kind.metrics(gold, pred, clusters)

    def headline(self, m: dict[str, Any]) -> dict[str, float]:
        out = {k: round(float(m[k]), 4) for k in self.kind.headline_keys if m.get(k) is not None}
        if m.get("worst_cluster_score") is not None:
            out["worst_cluster"] = round(float(m["worst_cluster_score"]), 4)
        return out

    def per_cluster(self, m: dict[str, Any]) -> dict[int, float]:
        key = self.kind.cluster_key
        return {int(c): round(float(v[key]), 4) for c, v in m.get("per_cluster", {}).items()}

    def correct_flags(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Per task kind: the exact label, an acceptable output (chrF >= 40), every entity right."""
        return [self.kind.correct(r["gold"], r["pred"]) for r in rows]

    # ---------------------------------------------------------------- teacher and budget

    def teacher_can(self, kind: str) -> bool:
        can = getattr(self.teacher, "can_answer", None)  # a simulated teacher says what it answers
        if can is not None:
            return bool(can(kind))
        return self.cfg.teacher.provider != "oracle" or kind in ("label", "output", "entities")

    def scoring_method(self) -> str:
        s = self.cfg.loop.scoring
        if s != "auto":
            return s
        if self.cfg.task.type == "generation" and self.cfg.loop.judge:
            return "judge"
        return self.kind.default_scoring

    def calls_left(self) -> float:
        """What is left of the tightest cap, in call equivalents (tokens and dollars via the mean call so far)."""
        spent = self.ledger.to_dict()["spent"]
        calls = max(int(spent.get("calls", 0)), 1)
        per_call_tokens = spent.get("tokens", 0) / calls if spent.get("calls") else float(self.est_tokens_per_call)
        per_call_usd = spent.get("usd", 0.0) / calls if spent.get("calls") else self.ledger.cost(
            int(self.est_tokens_per_call * 0.8), int(self.est_tokens_per_call * 0.2))
        left = []
        for cap, rem in self.ledger.remaining().items():
            if cap == "calls":
                left.append(rem)
            elif cap == "tokens" and per_call_tokens > 0:
                left.append(rem / per_call_tokens)
            elif cap == "usd" and per_call_usd > 0:
                left.append(rem / per_call_usd)
        return max(min(left), 0.0) if left else 0.0
