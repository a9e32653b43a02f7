import pytest
import torch

from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.loop import length_sorted_batches, linear_schedule, pad_batch, train_loop, use_bf16
from distillgraph.trainer.student import build_student


def test_linear_schedule_warms_up_then_decays():
    f = linear_schedule(warmup=2, total=6)
    assert [round(f(s), 3) for s in range(7)] == [0.333, 0.667, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert linear_schedule(0, 4)(0) == 1.0


def test_pad_batch_right_and_left():
    rows = [
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
        {"input_ids": [8], "attention_mask": [1], "labels": [8]},
    ]
    right = pad_batch(rows, pad_id=0)
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert right["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    left = pad_batch(rows, pad_id=0, side="left")
    assert left["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    scalar = pad_batch([{"input_ids": [1], "labels": 2}, {"input_ids": [1, 2], "labels": 0}], pad_id=0)
    assert scalar["labels"].tolist() == [2, 0]


def test_length_sorted_batches():
    assert length_sorted_batches([3, 9, 1, 5, 7], 2) == [[1, 4], [3, 0], [2]]


class Counter(torch.nn.Module):
    """A one-parameter model whose loss is the parameter: counts optimizer steps through its value."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.micro = 0

    def forward(self, input_ids, attention_mask=None):
        self.micro += 1
        return type("Out", (), {"loss": 1.0 + self.w.sum()})()


def test_train_loop_counts_steps_with_accumulation_and_fractional_epochs():
    rows = [{"input_ids": [1, 2]} for _ in range(10)]
    cfg = StudentConfig(
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        num_train_epochs=1.5,
        warmup_ratio=0.0,
        learning_rate=0.1,
    )
    model = Counter()
    stats = train_loop(model, rows, cfg, device=torch.device("cpu"), bf16=False, pad_id=0, progress=False)
    assert model.micro == 5  # ceil(1.5 * ceil(10 / 4)) micro-batches
    assert stats["steps"] == 3 and stats["epochs"] == pytest.approx(5 / 3)
    assert model.w.item() < 0  # the loss went down through w
    assert not model.training


def test_per_kind_defaults_fill_only_unset_fields():
    causal = StudentConfig(kind="causal-lm").resolved()
    assert causal.learning_rate == 5e-4 and causal.num_train_epochs == 3
    assert StudentConfig(kind="causal-lm", learning_rate=1e-3).resolved().learning_rate == 1e-3
    assert StudentConfig(kind="classifier").resolved().learning_rate == 2e-3


def test_bf16_setting():
    cpu = torch.device("cpu")
    assert use_bf16(StudentConfig(bf16="on"), cpu) is True
    assert use_bf16(StudentConfig(bf16="off"), cpu) is False


def test_build_student_needs_its_inputs(task, bert_tokenizer):
    with pytest.raises(ValueError, match="embedder"):
        build_student(StudentConfig(kind="embedding-probe"), task)
    with pytest.raises(ValueError, match="prompt"):
        build_student(StudentConfig(kind="causal-lm"), task)
    with pytest.raises(ValueError, match="both"):
        build_student(StudentConfig(), task, tokenizer=bert_tokenizer)


def _with_meta_weight(model: torch.nn.Module) -> torch.nn.Module:
    """The model with one weight left on the meta device, as a flaky loader leaves it."""
    layer = model.bert.encoder.layer[0].attention.self.query
    layer.weight = torch.nn.Parameter(torch.empty_like(layer.weight, device="meta"))
    return model


def test_a_weight_left_on_meta_is_loaded_again_then_refused(monkeypatch, task, bert_tokenizer):
    from distillgraph.store.schema import UserError
    from distillgraph.trainer import student as student_mod
    from tests.trainer.conftest import tiny_bert

    loads: list[bool] = []

    def flaky(cfg, task_, source, kwargs, broken=(True, False)):
        loads.append(True)
        model = tiny_bert(bert_tokenizer.vocab_size)
        return _with_meta_weight(model) if broken[len(loads) - 1] else model

    monkeypatch.setattr(student_mod, "_load_model", flaky)
    model, _ = student_mod.load_pretrained(StudentConfig(), task)
    assert len(loads) == 2 and not student_mod._meta_weights(model)

    loads.clear()
    monkeypatch.setattr(student_mod, "_load_model", lambda *a: _with_meta_weight(tiny_bert(bert_tokenizer.vocab_size)))
    with pytest.raises(UserError, match=r"loaded without 1 of its weights \(e\.g\. bert\.encoder\.layer\.0"):
        student_mod.load_pretrained(StudentConfig(), task)


def test_min_train_steps_adds_epochs_on_small_data():
    rows = [{"input_ids": [1, 2]} for _ in range(10)]  # 3 micro-batches of 4 per epoch
    cfg = StudentConfig(per_device_train_batch_size=4, gradient_accumulation_steps=2, num_train_epochs=1,
                        min_train_steps=7, warmup_ratio=0.0, learning_rate=0.1)
    model = Counter()
    stats = train_loop(model, rows, cfg, device=torch.device("cpu"), bf16=False, pad_id=0, progress=False)
    assert model.micro == 14 and stats["steps"] == 7  # 7 updates of 2 micro-batches, not 1 epoch's 2 updates
    assert stats["epochs"] == pytest.approx(14 / 3)
    # more data than the floor needs: the epochs decide, as before
    few = StudentConfig(per_device_train_batch_size=4, num_train_epochs=2, min_train_steps=2, warmup_ratio=0.0)
    model = Counter()
    assert train_loop(model, rows, few, device=torch.device("cpu"), bf16=False, pad_id=0, progress=False)["steps"] == 6


def test_token_classifier_defaults_to_300_updates_and_the_probe_scales_c_with_the_data():
    from distillgraph.trainer.token_probe import probe_c

    assert StudentConfig(kind="token-classifier").resolved().min_train_steps == 300
    assert StudentConfig(kind="classifier").resolved().min_train_steps == 100  # bench.head_init, dev
    assert StudentConfig(kind="classifier", min_train_steps=0).resolved().min_train_steps == 0  # a user's 0 stays
    assert StudentConfig(kind="causal-lm").resolved().min_train_steps == 0
    assert StudentConfig(kind="embedding-probe").resolved().probe_C == 10.0
    auto = StudentConfig(kind="token-probe").resolved()
    assert [probe_c(auto, n) for n in (10, 50, 150, 300, 1500, 100_000)] == pytest.approx([3.0, 3.0, 1.0, 0.5, 0.1, 0.1])
    assert probe_c(StudentConfig(kind="token-probe", probe_C=0.7).resolved(), 50) == 0.7  # a given C wins
