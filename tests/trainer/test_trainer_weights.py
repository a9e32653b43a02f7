"""Sample weights (label gating): a weight-0 item does not train the student; all-ones is the usual loss."""

import torch

from distillgraph.store.embed import HashEmbedder
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.loop import weighted_loss
from distillgraph.trainer.student import TrainItem, build_student
from tests.trainer.conftest import TEXTS, items_for, small_cfg, tiny_bert


def _with_wrong_labels(weight: float) -> list[TrainItem]:
    """The clean items plus each text again under a wrong label (the noisy teacher's), weighted."""
    items = items_for(TEXTS)
    labels = list(TEXTS)
    for it in list(items):
        wrong = labels[(labels.index(it.target) + 1) % len(labels)]
        items.append(TrainItem(id=f"noisy-{it.id}", text=it.text, target=wrong, weight=weight))
    return items


def test_weighted_loss_equals_cross_entropy_at_weight_one() -> None:
    logits, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(weighted_loss(logits, labels, torch.ones(4)), ce)
    assert weighted_loss(logits, labels, torch.zeros(4)).item() == 0.0


def test_probe_ignores_weight_zero_labels(task, tmp_path) -> None:
    texts = [t for ts in TEXTS.values() for t in ts]
    gold = [label for label, ts in TEXTS.items() for _ in ts]

    def accuracy(weight: float) -> float:
        student = build_student(StudentConfig(kind="embedding-probe"), task, embedder=HashEmbedder(dim=256))
        student.fit(_with_wrong_labels(weight), tmp_path / f"w{weight}", round=1)
        preds = student.predict([str(i) for i in range(len(texts))], texts)
        return sum(p.prediction == g for p, g in zip(preds, gold, strict=True)) / len(gold)

    assert accuracy(0.0) == 1.0
    assert accuracy(1.0) < 1.0  # the same items unweighted: the wrong labels pull the fit


def test_classifier_trains_on_weights(task, bert_tokenizer, tmp_path) -> None:
    """The weighted loss path (any weight != 1) trains like the model's own loss at weights ~1; noisy labels move it."""
    def fit(items: list[TrainItem]) -> torch.Tensor:
        torch.manual_seed(0)
        student = build_student(small_cfg(), task, model=tiny_bert(bert_tokenizer.vocab_size),
                                tokenizer=bert_tokenizer, progress=False)
        student.fit(items, tmp_path / "r", round=1)
        return torch.tensor(student.probabilities([t for ts in TEXTS.values() for t in ts]))

    clean = items_for(TEXTS)
    zero = [TrainItem(id=it.id, text=it.text, target=it.target, weight=1.0 if i % 2 else 0.999999)
            for i, it in enumerate(clean)]
    # weighted path (any weight != 1) with ~1 weights matches the unweighted path closely
    assert torch.allclose(fit(clean), fit(zero), atol=1e-3)
    noisy = _with_wrong_labels(1.0)
    assert not torch.allclose(fit(clean), fit(noisy), atol=1e-3)


def test_balance_classes_gives_every_label_the_same_total_weight() -> None:
    from distillgraph.trainer.base import balance_classes

    items = [TrainItem(id=str(i), text="t", target="a") for i in range(3)] + [
        TrainItem(id="b", text="t", target="b"), TrainItem(id="b0", text="t", target="b", weight=0.0)]
    out = balance_classes(items)
    assert [round(it.weight, 4) for it in out] == [0.6667, 0.6667, 0.6667, 2.0, 0.0]  # 4 / (2 x 3), 4 / (2 x 1)
    assert sum(it.weight for it in out) == 4.0 and items[0].weight == 1.0  # mass kept, inputs untouched
    gated = balance_classes([TrainItem(id="x", text="t", target="a", weight=0.5),
                             TrainItem(id="y", text="t", target="b", weight=1.0)])
    assert [it.weight for it in gated] == [0.75, 0.75]  # weighted counts: 0.5 and 1 of a mass of 1.5


def test_class_weight_defaults_per_kind_and_lifts_a_rare_label(task, tmp_path) -> None:
    assert StudentConfig(kind="embedding-probe").resolved().class_weight == "balanced"
    assert StudentConfig(kind="classifier").resolved().class_weight == "none"
    assert StudentConfig(kind="embedding-probe", class_weight="none").resolved().class_weight == "none"
    common = [TrainItem(id=f"{label}{k}{i}", text=t, target=label)
              for label in ("sport", "business") for k in range(4) for i, t in enumerate(TEXTS[label])]
    items = [*common, TrainItem(id="tech0", text=TEXTS["tech"][0], target="tech")]

    def tech_probability(weighting: str) -> float:
        student = build_student(StudentConfig(kind="embedding-probe", class_weight=weighting), task,
                                embedder=HashEmbedder(dim=256))
        student.fit(items, tmp_path / weighting, round=1)
        return float(student.probabilities(TEXTS["tech"])[:, list(task.labels).index("tech")].mean())

    assert tech_probability("balanced") > tech_probability("none") + 0.05


def test_the_classifier_gets_balanced_sample_weights(task, bert_tokenizer, tmp_path, monkeypatch) -> None:
    import distillgraph.trainer.lora as lora

    seen: list[list[dict]] = []
    monkeypatch.setattr(lora, "train_loop", lambda model, rows, *a, **k: seen.append(rows) or {"n_train": len(rows)})
    student = build_student(small_cfg().model_copy(update={"class_weight": "balanced"}), task,
                            model=tiny_bert(bert_tokenizer.vocab_size), tokenizer=bert_tokenizer, progress=False)
    items = items_for(TEXTS)[:4]  # 3 sport, 1 business
    student.fit(items, tmp_path / "r", round=1)
    assert [round(r["sample_weight"], 4) for r in seen[0]] == [0.6667, 0.6667, 0.6667, 2.0]
