"""Vector helpers: Matryoshka preparation, blocked exact search, recall."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index.vectors import exact_search, prepare_vectors, recall_at_k, sample_queries


def test_prepare_vectors_truncates_and_renormalises():
    x = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32)
    out = prepare_vectors(x, 4)
    assert out.shape == (5, 4) and out.flags.c_contiguous
    np.testing.assert_allclose(out, x[:, :4] / np.linalg.norm(x[:, :4], axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(prepare_vectors(x[0], 4)[0], out[0], rtol=1e-6)


def test_prepare_vectors_errors_name_the_row():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ConfigError, match="have 4 components but the index dim is 8"):
        prepare_vectors(x, 8)
    x[1, 2] = np.nan
    with pytest.raises(DataFormatError, match=r"row 1 \(item_id 'b'\) contains NaN"):
        prepare_vectors(x, 4, ids=["a", "b", "c"])
    x = np.ones((3, 4), np.float32)
    x[2, :2] = 0
    with pytest.raises(DataFormatError, match="row 2 has zero norm in its first 2 components"):
        prepare_vectors(x, 2)


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 24])
def test_exact_search_in_blocks_matches_full_matrix(block):
    rng = np.random.default_rng(1)
    corpus = prepare_vectors(rng.standard_normal((300, 16)), 16)
    queries = prepare_vectors(rng.standard_normal((23, 16)), 16)
    scores, rows = exact_search(corpus, queries, 10, block_scores=block)
    full = queries @ corpus.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, axis=1), rtol=1e-5)


def test_exact_search_k_larger_than_corpus_and_ties_by_row():
    corpus = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    scores, rows = exact_search(corpus, corpus[:1], 5, block_scores=2)
    assert rows.tolist() == [[0, 1, 2]]
    np.testing.assert_allclose(scores, [[1, 1, 0]])


def test_recall_and_sampling():
    assert recall_at_k([["a", "b"], ["c", "x"]], [["b", "a"], ["c", "d"]]) == pytest.approx(0.75)
    s = sample_queries(100, 10, seed=3)
    assert len(set(s.tolist())) == 10 and s.tolist() == sorted(s.tolist())
    np.testing.assert_array_equal(s, sample_queries(100, 10, seed=3))
    assert len(sample_queries(5, 10, seed=0)) == 5


def test_prepare_vectors_never_modifies_its_input():
    x = np.full((2, 3), 2.0, np.float32)
    x.setflags(write=False)  # e.g. a zero-copy view of a Parquet column
    out = prepare_vectors(x, 3)
    assert (x == 2.0).all() and not np.shares_memory(x, out)
