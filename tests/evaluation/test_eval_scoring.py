from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from omnivec.evaluation.scoring import count_above, topk


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_chunked_equals_unchunked_and_brute_force() -> None:
    rng = np.random.default_rng(0)
    q, c = _unit(rng, 37, 16), _unit(rng, 1013, 16)
    full_i, full_s = topk(q, c, 25, chunk_size=10_000, query_chunk_size=1000)
    small_i, small_s = topk(q, c, 25, chunk_size=100, query_chunk_size=7)
    np.testing.assert_array_equal(full_i, small_i)
    np.testing.assert_allclose(full_s, small_s, rtol=1e-5, atol=1e-6)
    brute = np.argsort(-(q @ c.T), axis=1, kind="stable")[:, :25]
    np.testing.assert_array_equal(full_i, brute)
    assert np.all(np.diff(full_s, axis=1) <= 0)  # best first


def test_exclude_and_short_corpus() -> None:
    rng = np.random.default_rng(1)
    c = _unit(rng, 50, 8)
    q = c[:5].copy()  # each query is a corpus row: its own best match
    idx, _ = topk(q, c, 3, chunk_size=7)
    assert idx[:, 0].tolist() == [0, 1, 2, 3, 4]
    idx, _ = topk(q, c, 3, chunk_size=7, exclude=np.arange(5))
    assert not np.any(idx == np.arange(5)[:, None])
    idx2, _ = topk(q, c, 3, chunk_size=50, query_chunk_size=2, exclude=np.arange(5))
    np.testing.assert_array_equal(idx, idx2)
    # k larger than the corpus: clipped; the excluded row leaves one empty slot
    idx, sc = topk(q[:1], c[:4], 10, exclude=np.array([0]))
    assert idx.shape == (1, 4) and idx[0, -1] == -1 and np.isneginf(sc[0, -1])
    assert sorted(idx[0, :3].tolist()) == [1, 2, 3]


def test_count_above_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    q, c = _unit(rng, 9, 8), _unit(rng, 300, 8)
    thr = rng.uniform(-0.5, 0.5, 9).astype(np.float32)
    ex = rng.integers(0, 300, 9)
    s = q @ c.T
    s[np.arange(9), ex] = -np.inf
    expected = (s > thr[:, None]).sum(axis=1)
    np.testing.assert_array_equal(
        count_above(q, c, thr, chunk_size=64, query_chunk_size=4, exclude=ex), expected
    )


def test_million_corpus_runs_in_bounded_memory() -> None:
    n, d, n_q, k = 1_000_000, 32, 64, 10
    rng = np.random.default_rng(3)
    corpus = rng.standard_normal((n, d), dtype=np.float32)
    queries = rng.standard_normal((n_q, d), dtype=np.float32)
    full_matrix_bytes = n_q * n * 4  # 256 MB: what an unchunked search would allocate
    tracemalloc.start()
    t0 = time.perf_counter()
    idx, scores = topk(queries, corpus, k, chunk_size=32_768, query_chunk_size=64)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert idx.shape == (n_q, k) and scores.shape == (n_q, k)
    assert peak < full_matrix_bytes / 4, f"peak {peak / 2**20:.0f} MiB"
    assert seconds < 60
    # spot-check two queries against an exact search
    for qi in (0, n_q - 1):
        s = corpus @ queries[qi]
        np.testing.assert_array_equal(idx[qi], np.argsort(-s, kind="stable")[:k])
        assert scores[qi, 0] == pytest.approx(float(s.max()), rel=1e-5)
