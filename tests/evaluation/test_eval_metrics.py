from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from omnivec.evaluation.metrics import (
    accuracy,
    auc,
    mean_reciprocal_rank,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    separability,
)


def test_recall_uses_min_of_k_and_relevant() -> None:
    ranking = ["a", "b", "c", "d"]
    assert recall_at_k(ranking, {"b", "z"}, 1) == 0.0
    assert recall_at_k(ranking, {"b", "z"}, 2) == 0.5  # 1 hit / min(2, 2)
    assert recall_at_k(ranking, {"b", "z"}, 3) == 0.5  # |relevant| < k: 1 / min(3, 2)
    assert recall_at_k(ranking, {"c"}, 10) == 1.0  # |relevant| = 1 < k = 10
    assert recall_at_k(ranking, {"a", "b", "x", "y", "w"}, 2) == 1.0  # more relevant than slots
    assert recall_at_k(ranking, {"a", "b", "x", "y", "w"}, 4) == 0.5  # 2 hits / min(4, 5)
    assert recall_at_k(ranking, set(), 5) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(ranking, {"a"}, 0)


def test_ndcg_binary_and_graded() -> None:
    ranking = ["x", "a", "y", "b"]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranking, {"a", "b"}, 4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["a", "b", "x"], {"a", "b"}, 3) == pytest.approx(1.0)
    assert ndcg_at_k(ranking, {"a", "b"}, 1) == 0.0
    # graded gains: the better item ranked second
    graded = {"a": 3.0, "b": 1.0}
    assert ndcg_at_k(["b", "a"], graded, 2) == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))
    assert ndcg_at_k(["a", "b"], graded, 2) == pytest.approx(1.0)
    # IDCG truncated at k: only the best gain counts for k = 1
    assert ndcg_at_k(["b"], graded, 1) == pytest.approx(1 / 3)
    assert ndcg_at_k(ranking, {}, 3) == 0.0


def test_reciprocal_rank_and_mrr() -> None:
    assert reciprocal_rank(["x", "y", "a", "b"], {"a", "b"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x", "y"], {"a"}) == 0.0
    assert mean_reciprocal_rank([["a"], ["x", "a"], ["x"]], [{"a"}, {"a"}, {"a"}]) == pytest.approx(0.5)


def test_auc_known_values_and_ties() -> None:
    assert auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert auc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 0.0
    assert auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5  # every pair tied: ½ each
    # pos {0.8, 0.5} vs neg {0.5, 0.2}: 1 + 1 + ½ (tie) + 1 = 3.5 of 4 pairs
    assert auc([0.8, 0.5, 0.5, 0.2], [1, 1, 0, 0]) == pytest.approx(0.875)
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 300).astype(float)  # many ties
    y = rng.integers(0, 2, 300)
    assert auc(s, y) == pytest.approx(roc_auc_score(y, s))
    assert math.isnan(auc([0.1, 0.2], [1, 1]))


def test_separability() -> None:
    sep = separability([0.9, 0.7], [0.1, 0.7, 0.3])
    assert sep["pos_cos"] == pytest.approx(0.8)
    assert sep["neg_cos"] == pytest.approx(1.1 / 3)
    assert sep["pos_neg_gap"] == pytest.approx(0.8 - 1.1 / 3)
    # 0.9 beats all 3; 0.7 beats 0.1 and 0.3 and ties 0.7 → 5.5 of 6
    assert sep["pos_neg_auc"] == pytest.approx(5.5 / 6)
    with pytest.raises(ValueError):
        separability([], [0.1])


def test_accuracy() -> None:
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "c"]) == 0.5
    assert accuracy([], []) == 0.0
    with pytest.raises(ValueError):
        accuracy(["a"], [])
