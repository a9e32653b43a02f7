"""Build the student the config asks for; the interface itself lives in `trainer.base`.

    student = build_student(cfg.student, cfg.task, prompt=library.get("student"), embedder=embedder)
    stats = student.fit(items, run_dir / "adapters" / "round-1", round=1)
    preds = student.predict(ids, texts)
    scores = student.score(texts, "entropy")

A ner task takes a token kind (token-classifier, token-probe) and no other; a token kind takes only ner.
Weights are read only here, and only when a student is built (never at import). Tests and callers
that already hold a model pass `model=` and `tokenizer=`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from distillgraph.prompts import PromptTemplate
from distillgraph.store import device as devices
from distillgraph.store.assets import minilm_path, smollm2_gguf
from distillgraph.store.ner import tag_names
from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.base import Prediction, Student, TrainItem
from distillgraph.trainer.causal import CausalLMStudent
from distillgraph.trainer.classifier import ClassifierStudent
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.loop import set_seed
from distillgraph.trainer.probe import ProbeStudent, TextEmbedder
from distillgraph.trainer.token import TokenClassifierStudent
from distillgraph.trainer.token_probe import TokenProbeStudent

log = logging.getLogger(__name__)

__all__ = ["Prediction", "Student", "TrainItem", "build_student", "load_pretrained"]

TOKEN_KINDS = ("token-classifier", "token-probe")


def _source(cfg: StudentConfig) -> tuple[str, str | None]:
    """(folder or hub id, gguf file name or None) of the base model, with the per-kind default."""
    if cfg.base_model is None:
        if cfg.kind == "causal-lm":
            path = smollm2_gguf()
            return str(path.parent), path.name
        return str(minilm_path()), None
    if cfg.base_model.endswith(".gguf") and cfg.gguf_file is None:
        path = Path(cfg.base_model)
        return str(path.parent), path.name
    return cfg.base_model, cfg.gguf_file


def load_pretrained(cfg: StudentConfig, task: TaskConfig) -> tuple[torch.nn.Module, object]:
    """(model, tokenizer) for every kind but embedding-probe; one clear line if loading fails.

    token-probe gets the bare encoder (AutoModel), token-classifier a token-classification head with one
    output per IOB2 tag.
    """
    source, gguf = _source(cfg)
    kwargs = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model_kwargs = kwargs | devices.no_hub_kernels()
        model = _load_model(cfg, task, source, model_kwargs)
        missing = _meta_weights(model)
        if missing:  # seen once in CI (an embedding left on the meta device by the GGUF loader): load again
            log.warning("student.base_model: %s loaded with %d weights missing (%s); loading it again",
                        source, len(missing), missing[0])
            model = _load_model(cfg, task, source, model_kwargs)
            missing = _meta_weights(model)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"student.base_model: cannot load {source}: {first}") from None
    if missing:
        raise UserError(f"student.base_model: {source} loaded without {len(missing)} of its weights "
                        f"(e.g. {missing[0]}): the checkpoint is incomplete or its format is not supported")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    config: Any = model.config  # a transformers config (torch's Module types attributes as Tensor | Module)
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _load_model(cfg: StudentConfig, task: TaskConfig, source: str, kwargs: dict) -> torch.nn.Module:
    set_seed(cfg.seed)  # a new classifier head is initialised here: same seed, same head
    if cfg.kind == "causal-lm":
        return AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if cfg.kind == "token-probe":
        return AutoModel.from_pretrained(source, **kwargs)
    token = cfg.kind == "token-classifier"
    labels = tag_names(task.label_names) if token else task.label_names
    auto = AutoModelForTokenClassification if token else AutoModelForSequenceClassification
    return auto.from_pretrained(
        source,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        **kwargs,
    )


def _meta_weights(model: torch.nn.Module) -> list[str]:
    """Parameters and buffers the loader left without data (on the meta device), after tying the embeddings."""
    def meta() -> list[str]:
        named = [*model.named_parameters(), *model.named_buffers()]
        return [name for name, t in named if t.is_meta]

    hf: Any = model  # a transformers PreTrainedModel (torch's Module types attributes as Tensor | Module)
    if meta() and hasattr(hf, "tie_weights"):
        hf.tie_weights()
    head = hf.get_output_embeddings() if hasattr(hf, "get_output_embeddings") else None
    emb = hf.get_input_embeddings() if hasattr(hf, "get_input_embeddings") else None
    if (head is not None and emb is not None and head.weight.is_meta and not emb.weight.is_meta
            and head.weight.shape == emb.weight.shape):
        # a GGUF without an output tensor (SmolLM2) means the head is the token embedding, as llama.cpp reads it
        head.weight = emb.weight
    return meta()


def build_student(
    cfg: StudentConfig,
    task: TaskConfig,
    *,
    prompt: PromptTemplate | None = None,
    embedder: TextEmbedder | None = None,
    model: torch.nn.Module | None = None,
    tokenizer: object | None = None,
    progress: bool = True,
) -> Student:
    """The student for `cfg.kind`, with per-kind defaults filled in for unset training fields."""
    cfg = cfg.resolved()
    _check_kind(cfg, task)
    if cfg.kind == "embedding-probe":
        if embedder is None:
            raise ValueError("build_student: the embedding-probe student needs an embedder")
        return ProbeStudent(cfg, task, embedder, progress=progress)
    if cfg.kind == "causal-lm" and prompt is None:
        raise ValueError("build_student: the causal-lm student needs its prompt template")
    if (model is None) != (tokenizer is None):
        raise ValueError("build_student: pass both model and tokenizer, or neither")
    if model is None:
        model, tokenizer = load_pretrained(cfg, task)
    if cfg.kind == "causal-lm":
        assert prompt is not None  # checked above
        return CausalLMStudent(cfg, task, model, tokenizer, prompt, progress=progress)
    if cfg.kind == "token-classifier":
        return TokenClassifierStudent(cfg, task, model, tokenizer, progress=progress)
    if cfg.kind == "token-probe":
        return TokenProbeStudent(cfg, task, model, tokenizer, progress=progress)
    return ClassifierStudent(cfg, task, model, tokenizer, progress=progress)


def _check_kind(cfg: StudentConfig, task: TaskConfig) -> None:
    """A ner task needs a token kind, and a token kind needs a ner task (one line)."""
    if task.type == "ner" and cfg.kind not in TOKEN_KINDS:
        raise UserError(f"student.kind: a ner task needs a token-classifier or token-probe student, not {cfg.kind}")
    if task.type != "ner" and cfg.kind in TOKEN_KINDS:
        raise UserError(f"student.kind: {cfg.kind} needs a ner task (task.type: ner), not {task.type}")
