"""Pydantic schemas for every teacher answer the code parses (structured output)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, create_model, field_validator


def _clamp_confidence(value: object) -> object:
    """Small teachers write confidences like 2.5 or 10; clamp them into 0..1 instead of failing the
    whole answer (and paying for a repair) over an auxiliary field. Non-numbers still fail validation."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return min(1.0, max(0.0, float(value)))
    return value


def _clip(limit: int) -> BeforeValidator:
    """Cut a too-long string (or list) to `limit` instead of rejecting the answer."""

    def clip(value: Any) -> Any:
        return value[:limit] if isinstance(value, str | list) else value

    return BeforeValidator(clip)


def _cap(keyword: str, limit: int) -> Any:
    """The cap as the JSON schema states it (`maxLength` / `maxItems`): a grammar-constrained server (llama.cpp,
    vLLM) cannot write more, so a small teacher cannot run on until max_tokens cuts the JSON and a repair call
    is paid. A teacher that ignores it is clipped (`_clip`), not rejected."""
    return Field(json_schema_extra={keyword: limit})


RATIONALE_CHARS = 400  # a rationale the annotator keeps (collect() stores up to 1000)
Rationale = Annotated[str, _cap("maxLength", RATIONALE_CHARS), _clip(RATIONALE_CHARS)]
Analysis = Annotated[str, _cap("maxLength", 300), _clip(300)]
ItemText = Annotated[str, _cap("maxLength", 160), _clip(160)]
FewLabels = Annotated[list[str], _cap("maxItems", 6), _clip(6)]
FewClusters = Annotated[list[int], _cap("maxItems", 6), _clip(6)]
FewIds = Annotated[list[str], _cap("maxItems", 3), _clip(3)]


class LabelAnswer(BaseModel):
    """The teacher's label for one text, reasoning first."""

    rationale: Rationale = Field(description="short step-by-step reasoning that leads to the label")
    label: str = Field(description="exactly one of the allowed labels")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0, description="0..1")

    _clamp = field_validator("confidence", mode="before")(_clamp_confidence)


class OutputAnswer(BaseModel):
    """The teacher's target output for one input (generation tasks)."""

    rationale: Rationale = Field(default="", description="short reasoning about what a good output needs")
    output: str = Field(min_length=1, description="the output for the input")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)

    _clamp = field_validator("confidence", mode="before")(_clamp_confidence)


class SynthSample(BaseModel):
    text: str = Field(min_length=1, description="a new input text")
    difficulty: Literal["easy", "hard"] = Field(description="easy or hard for a small model")


class SynthBatch(BaseModel):
    """New inputs written by the teacher (text only: labels come from the annotator)."""

    samples: list[SynthSample] = Field(min_length=1)


@lru_cache(maxsize=64)
def synth_batch_schema(n: int) -> type[SynthBatch]:
    """SynthBatch capped at the `n` samples a call asks for (`maxItems`): the generator keeps no more than
    that, and a small local teacher otherwise pays minutes for extra ones (the demo once got 6 for 1)."""
    capped = Annotated[list[SynthSample], _cap("maxItems", n), _clip(n)]
    model = create_model("SynthBatch", __base__=SynthBatch, samples=(capped, Field(min_length=1)))
    model.__doc__ = SynthBatch.__doc__
    return model


class WeaknessItem(BaseModel):
    """One weakness. With the report's caps the whole answer stays under ~540 tokens (532 measured with
    every field at its cap, Qwen2.5's tokenizer), so a teacher.max_tokens of 600 cannot cut it."""

    description: ItemText = Field(description="what the student gets wrong and why")
    labels: FewLabels = Field(default_factory=list, description="labels involved")
    clusters: FewClusters = Field(default_factory=list, description="cluster ids involved")
    example_ids: FewIds = Field(default_factory=list, description="ids of examples showing it")
    suggestion: ItemText = Field(default="", description="what kind of new training examples would fix it")


class WeaknessReport(BaseModel):
    """The analyst's structured diagnosis of the student (its strings and lists capped: see `_cap`)."""

    analysis: Analysis = Field(description="step-by-step analysis of correct vs. wrong predictions")
    weaknesses: Annotated[list[WeaknessItem], _cap("maxItems", 3), _clip(3)] = Field(default_factory=list)


class JudgeAnswer(BaseModel):
    """Teacher-as-judge score of a student output against a rubric."""

    reason: str = Field(description="brief justification")
    score: int = Field(ge=1, le=5, description="1 (bad) .. 5 (excellent)")


@lru_cache(maxsize=32)
def label_answer_schema(labels: tuple[str, ...]) -> type[LabelAnswer]:
    """LabelAnswer whose `label` is restricted to the label set (an enum in the JSON schema)."""
    lit = Literal[labels]  # type: ignore[valid-type]
    model = create_model(
        "LabelAnswer",
        __base__=LabelAnswer,
        label=(lit, Field(description="exactly one of: " + ", ".join(labels))),
    )
    model.__doc__ = LabelAnswer.__doc__
    return model


class EntityMention(BaseModel):
    text: str = Field(min_length=1, description="the entity exactly as written in the input")
    type: str = Field(description="one of the allowed entity types")


class EntitiesAnswer(BaseModel):
    """The teacher's named entities of one input (ner tasks): every mention, with its type."""

    rationale: Rationale = Field(default="", description="short reasoning about the mentions found")
    entities: list[EntityMention] = Field(default_factory=list, description="every entity; empty if none")
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)

    _clamp = field_validator("confidence", mode="before")(_clamp_confidence)


@lru_cache(maxsize=32)
def entities_answer_schema(types: tuple[str, ...]) -> type[EntitiesAnswer]:
    """EntitiesAnswer whose entity `type` is restricted to the task's types (an enum in the JSON schema)."""
    lit = Literal[types]  # type: ignore[valid-type]
    mention = create_model("EntityMention", __base__=EntityMention,
                           type=(lit, Field(description="one of: " + ", ".join(types))))
    model = create_model("EntitiesAnswer", __base__=EntitiesAnswer,
                         entities=(list[mention], Field(default_factory=list)))  # type: ignore[valid-type]
    model.__doc__ = EntitiesAnswer.__doc__
    return model
