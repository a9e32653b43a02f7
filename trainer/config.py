"""Config section owned by trainer/: the student model and how it is trained.

Names follow peft (r, lora_alpha, lora_dropout, target_modules) and transformers' TrainingArguments
(learning_rate, num_train_epochs, per_device_train_batch_size, ...).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from distillgraph.store.schema import Strict


class StudentConfig(Strict):
    kind: Literal["classifier", "causal-lm", "embedding-probe", "token-classifier", "token-probe"] = Field(
        default="classifier", description="ner tasks: token-classifier (LoRA on MiniLM) or token-probe (logistic "
        "regression on frozen MiniLM token vectors, fast)")
    base_model: str | None = Field(
        default=None,
        description="HF id or local path; default: packaged MiniLM (classifier) or SmolLM2 GGUF (causal-lm)",
    )
    gguf_file: str | None = Field(default=None, description="file name inside base_model for GGUF weights")
    # peft
    r: int = Field(default=8, gt=0)
    lora_alpha: int = Field(default=16, gt=0)
    lora_dropout: float = Field(default=0.1, ge=0, lt=1)
    target_modules: list[str] | None = Field(default=None, description="default: query,value / q_proj,v_proj")
    # training
    learning_rate: float = Field(default=2e-3, gt=0)
    num_train_epochs: float = Field(default=6, gt=0)
    min_train_steps: int = Field(
        default=0, ge=0, description="at least this many optimizer updates per fit: more epochs when data is small"
    )
    per_device_train_batch_size: int = Field(default=16, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_length: int = Field(default=128, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    max_grad_norm: float = Field(default=1.0, gt=0, description="gradient clipping (L2 norm)")
    seed: int = 0
    head_init: Literal["random", "probe"] = Field(
        default="random", description="classifier: the classification head a fresh adapter starts from; probe: a "
        "logistic regression fitted on the frozen encoder's head inputs for the round's training data (linear probe, "
        "then fine-tune: LP-FT, Kumar et al. 2022); random: the model's own initialisation")
    continue_training: bool = Field(
        default=False, description="false: fresh adapter each round on all data; true: continue last adapter"
    )
    eval_batch_size: int = Field(default=64, gt=0)
    max_new_tokens: int = Field(default=48, gt=0, description="causal-lm generation length")
    device: str = Field(
        default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="auto: the GPU when CUDA is present (inference batches grown to fit its memory), else the CPU",
    )
    bf16: Literal["auto", "on", "off"] = "auto"
    # multi-process training (trainer/launch.py)
    num_processes: int = Field(
        default=1, gt=0, description="> 1: train each round with `accelerate launch` on that many processes (DDP)"
    )
    launcher: Literal["auto", "inline", "accelerate"] = Field(
        default="auto", description="auto: accelerate when num_processes > 1; inline: in the run's own process"
    )
    accelerate_config: str | None = Field(
        default=None, description="an `accelerate config` YAML (FSDP, DeepSpeed, multi-node) passed to accelerate launch"
    )
    class_weight: Literal["none", "balanced"] = Field(
        default="none", description="classification: balanced weights each label's examples by n / (labels x "
        "count), so a rare label counts as much as a common one (sklearn's class_weight); default balanced for "
        "embedding-probe (dev macro-F1 +2 to +15 points on 4 tasks), none for the others")
    probe_C: float | None = Field(default=None, gt=0, description="embedding-probe and token-probe: inverse "
                                  "regularisation; default 10 (embedding-probe), 150 / training sentences within "
                                  "0.1-3 (token-probe)")
    outside_weight: float = Field(
        default=1.0, gt=0, le=1, description="token-probe: the loss weight of words tagged O (outside any entity) "
        "against 1 for entity words; below 1 the probe names more entities (recall over precision); default 0.1 "
        "for token-probe (chosen on dev), 1 for the others")

    def resolved(self) -> StudentConfig:
        """A copy with the per-kind defaults filled in for every field the user did not set.

        The class defaults suit the MiniLM classifier (measured: lr 2e-3 x 6 epochs at 200 examples);
        a causal LM wants a smaller learning rate, fewer epochs, smaller batches and longer sequences, and
        the token students their own learning rate / C (KIND_DEFAULTS).
        """
        overrides = {
            k: v for k, v in KIND_DEFAULTS.get(self.kind, {}).items() if k not in self.model_fields_set
        }
        return self.model_copy(update=overrides)

    @property
    def launched(self) -> bool:
        """Is each round trained in a child process started by `accelerate launch`?"""
        return self.launcher == "accelerate" or (self.launcher == "auto" and self.num_processes > 1)


KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    # min_train_steps: random labelled pool samples of 20 / 40 / 80 on bbc and medmcqa, tuning splits 100-102,
    # dev macro-F1 (bench/head_init.py, results/head_init.json): at least 100 updates beat 6 epochs alone at every
    # point (+34 / +4 / +1 points on bbc, +7 / +7 / +8 on medmcqa; 6 epochs of 20 examples are 12 updates), and
    # beat 15 epochs and a linear-probe head on the mean gain. From 200 examples on, 6 epochs are >= 78 updates.
    "classifier": {"min_train_steps": 100},
    "causal-lm": {
        "learning_rate": 5e-4,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 8,
        "max_length": 512,
        "eval_batch_size": 16,
    },
    # WNUT-style tweets (bench/ner_students.py, dev split): lr 2e-3 and above left the LoRA token classifier
    # predicting only "O" (dev entity F1 0.0 at 1,594 sentences x 3 epochs), 1e-3 reached 0.51 in 5 epochs;
    # all but 3 of the 2,394 tweets fit in 64 pieces. It needs ~300 updates whatever the data size: at 300
    # sentences 8 epochs (150 updates) reached dev 0.187, 16 epochs (300 updates) 0.387.
    # The token probe's C is set by the number of training sentences when not given (trainer/token_probe.py).
    "token-classifier": {"learning_rate": 1e-3, "max_length": 64, "min_train_steps": 300},
    # class_weight: random labelled samples of 20-160 from the suite's 4 pools (tuning splits 100-102, dev
    # macro-F1, bench/class_weight.py, BENCHMARKS.md "Class-balanced weighting for the embedding probe"): balanced +5 to +12 points on bbc, +7 to +15
    # rotten_tomatoes, +2 to +5 medmcqa, +2 to +3.5 health_tweets.
    "embedding-probe": {"probe_C": 10.0, "class_weight": "balanced"},
    # outside_weight: random pool subsets of 50 / 100 / 200 / 400 sentences and the whole pool (1,495), labelled
    # from gold, WNUT tuning split seeds 10-11, dev entity F1 (bench/ner_tuning.py --outside-weights,
    # results/ner_outside_weight.json): mean over the five sizes 0.236 (1), 0.265 (0.1), 0.262 (0.02); 0.02 is
    # best up to 200 sentences but loses 7 points on the whole pool, 0.1 is within 3 points of the best at
    # every size. Without it the probe calls too few words entities.
    "token-probe": {"outside_weight": 0.1},
}
