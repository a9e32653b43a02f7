"""LoRA classifier student on a tiny random BERT (fast; the packaged MiniLM is in test_integration)."""

import json

import numpy as np
import pytest
import torch

from distillgraph.store.schema import UserError
from distillgraph.trainer.student import TrainItem, build_student
from tests.trainer.conftest import TEXTS, items_for, small_cfg, tiny_bert


def make(cfg, task, tokenizer):
    return build_student(
        cfg, task, model=tiny_bert(tokenizer.vocab_size), tokenizer=tokenizer, progress=False
    )


def lora_and_base(student):
    named = dict(student.model.named_parameters())
    lora = {k: v.detach().clone() for k, v in named.items() if "lora_" in k or "modules_to_save" in k}
    base = {k: v.detach().clone() for k, v in student.base.state_dict().items() if "lora_" not in k}
    return lora, base


def test_fit_changes_lora_and_head_but_not_base(task, bert_tokenizer, tmp_path):
    student = make(small_cfg(), task, bert_tokenizer)
    base_before = {k: v.clone() for k, v in student.base.state_dict().items()}
    student._new_adapter([])
    lora_before, _ = lora_and_base(student)
    student.cfg = small_cfg(continue_training=True)  # keep the adapter just created
    stats = student.fit(items_for(TEXTS), tmp_path / "round-1", round=1)
    lora_after, _ = lora_and_base(student)
    assert any(k.endswith("lora_A.default.weight") for k in lora_after)
    assert any("classifier.modules_to_save" in k for k in lora_after)
    assert any("pooler.modules_to_save" in k for k in lora_after)
    assert all(
        not torch.equal(lora_before[k], lora_after[k])
        for k in lora_after
        if "lora_B" in k or "classifier" in k
    )
    student._reset()
    for k, v in student.base.state_dict().items():
        assert torch.equal(v, base_before[k]), k
    assert stats["n_train"] == 9 and stats["steps"] == 6 and stats["epochs"] == 2.0


def test_save_load_gives_identical_predictions(task, bert_tokenizer, tmp_path):
    items = items_for(TEXTS)
    texts = [it.text for it in items]
    trained = make(small_cfg(), task, bert_tokenizer)
    trained.fit(items, tmp_path / "round-1", round=1)
    assert (tmp_path / "round-1" / "adapter_model.safetensors").exists()
    assert json.loads((tmp_path / "round-1" / "student.json").read_text())["kind"] == "classifier"
    fresh = make(small_cfg(), task, bert_tokenizer)
    before = fresh.probabilities(texts)
    fresh.load(tmp_path / "round-1")
    np.testing.assert_allclose(fresh.probabilities(texts), trained.probabilities(texts), atol=1e-6)
    assert not np.allclose(before, trained.probabilities(texts))


def test_same_seed_same_predictions_and_fresh_adapter_each_round(task, bert_tokenizer, tmp_path):
    items = items_for(TEXTS)
    texts = [it.text for it in items]
    a = make(small_cfg(), task, bert_tokenizer)
    a.fit(items, tmp_path / "a1", round=1)
    first = a.probabilities(texts)
    a.fit(items, tmp_path / "a2", round=2)  # fresh adapter from the same base: the same result again
    np.testing.assert_allclose(a.probabilities(texts), first, atol=1e-6)
    b = make(small_cfg(), task, bert_tokenizer)
    b.fit(items, tmp_path / "b1", round=1)
    np.testing.assert_allclose(b.probabilities(texts), first, atol=1e-6)


def test_continue_training_keeps_learning(task, bert_tokenizer, tmp_path):
    items = items_for(TEXTS)
    student = make(small_cfg(continue_training=True), task, bert_tokenizer)
    first = student.fit(items, tmp_path / "r1", round=1)["final_loss"]
    second = student.fit(items, tmp_path / "r2", round=2)["final_loss"]
    assert second < first


def test_predict_and_scores(task, bert_tokenizer, tmp_path):
    student = make(small_cfg(num_train_epochs=20, learning_rate=5e-2), task, bert_tokenizer)
    items = items_for(TEXTS)
    student.fit(items, tmp_path / "r1", round=1)
    preds = student.predict(["x", "y"], [items[0].text, items[4].text])
    assert [p.id for p in preds] == ["x", "y"]
    assert set(preds[0].probs) == set(task.labels) and sum(preds[0].probs.values()) == pytest.approx(1.0)
    assert preds[0].prediction == max(preds[0].probs, key=preds[0].probs.get)
    texts = [it.text for it in items]
    ent, mar = student.score(texts, "entropy"), student.score(texts, "margin")
    assert ent.shape == mar.shape == (9,)
    assert np.all(ent >= 0) and np.all(ent <= np.log(3) + 1e-9) and np.all((mar >= 0) & (mar <= 1))
    memorised = student.predict([it.id for it in items], texts)
    assert [p.prediction for p in memorised] == [it.target for it in items]  # 60 steps at lr 5e-2 memorise 9 examples


def test_user_errors(task, bert_tokenizer, tmp_path):
    student = make(small_cfg(), task, bert_tokenizer)
    with pytest.raises(UserError, match="not in task.labels"):
        student.fit([TrainItem(id="1", text="x", target="weather")], tmp_path, round=1)
    with pytest.raises(UserError, match="no training examples"):
        student.fit([], tmp_path, round=1)
    with pytest.raises(UserError, match="cannot score by 'ifd'"):
        student.score(["x"], "ifd")
    with pytest.raises(UserError, match="no saved adapter"):
        student.load(tmp_path / "missing")
    with pytest.raises(UserError, match="outputs"):
        build_student(
            small_cfg(), task, model=tiny_bert(bert_tokenizer.vocab_size, 2), tokenizer=bert_tokenizer
        )
