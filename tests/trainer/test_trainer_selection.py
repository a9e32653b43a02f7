import math

import numpy as np
import pytest

from distillgraph.trainer.selection import (
    entropy,
    margin_score,
    power_sample_keys,
    select_diverse,
    typicality,
    typiclust,
)


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


def _blobs(sizes, seed=0):
    """Gaussian blobs far apart; the first point of each blob is its exact centre."""
    rng = np.random.default_rng(seed)
    out = []
    for b, n in enumerate(sizes):
        centre = np.zeros(4)
        centre[b % 4] = 10.0 * (1 + b // 4)
        out.append(np.vstack([centre, centre + rng.normal(0, 1.0, size=(n - 1, 4))]))
    return np.vstack(out)


def test_typicality_is_highest_in_the_dense_middle():
    pts = np.array([[0.0], [0.1], [-0.1], [0.2], [-0.2], [5.0]])
    typ = typicality(pts, k_nn=2)
    assert typ.argmax() == 0 and typ.argmin() == 5
    assert typicality(pts[:1]).tolist() == [1.0]


def test_typiclust_takes_the_typical_point_of_each_uncovered_cluster_largest_first():
    sizes = [40, 25, 15]
    pts = _blobs(sizes)
    starts = np.cumsum([0] + sizes[:-1])
    picks, typ = typiclust(pts, np.zeros((0, 4)), 3, seed=0)
    blob_of = np.searchsorted(starts, picks, side="right") - 1
    assert blob_of.tolist() == [0, 1, 2]  # one per blob, the largest uncovered blob first
    for p, b in zip(picks, blob_of, strict=True):  # the most typical point sits near the blob's centre
        assert np.linalg.norm(pts[p] - pts[starts[b]]) < 1.5
    assert len(typ) == 3 and all(t > 0 for t in typ)


def test_typiclust_skips_covered_clusters_and_is_deterministic():
    sizes = [40, 30, 20, 12, 8]  # |L| + k = 5 clusters: one per blob
    pts = _blobs(sizes)
    starts = np.cumsum([0] + sizes[:-1])
    labelled = pts[starts[:2]]  # the centres of the two largest blobs are labelled
    unlabelled = np.delete(pts, starts[:2], axis=0)
    picks, _ = typiclust(unlabelled, labelled, 3, seed=1)
    blob_of = np.searchsorted(starts - np.array([0, 1, 2, 2, 2]), picks, side="right") - 1
    assert blob_of.tolist() == [2, 3, 4], "covered blobs must wait; the uncovered go largest first"
    assert typiclust(unlabelled, labelled, 3, seed=1) == typiclust(unlabelled, labelled, 3, seed=1)
    small = _blobs([6, 5])
    many, _ = typiclust(small, np.zeros((0, 4)), 50, seed=0)
    assert sorted(many) == list(range(len(small)))  # asked for more than the pool: every point once
    assert typiclust(pts, np.zeros((0, 4)), 0, seed=0) == ([], [])


def test_power_sampling_draws_in_proportion_to_score_to_the_power():
    rng = np.random.default_rng(0)
    scores = np.array([1.0, 3.0])
    first = [int(np.argmax(power_sample_keys(scores, 1.0, rng.random(2)))) for _ in range(20000)]
    assert np.mean(first) == pytest.approx(0.75, abs=0.015)  # 3 / (1 + 3)
    squared = [int(np.argmax(power_sample_keys(scores, 2.0, rng.random(2)))) for _ in range(20000)]
    assert np.mean(squared) == pytest.approx(0.9, abs=0.015)  # 9 / (1 + 9)


def test_power_sampling_is_uniform_on_equal_scores_and_top_k_at_a_high_power():
    rng = np.random.default_rng(1)
    flat = np.full(4, 0.5)
    counts = np.bincount([int(np.argmax(power_sample_keys(flat, 4.0, rng.random(4)))) for _ in range(20000)],
                         minlength=4)
    assert np.allclose(counts / counts.sum(), 0.25, atol=0.015)
    scores = np.array([0.2, 0.9, 0.5, 0.05])
    keys = power_sample_keys(scores, 500.0, rng.random(4))
    assert list(np.argsort(-keys)) == [1, 2, 0, 3]
    with pytest.raises(ValueError):
        power_sample_keys(scores, 1.0, rng.random(3))


def test_neighbour_agreement_tells_label_bearing_neighbourhoods_from_unrelated_ones():
    from distillgraph.trainer.selection import neighbour_agreement

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    labels = [lab for lab in ("a", "b", "c") for _ in range(20)]
    vectors = np.vstack([centres[i] + 0.3 * rng.normal(size=(20, 16)) for i in range(3)])
    near = neighbour_agreement(vectors, labels)
    # 3 balanced labels of 20: two distinct examples share a label with chance 19/59
    assert near["n"] == 60 and near["chance"] == pytest.approx(3 * 20 * 19 / (60 * 59))
    assert near["accuracy"] > 0.9 and near["p"] < 1e-6
    shuffled = list(rng.permutation(labels))  # the same space, labels unrelated to it
    far = neighbour_agreement(vectors, shuffled)
    assert far["accuracy"] < 0.6 and far["p"] > 0.05
    # by hand on 4 points: each one's nearest neighbour is its pair, so none agree when labels cross the pairs
    pairs = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    assert neighbour_agreement(pairs, ["x", "x", "y", "y"])["accuracy"] == 1.0
    assert neighbour_agreement(pairs, ["x", "y", "x", "y"])["accuracy"] == 0.0
    for degenerate in (["x", "x", "x", "x"], ["x", "y"]):  # one label; fewer than 3 examples
        assert np.isnan(neighbour_agreement(pairs[: len(degenerate)], degenerate)["p"])
