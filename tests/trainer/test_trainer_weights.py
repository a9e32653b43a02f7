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
