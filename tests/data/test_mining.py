from __future__ import annotations

import numpy as np
import pytest

from omnivec.data.mining import f1_optimal_threshold, mine_hard_negatives, threshold_from_pairs
from omnivec.errors import ConfigError


def _brute_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    best_t, best_f1 = None, -1.0
    for t in sorted(set(scores.tolist()), reverse=True):  # ties go to the highest threshold
        pred = scores >= t
        tp = int((pred & labels).sum())
        p = tp / pred.sum()
        r = tp / labels.sum()
        f1 = 0.0 if tp == 0 else 2 * p * r / (p + r)
        if f1 > best_f1 + 1e-12:
            best_t, best_f1 = t, f1
    return best_t, best_f1


@pytest.mark.parametrize("seed", range(8))
def test_f1_threshold_equals_brute_force_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 200))
    labels = rng.random(n) < 0.3
    labels[0] = True
    scores = np.round(rng.normal(size=n) + labels * 1.0, 1)  # rounding creates many ties
    t, f1 = f1_optimal_threshold(scores, labels)
    bt, bf1 = _brute_f1(scores, labels)
    assert t == pytest.approx(bt) and f1 == pytest.approx(bf1)


def test_f1_threshold_separable_and_errors():
    scores = np.array([0.9, 0.8, 0.5, 0.4, 0.85])
    labels = np.array([1, 1, 0, 0, 1])
    assert f1_optimal_threshold(scores, labels) == (0.8, 1.0)
    with pytest.raises(ValueError, match="positive"):
        f1_optimal_threshold(scores, np.zeros(5))


def _brute_mine(q, c, positives, thr, k, cg=None, qg=None):
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    cn = c / np.linalg.norm(c, axis=1, keepdims=True)
    s = (qn @ cn.T).astype(np.float32)
    out = []
    for i in range(len(q)):
        bad_groups = set()
        if cg is not None:
            bad_groups = {cg[p] for p in positives[i]} | ({qg[i]} if qg is not None else set())
            bad_groups.discard(-1)
        ok = [
            j
            for j in range(len(c))
            if j not in positives[i] and s[i, j] < thr and (cg is None or cg[j] not in bad_groups)
        ]
        ok.sort(key=lambda j: -s[i, j])
        out.append(ok[:k])
    return out, s


def test_mining_equals_brute_force_and_is_chunk_invariant():
    rng = np.random.default_rng(0)
    q, c = rng.normal(size=(13, 6)), rng.normal(size=(57, 6))
    positives = [{int(rng.integers(57))} for _ in range(13)]
    positives[3] = {1, 2, 3}
    cg = rng.integers(-1, 20, size=57)
    qg = rng.integers(-1, 30, size=13)
    thr, k = 0.5, 5
    expected, s = _brute_mine(q, c, positives, thr, k, cg, qg)
    idx, sc = mine_hard_negatives(q, c, positives, thr, k, corpus_groups=cg, query_groups=qg)
    small_idx, small_sc = mine_hard_negatives(
        q, c, positives, thr, k, corpus_groups=cg, query_groups=qg, chunk_size=7, query_chunk_size=3
    )
    np.testing.assert_array_equal(idx, small_idx)
    np.testing.assert_allclose(sc, small_sc, rtol=1e-6)
    for i in range(13):
        got = [j for j in idx[i] if j >= 0]
        assert got == expected[i]
        np.testing.assert_allclose(sc[i, : len(got)], s[i, got], rtol=1e-5)
        assert (idx[i, len(got) :] == -1).all() and np.isneginf(sc[i, len(got) :]).all()
    assert (sc[idx >= 0] < thr).all()


def test_mining_drops_planted_near_duplicate_and_pads():
    rng = np.random.default_rng(1)
    c = rng.normal(size=(20, 8))
    q = c[:4] + 0.01 * rng.normal(size=(4, 8))
    c[10] = 2 * c[0]  # duplicate of query 0's positive: scores like the positive, a false negative
    thr, f1 = threshold_from_pairs(q, c[:4])
    assert f1 == 1.0
    idx, sc = mine_hard_negatives(q, c, [0, 1, 2, 3], thr, k=3)
    assert 10 not in idx[0] and 0 not in idx[0] and (idx[0] >= 0).all() and (sc < thr).all()
    # Without the threshold the duplicate would have been the hardest negative.
    idx_no_thr, _ = mine_hard_negatives(q, c, [0, 1, 2, 3], threshold=2.0, k=3)
    assert idx_no_thr[0, 0] == 10
    idx, _ = mine_hard_negatives(q, c, np.array([0, 1, 2, -1]), threshold=-0.99, k=3)
    assert (idx == -1).all()  # nothing scores below -0.99
    # A candidate scoring exactly the threshold is a presumed false negative, not a hard negative.
    _, top = mine_hard_negatives(q, c, [0, 1, 2, 3], threshold=2.0, k=2)
    idx_at, _ = mine_hard_negatives(q, c, [0, 1, 2, 3], threshold=float(top[1, 0]), k=2)
    assert idx_at[1, 0] != idx_no_thr[1, 0] and idx_no_thr[1, 0] not in idx_at[1]
    with pytest.raises(ConfigError, match="k"):
        mine_hard_negatives(q, c, [0, 1, 2, 3], thr, k=0)


def test_threshold_from_pairs_exact_sampled_and_grouped():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(40, 8))
    q = t + 0.8 * rng.normal(size=(40, 8))
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    tn = t / np.linalg.norm(t, axis=1, keepdims=True)
    s = qn @ tn.T
    labels = np.eye(40, dtype=bool)
    exact = f1_optimal_threshold(s.ravel(), labels.ravel())
    assert threshold_from_pairs(q, t) == pytest.approx(exact, rel=1e-5)
    a = threshold_from_pairs(q, t, max_negatives=300, seed=3)
    assert a == threshold_from_pairs(q, t, max_negatives=300, seed=3)
    assert a != threshold_from_pairs(q, t, max_negatives=300, seed=4)
    # Same-group pairs are neither positive nor negative.
    groups = np.arange(40)
    groups[1] = 0
    keep = ~labels & ~np.isin(np.arange(40)[:, None] * 100 + np.arange(40), [1, 100])
    grouped = f1_optimal_threshold(np.r_[np.diag(s), s[keep]], np.r_[np.ones(40), np.zeros(keep.sum())])
    assert threshold_from_pairs(q, t, groups=groups) == pytest.approx(grouped, rel=1e-5)
