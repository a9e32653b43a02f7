"""The real packaged models: MiniLM as a LoRA classifier, SmolLM2-135M (GGUF) as a causal-lm student."""

import math

import numpy as np
import pytest

from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.student import build_student
from tests.trainer.conftest import TEXTS, items_for

pytestmark = pytest.mark.integration


def test_minilm_classifier_few_steps_save_load(task, tmp_path):
    cfg = StudentConfig(num_train_epochs=2, per_device_train_batch_size=4, max_length=32, device="cpu",
                        min_train_steps=0)  # a few steps only: the classifier's default asks for >= 100
    student = build_student(cfg, task, progress=False)
    assert student.target_modules == ["query", "value"]
    items = items_for(TEXTS)
    stats = student.fit(items, tmp_path, round=1)
    assert stats["steps"] == 6 and math.isfinite(stats["final_loss"])
    texts = [it.text for it in items]
    probs = student.probabilities(texts)
    again = build_student(cfg, task, progress=False)
    again.load(tmp_path)
    np.testing.assert_allclose(again.probabilities(texts), probs, atol=1e-5)


def test_smollm2_loads_and_takes_a_lora_step(task, student_prompt, tmp_path):
    cfg = StudentConfig(
        kind="causal-lm",
        num_train_epochs=1,
        per_device_train_batch_size=2,
        max_length=192,
        max_new_tokens=3,
        device="cpu",
    )
    student = build_student(cfg, task, prompt=student_prompt, progress=False)
    assert student.target_modules == ["q_proj", "v_proj"]
    assert student.cfg.learning_rate == 5e-4  # the causal-lm default
    items = items_for({"sport": TEXTS["sport"][:1], "tech": TEXTS["tech"][:1]})
    stats = student.fit(items, tmp_path, round=1)
    assert stats["steps"] == 1 and math.isfinite(stats["final_loss"])
    assert any(v.abs().sum() > 0 for k, v in student.model.named_parameters() if "lora_B" in k)
    assert (tmp_path / "adapter_model.safetensors").exists()
    preds = student.predict(["1"], [items[0].text])
    assert preds[0].raw is not None and preds[0].prediction in (None, *task.labels)
