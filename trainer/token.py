"""Token students for ner tasks: per-word tag probabilities, IOB2 predictions, informativeness scores.

A ner text is its words joined by single spaces. Each word is read at its first word piece (the
other pieces carry no label); a word the tokenizer cuts off at `max_length`, or one it turns into no
piece at all, is predicted "O" with certainty. Both kinds share `TokenStudent`: `tag_probabilities`
gives one (n_words, n_tags) array per text, and `predict` and `score` are computed from it.

    token-classifier  MiniLM + LoRA + a trained tag head (this module), trained by trainer/loop.py
    token-probe       logistic regression on frozen MiniLM word vectors (trainer/token_probe.py)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, TaskType
from peft.utils.constants import SEQ_CLS_HEAD_NAMES

from distillgraph.store.ner import repair, spans, tag_names
from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.base import Prediction, Student, TrainItem
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.loop import Row, autocast, length_sorted_batches, pad_batch, progress_bar
from distillgraph.trainer.lora import LoraStudent

SCORE_METHODS = ("token_margin_mean", "token_margin_min", "entity_uncertainty")


# ---------------------------------------------------------------- informativeness of one sentence


def token_margins(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 tag probability of each token of a (n_tokens, n_tags) array."""
    top2 = np.sort(np.asarray(probs, dtype=np.float64), axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def token_margin_mean(probs: np.ndarray) -> float:
    """1 - the mean token margin: high when the student hesitates on many tokens."""
    return float(1.0 - token_margins(probs).mean())


def token_margin_min(probs: np.ndarray) -> float:
    """1 - the smallest token margin: high when the student hesitates on at least one token."""
    return float(1.0 - token_margins(probs).min())


def predicted_tags(probs: np.ndarray, tags: list[str]) -> list[str]:
    """The most probable tag of each token, repaired to valid IOB2."""
    return repair([tags[i] for i in np.asarray(probs).argmax(axis=1)])


def entity_uncertainty(probs: np.ndarray, tags: list[str]) -> float:
    """Mean over predicted entities of 1 - the mean probability of their predicted tags; with no
    predicted entity, 1 - the smallest P(O) (how close the student came to seeing one)."""
    p = np.asarray(probs, dtype=np.float64)
    predicted = predicted_tags(p, tags)
    found = spans(predicted)
    if not found:
        return float(1.0 - p[:, tags.index("O")].min())
    index = {tag: i for i, tag in enumerate(tags)}
    picked = p[np.arange(len(predicted)), [index[t] for t in predicted]]
    return float(np.mean([1.0 - picked[start:end].mean() for start, end, _ in found]))


SCORERS: dict[str, Callable[[np.ndarray, list[str]], float]] = {
    "token_margin_mean": lambda p, tags: token_margin_mean(p),
    "token_margin_min": lambda p, tags: token_margin_min(p),
    "entity_uncertainty": entity_uncertainty,
}


# ---------------------------------------------------------------- words and word pieces


def first_pieces(word_ids: list[int | None], n_words: int) -> list[int]:
    """Position of each word's first piece; -1 for a word with no piece (cut off, or empty after normalising)."""
    starts = [-1] * n_words
    for pos, word in enumerate(word_ids):
        if word is not None and starts[word] < 0:
            starts[word] = pos
    return starts


def encode_words(tokenizer, texts: list[str], max_length: int) -> tuple[list[Row], list[list[int]]]:
    """Rows (input_ids, attention_mask) of texts split at single spaces, and each word's first-piece position."""
    words = [text.split(" ") for text in texts]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    rows = [{"input_ids": ids, "attention_mask": mask}
            for ids, mask in zip(enc["input_ids"], enc["attention_mask"], strict=True)]
    return rows, [first_pieces(enc.word_ids(i), len(w)) for i, w in enumerate(words)]


def piece_labels(n_pieces: int, starts: list[int], tag_ids: list[int]) -> list[int]:
    """Each word's tag id on its first piece; -100 (ignored by the loss) on every other position."""
    labels = [-100] * n_pieces
    for pos, tag_id in zip(starts, tag_ids, strict=True):
        if pos >= 0:
            labels[pos] = tag_id
    return labels


def word_rows(piece_values: np.ndarray, starts: list[int], n_tags: int) -> np.ndarray:
    """(n_words, n_tags): each word's first-piece row; a word without a piece gets a certain "O" (column 0)."""
    out = np.zeros((len(starts), n_tags))
    out[:, 0] = 1.0
    idx = np.asarray(starts, dtype=int)
    out[idx >= 0] = piece_values[idx[idx >= 0]]
    return out


@torch.inference_mode()
def piece_outputs(
    model: torch.nn.Module, rows: list[Row], *, pad_id: int, batch_size: int, device: torch.device,
    bf16: bool, pick: Callable[[Any], torch.Tensor], progress: bool = False,
) -> list[np.ndarray]:
    """`pick(model output)` -> (batch, length, k) for every row, batched by length; one (n_pieces, k) array per row."""
    out: list[np.ndarray] = [np.empty(0)] * len(rows)
    batches = length_sorted_batches([len(r["input_ids"]) for r in rows], batch_size)
    model.eval()
    with progress_bar(progress and len(batches) > 1, "tagging", len(rows)) as advance:
        for idx in batches:
            batch = {k: v.to(device) for k, v in pad_batch([rows[i] for i in idx], pad_id).items()}
            with autocast(device, bf16):
                values = pick(model(**batch)).float().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = values[j, : len(rows[i]["input_ids"])]
            advance(len(idx))
    return out


# ---------------------------------------------------------------- the students


def require_ner(kind: str, task: TaskConfig, tokenizer) -> None:
    if task.type != "ner":
        raise UserError(f"student.kind: '{kind}' needs a ner task (task.type: ner)")
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"student.base_model: the {kind} student needs a fast tokenizer (word ids of each piece)")


class TokenStudent(Student):
    """A ner student: IOB2 tag probabilities per word, predictions and scores computed from them."""

    score_methods = SCORE_METHODS

    @property
    def tags(self) -> list[str]:
        return tag_names(self.labels)

    @abstractmethod
    def tag_probabilities(self, texts: list[str]) -> list[np.ndarray]:
        """One (n_words, n_tags) array per text, columns in the order of `self.tags`."""

    def predict(self, ids: list[str], texts: list[str]) -> list[Prediction]:
        """The most probable tag per word, repaired to IOB2, joined by single spaces."""
        tags = self.tags
        return [
            Prediction(id=i, prediction=" ".join(predicted_tags(p, tags)))
            for i, p in zip(ids, self.tag_probabilities(texts), strict=True)
        ]

    def score(self, texts: list[str], method: str, targets: list[str] | None = None) -> np.ndarray:
        self._check_method(method)
        tags = self.tags
        return np.array([SCORERS[method](p, tags) for p in self.tag_probabilities(texts)], dtype=np.float64)


class TokenClassifierStudent(TokenStudent, LoraStudent):
    """Encoder (default MiniLM) + LoRA on attention + a fully trained tag head, one tag per word."""

    kind = "token-classifier"

    def __init__(
        self, cfg: StudentConfig, task: TaskConfig, model: torch.nn.Module, tokenizer, progress: bool = True
    ):
        require_ner(self.kind, task, tokenizer)
        n_out, n_tags = model.config.num_labels, len(tag_names(task.label_names))  # type: ignore[union-attr]
        if n_out != n_tags:
            raise UserError(f"student: model has {n_out} outputs, task has {n_tags} IOB2 tags")
        super().__init__(cfg, task, model, tokenizer, progress)

    def _lora_config(self) -> LoraConfig:
        trained = [name for name, _ in self.base.named_children() if name in SEQ_CLS_HEAD_NAMES]
        return LoraConfig(task_type=TaskType.TOKEN_CLS, modules_to_save=trained, **self._lora_kwargs())

    def _encode_train(self, items: list[TrainItem]) -> list[Row]:
        index = {tag: i for i, tag in enumerate(self.tags)}
        rows, starts = encode_words(self.tokenizer, [it.text for it in items], self.cfg.max_length)
        weighted = any(it.weight != 1.0 for it in items)  # unweighted rows keep the model's own loss
        for row, first, it in zip(rows, starts, items, strict=True):
            tag_ids = [index[t] for t in it.target.split(" ")]
            row["labels"] = piece_labels(len(row["input_ids"]), first, tag_ids)
            if weighted:
                row["sample_weight"] = float(it.weight)
        return rows

    def tag_probabilities(self, texts: list[str]) -> list[np.ndarray]:
        rows, starts = encode_words(self.tokenizer, texts, self.cfg.max_length)
        probs = piece_outputs(
            self.model, rows, pad_id=self.pad_id, batch_size=self.cfg.eval_batch_size, device=self.device,
            bf16=self.bf16, pick=lambda out: torch.softmax(out.logits.float(), dim=-1), progress=self.progress,
        )
        return [word_rows(p, s, len(self.tags)) for p, s in zip(probs, starts, strict=True)]
