from __future__ import annotations

import numpy as np
import pytest

from omnivec.evaluation.consistency import (
    bijective_accuracy,
    cluster_nmi,
    cosine_matrix,
    cross_space_bijective_accuracy,
    intersection_per_query,
    kendall_per_query,
    kendall_tau,
    nmi,
    ranking_kendall,
    topk_indices,
    topk_intersection,
)


def _emb(n: int = 60, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def test_identical_spaces_score_one() -> None:
    x = _emb()
    sim = cosine_matrix(x, exclude_self=True)
    assert cluster_nmi(x, x, k=5) == pytest.approx(1.0)
    assert ranking_kendall(sim, sim, k=20) == pytest.approx(1.0)
    assert topk_intersection(sim, sim, k=10) == pytest.approx(1.0)
    assert bijective_accuracy(x, x) == pytest.approx(1.0)
    assert cross_space_bijective_accuracy(x, x, np.arange(20)) == pytest.approx(1.0)


def test_unrelated_spaces_score_low() -> None:
    a, b = _emb(200, 8, 0), _emb(200, 8, 1)
    sa, sb = cosine_matrix(a, exclude_self=True), cosine_matrix(b, exclude_self=True)
    assert cluster_nmi(a, b, k=5) < 0.2
    assert abs(cluster_nmi(a, b, k=5, adjusted=True)) < 0.05
    assert cluster_nmi(a, a, k=5, adjusted=True) == pytest.approx(1.0)
    assert abs(ranking_kendall(sa, sb, k=30)) < 0.1
    assert topk_intersection(sa, sb, k=10) < 0.2


def test_nmi_formula() -> None:
    assert nmi([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)  # permuted labels
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0)
    # 2 I / (H_a + H_b) by hand: a = [0,0,1,1], b = [0,0,0,1]
    h_a, h_b = np.log(2), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    mi = (
        0.5 * np.log(0.5 / (0.5 * 0.75))
        + 0.25 * np.log(0.25 / (0.5 * 0.75))
        + 0.25 * np.log(0.25 / (0.5 * 0.25))
    )
    assert nmi([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(2 * mi / (h_a + h_b))


def test_kendall_hand_cases() -> None:
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx((5 - 1) / 6)
    assert np.isnan(kendall_tau([1, 1], [1, 2]))
    # ranking_kendall uses the reference top-k only: candidates 1, 2 (k=2) agree although 3 does not
    ref = np.array([[-np.inf, 0.9, 0.8, 0.1]])
    test = np.array([[-np.inf, 0.5, 0.4, 0.9]])
    assert ranking_kendall(test, ref, k=2) == pytest.approx(1.0)
    assert ranking_kendall(test, ref, k=3) == pytest.approx(-1 / 3)


def test_topk_intersection_hand_case() -> None:
    test = np.array([[0.9, 0.8, 0.1, 0.0]])
    ref = np.array([[0.9, 0.1, 0.8, 0.0]])
    assert topk_intersection(test, ref, k=2) == pytest.approx(0.5)
    assert topk_intersection(test, ref, k=4) == pytest.approx(1.0)
    # -inf entries (the query itself) are never retrieved and k is clamped
    ref2 = np.array([[-np.inf, 0.2, 0.1]])
    assert topk_intersection(np.array([[-np.inf, 0.1, 0.2]]), ref2, k=5) == pytest.approx(1.0)


def test_per_query_consistency_values_average_to_the_pooled_metrics() -> None:
    ref = np.array([[-np.inf, 0.9, 0.8, 0.1], [0.9, -np.inf, 0.5, 0.4], [0.3, 0.3, -np.inf, 0.3]])
    test = np.array([[-np.inf, 0.5, 0.4, 0.9], [0.9, -np.inf, 0.4, 0.5], [0.1, 0.2, -np.inf, 0.3]])
    taus = kendall_per_query(test, ref, k=3)
    assert taus[0] == pytest.approx(-1 / 3) and taus[1] == pytest.approx(1 / 3)
    assert np.isnan(taus[2])  # the reference ties every candidate: undefined, and skipped by the mean
    assert ranking_kendall(test, ref, k=3) == pytest.approx(np.mean(taus[:2]))
    inter = intersection_per_query(test, ref, k=1)
    assert inter.tolist() == [0.0, 1.0, 0.0]  # row 3: ties go to the lower index (0) in ref, 3 in test
    assert topk_intersection(test, ref, k=1) == pytest.approx(np.mean(inter))
    x = _emb()
    sim = cosine_matrix(x, exclude_self=True)
    assert np.allclose(kendall_per_query(sim, sim, k=10), 1.0) and np.allclose(
        intersection_per_query(sim, sim), 1.0
    )


def test_bijective_hand_case() -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    t = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert bijective_accuracy(q, t) == pytest.approx(1.0)
    q_bad = np.array(
        [[1.0, 0.0], [0.0, 1.0], [0.95, 0.31]]
    )  # nearest target is t0, whose nearest query is q0
    assert bijective_accuracy(q_bad, t) == pytest.approx(2 / 3)
    swapped = np.array([[0.0, 1.0], [1.0, 0.0]])
    eye = np.eye(2)
    assert bijective_accuracy(eye, swapped) == 0.0  # strict: the round trip must pass through the positive
    assert bijective_accuracy(eye, swapped, strict=False) == 1.0  # loose: mutual nearest neighbours


def test_cross_space_bijective() -> None:
    a = _emb(200, 16, 0)
    rot = np.linalg.qr(np.random.default_rng(2).normal(size=(16, 16)))[0]
    queries = np.arange(0, 200, 4)
    # a linearly related space (rotated, scaled, fewer dims kept) round-trips through the fitted map
    assert cross_space_bijective_accuracy(a, 3.0 * (a @ rot)[:, :12], queries) == pytest.approx(1.0)
    assert cross_space_bijective_accuracy(a, _emb(200, 8, 1), queries) < 0.15
    # rows: score a subset of the queries only
    q = np.array([[1.0, 0.0], [0.0, 1.0], [0.95, 0.31]])
    t = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert bijective_accuracy(q, t, rows=np.array([2])) == 0.0
    assert bijective_accuracy(q, t, rows=np.array([0, 1])) == 1.0


def test_topk_indices_matches_full_sort_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        row = rng.integers(0, 6, 30).astype(float)
        row[rng.integers(0, 30, 3)] = -np.inf
        for k in (1, 5, 10, 40):
            finite = np.flatnonzero(np.isfinite(row))
            ref = finite[np.argsort(-row[finite], kind="stable")][:k]
            assert topk_indices(row, k).tolist() == ref.tolist()
