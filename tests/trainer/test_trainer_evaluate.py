import numpy as np
import pytest
from sacrebleu.metrics import CHRF
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from distillgraph.trainer.evaluate import classification_metrics, distinct_n, generation_metrics, parse_label

LABELS = ["business", "sport", "tech"]


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = list(rng.choice(LABELS, 60))
    y_pred = list(rng.choice(LABELS, 60))
    m = classification_metrics(y_true, y_pred, LABELS)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=LABELS, average="macro"))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=LABELS)
    for i, label in enumerate(LABELS):
        assert m["per_label"][label] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]}
        )


def test_unparsed_predictions_count_as_wrong():
    m = classification_metrics(["sport", "tech", "tech"], ["sport", None, "tech"], LABELS)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["unparsed"] == 1
    assert m["per_label"]["tech"]["recall"] == pytest.approx(0.5)
    assert m["confusion_pairs"] == [["tech", None, 1]]


def test_confusion_pairs_sorted_by_count():
    y_true = ["sport", "sport", "sport", "tech", "business"]
    y_pred = ["tech", "tech", "sport", "business", "sport"]
    m = classification_metrics(y_true, y_pred, LABELS)
    assert m["confusion_pairs"] == [["sport", "tech", 2], ["business", "sport", 1], ["tech", "business", 1]]


def test_per_cluster_accuracy_worst_and_spread():
    y_true = ["sport"] * 6
    y_pred = ["sport", "sport", "tech", "tech", "sport", "tech"]
    clusters = [0, 0, 1, 1, 2, 2]
    m = classification_metrics(y_true, y_pred, LABELS, clusters)
    assert m["per_cluster"] == {
        0: {"n": 2, "accuracy": 1.0},
        1: {"n": 2, "accuracy": 0.0},
        2: {"n": 2, "accuracy": 0.5},
    }
    assert m["worst_cluster"] == 1
    assert m["worst_cluster_score"] == 0.0
    assert m["cluster_spread"] == 1.0


def test_generation_metrics():
    refs = ["the cat sat on the mat", "stocks fall sharply", "new phone launched"]
    hyps = ["the cat sat on the mat", "shares drop", "new phone launched today"]
    m = generation_metrics(refs, hyps, clusters=[0, 1, 0])
    assert m["chrf"] == pytest.approx(CHRF().corpus_score(hyps, [refs]).score)
    assert 0 < m["rougeL"] < 1
    assert m["per_cluster"][0]["rougeL"] > m["per_cluster"][1]["rougeL"]
    assert m["worst_cluster"] == 1
    assert m["cluster_spread"] == pytest.approx(m["per_cluster"][0]["chrf"] - m["per_cluster"][1]["chrf"])
    same = generation_metrics(refs, refs)
    assert same["rougeL"] == pytest.approx(1.0)
    assert same["chrf"] == pytest.approx(100.0)


def test_distinct_n_hand_checked():
    texts = ["a b a", "a b c"]
    assert distinct_n(texts, 1) == pytest.approx(3 / 6)  # a, b, c out of 6 tokens
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)  # (a b), (b a), (b c) out of 4 bigrams
    assert distinct_n([""], 2) == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sport", "sport"),
        ("  Sport.", "sport"),
        ("**Tech**", "tech"),
        ("It talks about a match.\nAnswer: sport", "sport"),
        ("The markets moved, so business? No.\nAnswer: tech", "tech"),
        ("The topic is business.", "business"),
        ("business or tech", None),
        ("I do not know", None),
        ("", None),
        ("Answer:", None),
    ],
)
def test_parse_label(text, expected):
    assert parse_label(text, LABELS) == expected


def test_parse_label_prefers_the_longer_label():
    assert parse_label("it is sci-tech news", ["tech", "sci-tech"]) == "sci-tech"
