import math

import numpy as np
import pytest

from distillgraph.trainer.selection import entropy, margin_score, select_diverse


def test_entropy_hand_values():
    probs = np.array([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(entropy(probs), [math.log(3), 0.0, math.log(2)], atol=1e-9)


def test_margin_score_is_one_minus_margin():
    probs = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1]])
    np.testing.assert_allclose(margin_score(probs), [1.0, 0.15, 0.5])


def test_select_diverse_skips_near_duplicates():
    ids = ["a", "a-copy", "b", "c"]
    scores = np.array([0.9, 0.8, 0.5, 0.1])
    vectors = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [-1.0, 0.0]])
    assert select_diverse(ids, scores, vectors, k=2, min_distance=0.1) == ["a", "b"]
    assert select_diverse(ids, scores, vectors, k=2, min_distance=0.0) == ["a", "a-copy"]


def test_select_diverse_fills_up_when_too_few_are_diverse():
    ids = ["a", "b", "c"]
    vectors = np.ones((3, 4))
    assert select_diverse(ids, np.array([0.1, 0.3, 0.2]), vectors, k=2, min_distance=0.5) == ["b", "c"]
    assert select_diverse(ids, np.array([0.1, 0.3, 0.2]), vectors, k=10, min_distance=0.5) == ["b", "c", "a"]
    assert select_diverse([], np.array([]), np.zeros((0, 4)), k=3, min_distance=0.1) == []


def test_select_diverse_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        select_diverse(["a"], np.array([1.0, 2.0]), np.ones((2, 2)), k=1, min_distance=0.0)
