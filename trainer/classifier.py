"""Sequence-classification student: encoder (default MiniLM) + LoRA + a fully trained head."""

from __future__ import annotations

import numpy as np
import torch
from peft import LoraConfig, TaskType
from peft.utils.constants import SEQ_CLS_HEAD_NAMES

from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.base import ProbabilisticStudent, TrainItem
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.loop import Row, autocast, length_sorted_batches, pad_batch, progress_bar
from distillgraph.trainer.lora import LoraStudent


class ClassifierStudent(ProbabilisticStudent, LoraStudent):
    kind = "classifier"
    score_methods = ("entropy", "margin")

    def __init__(
        self, cfg: StudentConfig, task: TaskConfig, model: torch.nn.Module, tokenizer, progress: bool = True
    ):
        if task.type != "classification":
            raise UserError("student.kind: 'classifier' needs a classification task (use causal-lm)")
        n_out = model.config.num_labels  # type: ignore[union-attr]
        if n_out != len(task.labels):
            raise UserError(
                f"student: model has {n_out} outputs, task has {len(task.labels)} labels"
            )
        super().__init__(cfg, task, model, tokenizer, progress)

    def _lora_config(self) -> LoraConfig:
        """LoRA on attention; the head and the encoder's [CLS] pooler (if any) are trained fully.

        Sentence-transformer encoders such as MiniLM were trained with mean pooling, so their [CLS]
        pooler is a poor start; training it too lifted BBC accuracy from 0.922 to 0.940 (bench.student).
        """
        trained = [name for name, _ in self.base.named_children() if name in SEQ_CLS_HEAD_NAMES]
        trained += [name for name, _ in self.base.named_modules() if name.rsplit(".", 1)[-1] == "pooler"]
        return LoraConfig(task_type=TaskType.SEQ_CLS, modules_to_save=trained, **self._lora_kwargs())

    def _tokenize(self, texts: list[str]) -> list[Row]:
        enc = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length)
        return [
            {"input_ids": ids, "attention_mask": mask}
            for ids, mask in zip(enc["input_ids"], enc["attention_mask"], strict=True)
        ]

    def _encode_train(self, items: list[TrainItem]) -> list[Row]:
        index = {label: i for i, label in enumerate(self.labels)}
        rows = self._tokenize([it.text for it in items])
        weighted = any(it.weight != 1.0 for it in items)  # unweighted rows keep the model's own loss
        for row, it in zip(rows, items, strict=True):
            row["labels"] = index[it.target]
            if weighted:
                row["sample_weight"] = float(it.weight)
        return rows

    @torch.inference_mode()
    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(n, n_labels) softmax probabilities in `task.labels` order, batched by length."""
        rows = self._tokenize(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        batches = length_sorted_batches([len(r["input_ids"]) for r in rows], self.cfg.eval_batch_size)
        self.model.eval()
        with progress_bar(self.progress and len(batches) > 1, "scoring", len(texts)) as advance:
            for idx in batches:
                batch = {
                    k: v.to(self.device) for k, v in pad_batch([rows[i] for i in idx], self.pad_id).items()
                }
                with autocast(self.device, self.bf16):
                    logits = self.model(**batch).logits
                out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                advance(len(idx))
        return out

