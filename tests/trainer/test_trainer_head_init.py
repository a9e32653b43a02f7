"""head_init probe (LP-FT): the classifier's output layer starts as a logistic regression on the frozen
encoder's head inputs; tiny random BERT, no download."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from distillgraph.graph.config import RunConfig
from distillgraph.trainer.classifier import probe_weights
from distillgraph.trainer.student import TrainItem, build_student
from tests.trainer.conftest import TEXTS, items_for, small_cfg, tiny_bert


def make(task, tokenizer, **kw):
    return build_student(small_cfg(**kw), task, model=tiny_bert(tokenizer.vocab_size), tokenizer=tokenizer,
                         progress=False)


def softmax_argmax(x, w, b):
    return np.argmax(x @ w.T + b, axis=1)


def test_probe_weights_reproduce_the_logistic_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    y = [0] * 10 + [2] * 10 + [3] * 10
    x[10:20, 0] += 3
    x[20:, 1] += 3
    w, b = probe_weights(x, y, [1.0] * 30, n_labels=4)
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
    assert list(clf.classes_[softmax_argmax(x, w[clf.classes_], b[clf.classes_])]) == list(clf.predict(x))
    np.testing.assert_allclose(softmax_argmax(x, w, b), clf.predict(x))  # label 1 (absent) never wins
    assert np.all(w[1] == 0) and b[1] == pytest.approx(min(b[[0, 2, 3]]))
    proba = np.exp(x @ w.T + b)[:, [0, 2, 3]]
    np.testing.assert_allclose(proba / proba.sum(1, keepdims=True), clf.predict_proba(x), atol=1e-6)


def test_probe_weights_binary_is_the_sigmoid_as_two_softmax_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    x[10:, 2] += 2
    y = [0] * 10 + [1] * 10
    w, b = probe_weights(x, y, [1.0] * 20, n_labels=2)
    logits = x @ w.T + b
    p1 = np.exp(logits[:, 1]) / np.exp(logits).sum(1)
    np.testing.assert_allclose(p1, LogisticRegression(C=1.0, max_iter=2000).fit(x, y).predict_proba(x)[:, 1],
                               atol=1e-6)


def test_probe_weights_follow_the_sample_weights():
    x = np.array([[0.0], [0.1], [1.0], [1.1]])
    light = probe_weights(x, [0, 0, 1, 1], [1.0, 1.0, 1.0, 1.0], 2)
    heavy = probe_weights(x, [0, 0, 1, 1], [1.0, 1.0, 50.0, 50.0], 2)
    assert heavy[1][1] - heavy[1][0] > light[1][1] - light[1][0]  # the weighted label's bias rises


def test_a_probe_head_starts_where_the_linear_probe_is(task, bert_tokenizer):
    items = items_for(TEXTS)
    texts = [it.text for it in items]
    student = make(task, bert_tokenizer, head_init="probe")
    heads = student._new_adapter(items)  # the probe head, as fit starts from it
    assert set(heads) == {"classifier"}
    name, layer = student._output_layer()
    feats = student._head_inputs(layer, texts)
    index = {lb: i for i, lb in enumerate(student.labels)}
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(feats, [index[it.target] for it in items])
    assert list(student.probabilities(texts).argmax(1)) == list(clf.predict(feats))
    random_head = make(task, bert_tokenizer)
    random_head._new_adapter(items)
    assert not np.allclose(random_head.probabilities(texts), student.probabilities(texts))


def test_a_probe_head_trains_and_the_base_head_is_restored(task, bert_tokenizer, tmp_path):
    items = items_for(TEXTS)
    student = make(task, bert_tokenizer, head_init="probe", num_train_epochs=20, learning_rate=5e-2)
    before = {k: v.clone() for k, v in student.base.state_dict().items()}
    student._reset()
    start = student._initial_heads(items)["classifier"]["weight"]
    stats = student.fit(items, tmp_path / "r1", round=1)
    trained = dict(student.model.named_parameters())["base_model.model.classifier.modules_to_save.default.weight"]
    assert stats["steps"] == 60 and not torch.allclose(trained.detach(), start, atol=1e-3)  # trained from there
    fresh = make(task, bert_tokenizer, head_init="probe")
    fresh.load(tmp_path / "r1")  # the saved adapter holds the trained head
    texts = [it.text for it in items]
    np.testing.assert_allclose(fresh.probabilities(texts), student.probabilities(texts), atol=1e-6)
    student._reset()
    for k, v in student.base.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_one_label_keeps_the_models_own_head(task, bert_tokenizer):
    student = make(task, bert_tokenizer, head_init="probe")
    student._reset()
    assert student._initial_heads([TrainItem(id="a", text="x y", target="sport")] * 2) is None
    assert make(task, bert_tokenizer)._initial_heads(items_for(TEXTS)) is None  # head_init random


def test_head_init_probe_needs_the_classifier_student():
    cfg = {"task": {"type": "classification", "instruction": "x", "labels": {"a": "a", "b": "b"}},
           "data": {"source": "bbc"}, "budget": {"max_calls": 10},
           "student": {"kind": "embedding-probe", "head_init": "probe"}}
    with pytest.raises(ValueError, match="student.head_init: only the classifier student"):
        RunConfig(**cfg)
    cfg["student"]["kind"] = "classifier"
    assert RunConfig(**cfg).student.head_init == "probe"


def test_a_launched_fit_starts_from_the_same_probe_head(task, bert_tokenizer, tmp_path):
    """`accelerate launch` (one CPU process) gets the parent's probe head: the same adapter as inline."""
    from tests.scale.test_scale_ddp import adapter, no_dropout_bert

    kw = dict(head_init="probe", lora_dropout=0.0, num_train_epochs=2, seed=3)
    items = items_for(TEXTS)
    runs = {}
    for name, extra in (("inline", {}), ("launched", {"launcher": "accelerate"})):
        student = build_student(small_cfg(**kw, **extra), task, model=no_dropout_bert(bert_tokenizer.vocab_size),
                                tokenizer=bert_tokenizer, progress=False)
        student.fit(items, tmp_path / name, round=1)
        runs[name] = adapter(tmp_path / name)
    a, b = runs["inline"], runs["launched"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4, rtol=1e-3), key
    plain = build_student(small_cfg(**{**kw, "head_init": "random"}), task,
                          model=no_dropout_bert(bert_tokenizer.vocab_size), tokenizer=bert_tokenizer, progress=False)
    plain.fit(items, tmp_path / "plain", round=1)
    head = next(k for k in a if "classifier" in k and k.endswith("weight"))
    assert not torch.allclose(adapter(tmp_path / "plain")[head], a[head], atol=1e-3)  # the probe head differs
