from __future__ import annotations

import numpy as np
import pytest

from omnivec.data.balancing import alignment_score, kmeans, sinkhorn, source_weights
from omnivec.errors import ConfigError


def _mixture(centers: np.ndarray, n: int, seed: int, noise: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(centers), size=n)
    return centers[pick] + noise * rng.normal(size=(n, centers.shape[1]))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_kmeans_recovers_planted_clusters_deterministically():
    centers = _unit(np.eye(6)[:3] * 5)
    x = _mixture(centers, 300, seed=0, noise=0.05)
    c1, n1 = kmeans(x, 3, seed=0, iters=50)
    c2, _ = kmeans(x, 3, seed=0, iters=50)
    np.testing.assert_array_equal(c1, c2)
    assert n1.sum() == 300
    # every planted centre has a found centroid pointing the same way
    assert (_unit(c1) @ centers.T).max(axis=0).min() > 0.99
    few, counts = kmeans(np.ones((4, 6)), 8, seed=0)
    assert few.shape[0] == 1 and counts.tolist() == [4]


@pytest.mark.parametrize("seed", range(5))
def test_sinkhorn_marginals(seed: int):
    rng = np.random.default_rng(seed)
    m, n = 5 + seed, 8 - seed
    cost = 1 - _unit(rng.normal(size=(m, 16))) @ _unit(rng.normal(size=(n, 16))).T
    a, b = rng.random(m) + 0.1, rng.random(n) + 0.1
    a, b = a / a.sum(), b / b.sum()
    for aa, bb in ((None, None), (a, b)):
        plan = sinkhorn(cost, aa, bb, epsilon=0.05, iters=200)
        ea = np.full(m, 1 / m) if aa is None else aa
        eb = np.full(n, 1 / n) if bb is None else bb
        np.testing.assert_allclose(plan.sum(axis=1), ea, atol=1e-6)
        np.testing.assert_allclose(plan.sum(axis=0), eb, atol=1e-6)
        assert (plan >= 0).all()


def test_sinkhorn_small_epsilon_finds_the_assignment():
    perm = np.array([2, 0, 3, 1])
    cost = np.ones((4, 4))
    cost[np.arange(4), perm] = 0.0
    plan = sinkhorn(cost, epsilon=0.01)
    expected = np.zeros((4, 4))
    expected[np.arange(4), perm] = 0.25
    np.testing.assert_allclose(plan, expected, atol=1e-6)


def test_alignment_score_prefers_matching_centroids():
    rng = np.random.default_rng(0)
    c = _unit(rng.normal(size=(6, 16)))
    same = alignment_score(c, c[::-1])  # same set, other order
    other = alignment_score(c, _unit(rng.normal(size=(6, 16))))
    assert same == pytest.approx(1.0, abs=1e-3) and other < same


def _sets() -> tuple[dict, dict]:
    rng = np.random.default_rng(42)
    near_centers = rng.normal(size=(4, 16))
    far_centers = rng.normal(size=(4, 16))
    val = {
        "bench_a": {"fusion": _mixture(near_centers, 200, 1), "vision": _mixture(near_centers, 200, 2)},
        "bench_b": {"fusion": _mixture(near_centers, 150, 3)},
    }
    train = {
        "near": {"fusion": _mixture(near_centers, 300, 4)},
        "far": {"fusion": _mixture(far_centers, 300, 5)},
        "vision_only": {"vision": _mixture(near_centers, 200, 6)},
    }
    return train, val


def test_source_weights_prefer_the_in_distribution_source():
    train, val = _sets()
    res = source_weights(train, val, k=4, seed=0)
    assert sum(res.weights.values()) == pytest.approx(1.0)
    assert res.weights["near"] > res.weights["far"]
    assert res.mean_scores[0] > 0.9 and res.mean_scores[1] < 0.5
    # Fusion first; a vision-only source falls back to vision and skips the set without vision.
    assert res.modalities[0] == ["fusion", "fusion"]
    assert res.modalities[2] == ["vision", None] and np.isnan(res.scores[2, 1])
    assert res.mean_scores[2] == pytest.approx(res.scores[2, 0])
    # Deterministic with a seed; softmax of mean / temperature; a lower temperature is sharper.
    again = source_weights(train, val, k=4, seed=0)
    np.testing.assert_array_equal(res.scores, again.scores)
    e = np.exp(res.mean_scores - res.mean_scores.max())
    np.testing.assert_allclose(list(res.weights.values()), e / e.sum())
    sharp = source_weights(train, val, k=4, seed=0, temperature=0.1)
    assert sharp.weights["near"] > res.weights["near"]
    assert "near" in res.table() and "bench_b" in res.table()


def test_source_weights_errors():
    train, val = _sets()
    with pytest.raises(ConfigError, match="audio_only"):
        source_weights({**train, "audio_only": {"audio": np.ones((10, 4))}}, val, k=2)
    with pytest.raises(ConfigError, match="temperature"):
        source_weights(train, val, temperature=0.0)


def test_per_set_votes_keep_a_source_that_serves_one_set_well():
    """Two i2i-like sets and one q2i-like set: the paper's mean starves the q2i source, per-set votes don't."""
    from omnivec.data import balancing

    scores = np.array([[0.6, 0.6, 0.2],  # i2i source: close to both i2i sets
                       [0.2, 0.2, 0.7]])  # q2i source: close to the q2i set only  # fmt: skip
    votes = balancing._per_set_votes(scores, temperature=0.05)
    assert votes.sum() == pytest.approx(1.0)
    e1 = np.exp(np.array([0.6, 0.2]) / 0.05)
    e3 = np.exp(np.array([0.2, 0.7]) / 0.05)
    np.testing.assert_allclose(votes, (2 * e1 / e1.sum() + e3 / e3.sum()) / 3)
    assert votes[1] == pytest.approx(1 / 3, abs=0.01)  # one set of three voted for it
    mean = balancing._softmax(np.nanmean(scores, axis=1) / 0.05)
    assert mean[1] < 0.15 < votes[1]  # the paper's aggregate gives it far less
    # A NaN (no common modality) drops that source from that set's vote only.
    with_nan = balancing._per_set_votes(np.array([[0.6, np.nan], [0.2, 0.7]]), temperature=0.05)
    assert with_nan[1] > 0.5 and with_nan.sum() == pytest.approx(1.0)


def test_source_weights_aggregate_option():
    train, val = _sets()
    per_set = source_weights(train, val, k=4, seed=0, aggregate="per_set")
    assert sum(per_set.weights.values()) == pytest.approx(1.0)
    assert per_set.weights["near"] > per_set.weights["far"]
    with pytest.raises(ConfigError, match="aggregate"):
        source_weights(train, val, aggregate="max")  # type: ignore[arg-type]
