import numpy as np
import pytest

from distillgraph.store.embed import HashEmbedder
from distillgraph.store.schema import UserError
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.student import TrainItem, build_student
from tests.trainer.conftest import TEXTS, items_for


class CountingEmbedder(HashEmbedder):
    """The project's hashing embedder, counting how many texts it was asked to embed."""

    def __init__(self):
        super().__init__(dim=256)
        self.calls = 0

    def encode(self, texts, ids=None, *, cache=None):
        self.calls += len(texts)
        return super().encode(texts)


def make(task, embedder=None):
    return build_student(StudentConfig(kind="embedding-probe"), task, embedder=embedder or CountingEmbedder())


def test_probe_fits_fast_predicts_and_roundtrips(task, tmp_path):
    items = items_for(TEXTS)
    student = make(task)
    stats = student.fit(items, tmp_path / "round-1", round=1)
    assert stats["n_train"] == 9 and stats["final_loss"] >= 0
    texts = [it.text for it in items]
    preds = student.predict([it.id for it in items], texts)
    assert [p.prediction for p in preds] == [it.target for it in items]
    assert list(preds[0].probs) == list(task.labels) and sum(preds[0].probs.values()) == pytest.approx(1.0)
    other = make(task)
    other.load(tmp_path / "round-1")
    np.testing.assert_allclose(other.probabilities(texts), student.probabilities(texts))


def test_probe_embeds_each_text_once(task, tmp_path):
    embedder = CountingEmbedder()
    student = make(task, embedder)
    items = items_for(TEXTS)
    student.fit(items, tmp_path, round=1)
    student.score([it.text for it in items], "entropy")
    student.score([it.text for it in items] + ["a new text"], "margin")
    assert embedder.calls == 10


def test_probe_scores_and_single_label_start(task, tmp_path):
    student = make(task)
    student.fit(
        [TrainItem(id="1", text="goal", target="sport"), TrainItem(id="2", text="match", target="sport")],
        tmp_path,
        round=1,
    )
    probs = student.probabilities(["anything"])
    np.testing.assert_allclose(probs, [[1.0, 0.0, 0.0]])  # only label seen: sport (first in task.labels)
    np.testing.assert_allclose(student.score(["anything"], "entropy"), [0.0], atol=1e-9)
    np.testing.assert_allclose(student.score(["anything"], "margin"), [0.0])


def test_probe_user_errors(task, gen_task, tmp_path):
    student = make(task)
    with pytest.raises(UserError, match="not been trained"):
        student.predict(["1"], ["x"])
    with pytest.raises(UserError, match="no saved probe"):
        student.load(tmp_path)
    with pytest.raises(UserError, match="classification task"):
        make(gen_task)
