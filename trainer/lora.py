"""What the two LoRA students share: one base model in memory, a fresh or continued adapter per round.

The base model is loaded once per Student. A fresh round unloads the previous adapter (peft's
`unload()` puts the original layers back untouched) and restores the snapshot of the classifier
head, because `unload()` keeps the *trained* copy of a `modules_to_save` head.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from distillgraph.store import device as devices
from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.base import Student, TrainItem
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.launch import Launcher, load_heads
from distillgraph.trainer.loop import Row, resolve_device, set_seed, train_loop, use_bf16

log = logging.getLogger(__name__)

# (target modules) by architecture family, tried in order: Llama/Qwen/Mistral, BERT/RoBERTa, DistilBERT, GPT-2
TARGET_MODULE_FAMILIES = (("q_proj", "v_proj"), ("query", "value"), ("q_lin", "v_lin"), ("c_attn",))


def default_target_modules(model: torch.nn.Module) -> list[str]:
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for family in TARGET_MODULE_FAMILIES:
        if set(family) <= leaves:
            return list(family)
    raise UserError("student.target_modules: cannot guess the attention layers of this model; set them")


class LoraStudent(Student):
    """Base model + LoRA adapter trained with `trainer.loop.train_loop`."""

    def __init__(
        self, cfg: StudentConfig, task: TaskConfig, model: torch.nn.Module, tokenizer, progress: bool = True
    ):
        super().__init__(cfg, task, progress)
        self.device = resolve_device(cfg)
        self.bf16 = use_bf16(cfg, self.device)
        self.tokenizer = tokenizer
        self.base = model.to(self.device).eval()
        self.model: torch.nn.Module = self.base
        self.target_modules = cfg.target_modules or default_target_modules(model)
        self.cfg = self._fit_to_device(self.cfg)
        self._adapter_dir: Path | None = None  # where the adapter in memory was saved or loaded from
        self._launcher: Launcher | None = Launcher(self) if cfg.launched else None
        self._head_state = {
            name: {k: v.detach().clone() for k, v in self.base.get_submodule(name).state_dict().items()}
            for name in self._lora_config().modules_to_save or []
        }

    def _fit_to_device(self, cfg: StudentConfig) -> StudentConfig:
        """On a GPU: inference batches grown and training micro-batches shrunk to fit its free memory (the
        effective training batch is kept through gradient accumulation). On a CPU the config is unchanged."""
        if self.device.type == "cpu":
            return cfg
        mc = getattr(self.base, "config", None)
        train_bytes = devices.bytes_per_item(mc, cfg.max_length, training=True, bf16=self.bf16)
        infer_bytes = devices.bytes_per_item(mc, cfg.max_length, training=False, bf16=self.bf16)
        fits = devices.fit_batch(cfg.per_device_train_batch_size, self.device, train_bytes, inference=False)
        micro, accum = devices.micro_batches(cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, fits)
        eval_bs = devices.fit_batch(cfg.eval_batch_size, self.device, infer_bytes, inference=True)
        log.info("student on %s: train batch %d x %d accumulation, eval batch %d",
                 devices.describe(self.device, self.bf16), micro, accum, eval_bs)
        return cfg.model_copy(update={"per_device_train_batch_size": micro,
                                      "gradient_accumulation_steps": accum, "eval_batch_size": eval_bs})

    @abstractmethod
    def _lora_config(self) -> LoraConfig:
        """The peft config for this kind (task type, heads to train)."""

    @abstractmethod
    def _encode_train(self, items: list[TrainItem]) -> list[Row]:
        """Tokenized training rows: input_ids, attention_mask, labels."""

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    def _reset(self) -> None:
        """Back to the bare base model, exactly as loaded."""
        if isinstance(self.model, PeftModel):
            self.model.unload()
        load_heads(self.base, self._head_state)
        self.model = self.base

    def _initial_heads(self, items: list[TrainItem]) -> dict[str, dict[str, torch.Tensor]] | None:
        """State dicts, by module name, that a fresh adapter's trained heads start from (None: as loaded)."""
        return None

    def _new_adapter(self, items: list[TrainItem]) -> dict[str, dict[str, torch.Tensor]] | None:
        """Wrap the reset base in a fresh adapter whose heads start from `_initial_heads(items)` (returned)."""
        self._reset()
        heads = self._initial_heads(items)
        load_heads(self.base, heads or {})  # before wrapping: peft copies the head it finds
        set_seed(self.cfg.seed)
        self.model = get_peft_model(self.base, self._lora_config())
        return heads

    def fit(self, items: list[TrainItem], out_dir: Path, *, round: int) -> dict:
        self._check_fit_input(items)
        items = self._weighted(items)
        fresh = not (self.cfg.continue_training and isinstance(self.model, PeftModel))
        heads = self._new_adapter(items) if fresh else None
        rows = self._encode_train(items)
        out_dir = Path(out_dir)
        if self._launcher is not None:  # child processes train and save; this process loads their adapter
            previous = None if fresh else self._adapter_dir
            stats = self._launcher.fit(rows, out_dir, previous=previous, heads=heads)
            self.load(out_dir)
            self._write_meta(out_dir, round, stats)
            return stats
        stats = train_loop(
            self.model,
            rows,
            self.cfg,
            device=self.device,
            bf16=self.bf16,
            pad_id=self.pad_id,
            progress=self.progress,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out_dir)  # type: ignore[operator]  # a PeftModel here
        self._adapter_dir = out_dir
        self._write_meta(out_dir, round, stats)
        return stats

    def load(self, adapter_dir: Path) -> None:
        if not (Path(adapter_dir) / "adapter_config.json").exists():
            raise UserError(f"{adapter_dir}: no saved adapter (adapter_config.json missing)")
        self._reset()
        self.model = PeftModel.from_pretrained(self.base, adapter_dir, is_trainable=True).to(self.device)
        self.model.eval()
        self._adapter_dir = Path(adapter_dir)

    def _lora_kwargs(self) -> dict:
        return {
            "r": self.cfg.r,
            "lora_alpha": self.cfg.lora_alpha,
            "lora_dropout": self.cfg.lora_dropout,
            "target_modules": self.target_modules,
        }
