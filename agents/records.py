"""Records that flow through the graph state: small, JSON-friendly pydantic models.

They hold ids, numbers and short texts, never models or tensors. graph/state.py registers them
with the checkpoint serializer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["seed", "bootstrap", "pool", "synthetic", "dev-bootstrap"]


class Weakness(BaseModel):
    description: str
    labels: list[str] = Field(default_factory=list)
    clusters: list[int] = Field(default_factory=list)
    example_ids: list[str] = Field(default_factory=list)
    suggestion: str = ""
    origin: Literal["teacher", "stats"] = "teacher"


class ClusterPlan(BaseModel):
    cluster: int
    name: str = ""
    kind: Literal["head", "tail"] = "head"
    natural_share: float = 0.0
    share: float = 0.0
    error: float = 0.0
    quota: int = 0
    select: int = 0
    synthesize: int = 0
    available: int = 0
    reason: str = ""


class Plan(BaseModel):
    """The analyst's allocation of one round's budget over clusters."""

    round: int
    stage: int
    stages: int
    budget_calls: float
    cost_per_select: float
    cost_per_synth: float
    samples: int
    scoring_calls: int = 0  # teacher-as-judge calls reserved for scoring the pool this round
    clusters: list[ClusterPlan]
    weakness_focus: dict[int, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class Candidate(BaseModel):
    """An input to be annotated: an unlabelled pool example or a teacher-written one."""

    id: str
    cluster: int
    source: Literal["pool", "synthetic", "bootstrap", "dev-bootstrap"]
    round: int
    text: str | None = None  # only for synthetic candidates (pool texts are looked up by id)
    score: float | None = None
    difficulty: Literal["easy", "hard"] | None = None
    weakness: str | None = None


class Annotation(BaseModel):
    """An accepted teacher annotation with its provenance."""

    id: str
    target: str
    rationale: str = ""
    confidence: float = 1.0
    cluster: int
    source: Source
    round: int
    text: str | None = None  # synthetic only
    teacher_model: str = ""
    prompt_hash: str = ""
    neighbour_ids: list[str] = Field(default_factory=list)
    votes: list[str] = Field(default_factory=list)
    agreement: float = 1.0
    gate: float | None = None  # label confidence from votes, neighbours and the student (agents/gating.py)
    weight: float = 1.0        # sample weight in training (label gating; 0 = dropped)


class RoundMetrics(BaseModel):
    round: int
    train_size: int
    train_by_source: dict[str, int]
    dev: dict[str, float]
    test: dict[str, float] = Field(default_factory=dict)
    per_cluster_dev: dict[str, float] = Field(default_factory=dict)
    worst_cluster: float | None = None
    cluster_spread: float | None = None
    budget_spent: dict[str, float] = Field(default_factory=dict)
    spent_by_node: dict[str, float] = Field(default_factory=dict)
    node_seconds: dict[str, float] = Field(default_factory=dict)
    train_seconds: float = 0.0
    adapter: str = ""
