"""Generative student: a causal LM (default SmolLM2-135M-Instruct) + LoRA, trained prompt → response.

The prompt comes from `prompts/student.yaml` rendered through the base model's chat template; the
loss covers the response tokens only. Classification answers are parsed back to a label.
Informativeness: `output_entropy` (mean token entropy of the student's own greedy answer) and `ifd`
= PPL(answer | prompt) / PPL(answer) (BalDistill / Cherry-LLM): high when the prompt barely helps.
"""

from __future__ import annotations

import numpy as np
import torch
from peft import LoraConfig, TaskType
from transformers import GenerationConfig

from distillgraph.prompts import PromptTemplate
from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.base import Prediction, TrainItem
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.evaluate import parse_label
from distillgraph.trainer.loop import Row, autocast, length_sorted_batches, pad_batch, progress_bar
from distillgraph.trainer.lora import LoraStudent

IGNORE = -100


class CausalLMStudent(LoraStudent):
    kind = "causal-lm"
    score_methods = ("output_entropy", "entropy", "ifd")  # "entropy" is output_entropy for this kind

    def __init__(
        self,
        cfg: StudentConfig,
        task: TaskConfig,
        model: torch.nn.Module,
        tokenizer,
        prompt: PromptTemplate,
        progress: bool = True,
    ):
        if not getattr(tokenizer, "chat_template", None):
            raise UserError("student.base_model: its tokenizer has no chat template (use an instruct model)")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.prompt = prompt
        super().__init__(cfg, task, model, tokenizer, progress)

    def _lora_config(self) -> LoraConfig:
        return LoraConfig(task_type=TaskType.CAUSAL_LM, **self._lora_kwargs())

    # ---- text → token ids -------------------------------------------------------------------------

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _values(self, text: str, target: str = "", rationale: str | None = None) -> dict:
        return {
            "task_type": self.task.type,
            "instruction": self.task.instruction,
            "labels": self.task.labels,
            "text": text,
            "target": target,
            "rationale": rationale,
        }

    def answer_text(self, target: str, rationale: str | None = None) -> str:
        """The assistant turn the student learns: rationale + "Answer: label", the label, or the output."""
        return self.prompt.render_assistant(**self._values("", target, rationale))

    def _prompt_string(self, text: str) -> str:
        messages = self.prompt.render(**self._values(text))
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _completion_string(self, text: str, answer: str) -> str:
        """What follows the generation prompt in the chat template: the answer and the end-of-turn."""
        messages = self.prompt.render(**self._values(text))
        head = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = self.tokenizer.apply_chat_template(
            messages + [{"role": "assistant", "content": answer}], tokenize=False
        )
        return full[len(head) :] if full.startswith(head) else answer + self.tokenizer.eos_token

    def prompt_ids(self, text: str, budget: int) -> list[int]:
        """Chat-formatted prompt ids of at most `budget` tokens; the input text is shortened, not the frame."""
        ids = self._ids(self._prompt_string(text))
        for _ in range(4):  # decode/encode round trips can shift a token or two
            excess = len(ids) - budget
            if excess <= 0:
                return ids
            text_ids = self._ids(text)
            text = self.tokenizer.decode(text_ids[: max(0, len(text_ids) - excess - 2)])
            ids = self._ids(self._prompt_string(text))
        return ids[-budget:]

    def _encode_pair(self, text: str, answer: str) -> Row:
        """Prompt + completion with labels on the completion only (-100 on the prompt)."""
        completion = self._ids(self._completion_string(text, answer))[: self.cfg.max_length // 2]
        prompt = self.prompt_ids(text, self.cfg.max_length - len(completion))
        ids = prompt + completion
        return {
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "labels": [IGNORE] * len(prompt) + completion,
        }

    def _encode_train(self, items: list[TrainItem]) -> list[Row]:
        rationale = self.task.rationale
        return [
            self._encode_pair(it.text, self.answer_text(it.target, it.rationale if rationale else None))
            for it in items
        ]

    # ---- generation ----------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Greedy answers and the mean token entropy (nats) of each, batched by prompt length."""
        budget = max(1, self.cfg.max_length - self.cfg.max_new_tokens)
        prompts = [self.prompt_ids(t, budget) for t in texts]
        eos = self.tokenizer.eos_token_id
        gen_cfg = GenerationConfig(
            max_new_tokens=self.cfg.max_new_tokens,
            do_sample=False,
            pad_token_id=self.pad_id,
            eos_token_id=eos,
            output_logits=True,
            return_dict_in_generate=True,
        )
        answers: list[str] = [""] * len(texts)
        entropies = np.zeros(len(texts))
        batches = length_sorted_batches([len(p) for p in prompts], self.cfg.eval_batch_size)
        self.model.eval()
        with progress_bar(self.progress and len(batches) > 1, "generating", len(texts)) as advance:
            for idx in batches:
                rows = [{"input_ids": prompts[i], "attention_mask": [1] * len(prompts[i])} for i in idx]
                batch = {k: v.to(self.device) for k, v in pad_batch(rows, self.pad_id, side="left").items()}
                with autocast(self.device, self.bf16):
                    out = self.model.generate(**batch, generation_config=gen_cfg)  # type: ignore[operator]
                new = out.sequences[:, batch["input_ids"].shape[1] :].cpu()
                step_entropy = token_entropy(torch.stack(out.logits, dim=1))
                valid = _until_eos(new, eos)
                for row, i in enumerate(idx):
                    tokens = new[row][valid[row]].tolist()
                    answers[i] = self.tokenizer.decode(tokens, skip_special_tokens=True).strip()
                    entropies[i] = float(step_entropy[row][valid[row]].mean())
                advance(len(idx))
        return answers, entropies

    def predict(self, ids: list[str], texts: list[str]) -> list[Prediction]:
        answers, _ = self.generate(texts)
        if self.task.type == "generation":
            return [Prediction(id=i, prediction=a, raw=a) for i, a in zip(ids, answers, strict=True)]
        return [
            Prediction(id=i, prediction=parse_label(a, self.labels), raw=a)
            for i, a in zip(ids, answers, strict=True)
        ]

    # ---- informativeness ---------------------------------------------------------------------------

    def score(self, texts: list[str], method: str, targets: list[str] | None = None) -> np.ndarray:
        self._check_method(method)
        if method in ("output_entropy", "entropy"):
            return self.generate(texts)[1]
        if targets is None:
            answers = self.generate(texts)[0]
        else:
            answers = [self.answer_text(t) for t in targets]
        return self.ifd(texts, answers)

    def ifd(self, texts: list[str], answers: list[str]) -> np.ndarray:
        """PPL(answer | prompt) / PPL(answer); 0 for an empty answer (nothing to learn from)."""
        start = (
            self.tokenizer.bos_token_id
            if self.tokenizer.bos_token_id is not None
            else self.tokenizer.eos_token_id
        )
        answer_ids = [self._ids(a)[: self.cfg.max_length // 2] for a in answers]
        conditional = [
            (self.prompt_ids(t, self.cfg.max_length - len(a)), a)
            for t, a in zip(texts, answer_ids, strict=True)
        ]
        unconditional = [([start], a) for a in answer_ids]
        nll = self.answer_nll(conditional + unconditional)
        cond, uncond = nll[: len(texts)], nll[len(texts) :]
        empty = np.array([len(a) == 0 for a in answer_ids])
        return np.where(empty, 0.0, np.exp(np.where(empty, 0.0, cond - uncond)))

    @torch.inference_mode()
    def answer_nll(self, pairs: list[tuple[list[int], list[int]]]) -> np.ndarray:
        """Mean negative log-likelihood (nats/token) of each answer given its context."""
        rows = [
            {"input_ids": c + a, "attention_mask": [1] * (len(c) + len(a)), "labels": [IGNORE] * len(c) + a}
            for c, a in pairs
        ]
        out = np.zeros(len(rows))
        self.model.eval()
        batches = length_sorted_batches([len(r["input_ids"]) for r in rows], self.cfg.eval_batch_size)
        with progress_bar(self.progress and len(batches) > 1, "scoring", len(rows)) as advance:
            for idx in batches:
                batch = {
                    k: v.to(self.device) for k, v in pad_batch([rows[i] for i in idx], self.pad_id).items()
                }
                labels = batch.pop("labels")[:, 1:]
                with autocast(self.device, self.bf16):
                    logits = self.model(**batch).logits[:, :-1]
                logp = torch.log_softmax(logits.float(), dim=-1)
                mask = labels != IGNORE
                picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                nll = -(picked * mask).sum(1) / mask.sum(1).clamp(min=1)
                out[idx] = nll.cpu().numpy()
                advance(len(idx))
        return out


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of softmax(logits) over the last axis."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1).cpu()


def _until_eos(tokens: torch.Tensor, eos: int) -> torch.Tensor:
    """Mask of generated positions up to and including the first eos (later ones are padding)."""
    is_eos = (tokens == eos).int()
    after = (is_eos.cumsum(1) - is_eos) > 0
    return ~after
