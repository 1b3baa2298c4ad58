"""Exact top-k search over a corpus of embeddings with bounded memory.

Scores are dot products (= cosines for L2-normalised vectors). Nothing ever holds the full ``Q × N`` score
matrix: queries are taken ``query_chunk_size`` at a time and the corpus ``chunk_size`` rows at a time, and a
running top-k is merged chunk by chunk. Peak extra memory is about ``query_chunk_size × chunk_size × 12``
bytes (scores + partition indices), whatever ``N``. The corpus may be any array-like that slices into
arrays (a ``np.memmap`` works), and is converted to float32 one chunk at a time.

    idx, scores = topk(queries, corpus, k=100)               # [Q, k] each, best first
    idx, scores = topk(queries, corpus, k=100, exclude=self_idx)   # drop each query's own row
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["count_above", "topk"]

CHUNK_SIZE = 16_384
QUERY_CHUNK_SIZE = 256


def _exclude_matrix(exclude: np.ndarray | None, n_queries: int) -> np.ndarray | None:
    if exclude is None:
        return None
    ex = np.asarray(exclude, dtype=np.int64)
    if ex.ndim == 1:
        ex = ex[:, None]
    if ex.ndim != 2 or ex.shape[0] != n_queries:
        raise ValueError(f"exclude must have shape [Q] or [Q, m] with Q={n_queries}, got {ex.shape}")
    return ex


def _check(queries: np.ndarray, corpus: np.ndarray) -> None:
    if queries.ndim != 2 or len(corpus.shape) != 2:
        raise ValueError(f"queries and corpus must be 2-D, got {queries.shape} and {corpus.shape}")
    if queries.shape[1] != corpus.shape[1]:
        raise ValueError(f"dimension mismatch: queries {queries.shape[1]}, corpus {corpus.shape[1]}")


def _score_chunks(
    queries: np.ndarray,
    corpus: np.ndarray,
    exclude: np.ndarray | None,
    chunk_size: int,
    query_chunk_size: int,
) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Yield ``(query_start, query_end, corpus_start, scores[q_chunk, c_chunk])``; excluded cells = -inf.

    The corpus loop is inside the query loop, so each query chunk sees the whole corpus in order and can
    close its running state before the next query chunk starts.
    """
    if chunk_size < 1 or query_chunk_size < 1:
        raise ValueError("chunk_size and query_chunk_size must be >= 1")
    n = corpus.shape[0]
    for qs in range(0, queries.shape[0], query_chunk_size):
        qe = min(qs + query_chunk_size, queries.shape[0])
        q = np.asarray(queries[qs:qe], dtype=np.float32)
        ex = None if exclude is None else exclude[qs:qe]
        for cs in range(0, n, chunk_size):
            ce = min(cs + chunk_size, n)
            c = np.asarray(corpus[cs:ce], dtype=np.float32)
            s = q @ c.T
            if ex is not None:
                rows, cols = np.nonzero((ex >= cs) & (ex < ce))
                s[rows, ex[rows, cols] - cs] = -np.inf
            yield qs, qe, cs, s


def topk(
    queries: np.ndarray,
    corpus: np.ndarray,
    k: int,
    *,
    chunk_size: int = CHUNK_SIZE,
    query_chunk_size: int = QUERY_CHUNK_SIZE,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best corpus rows for every query, by dot product, best first.

    Args:
        queries: ``[Q, D]`` query vectors.
        corpus: ``[N, D]`` corpus vectors (array-like; sliced chunk by chunk).
        k: how many results per query; clipped to ``N``.
        chunk_size: corpus rows scored at once.
        query_chunk_size: queries scored at once.
        exclude: ``[Q]`` or ``[Q, m]`` corpus indices to leave out of each query's ranking (``-1`` = none),
            e.g. the query item itself in item-to-item retrieval.

    Returns:
        ``(indices [Q, k] int64, scores [Q, k] float32)``; ties are broken by the lower corpus index. When
        exclusions leave fewer than ``k`` candidates, the missing slots hold index ``-1`` and score ``-inf``.
    """
    queries = np.asarray(queries)
    _check(queries, corpus)
    n_q, n = queries.shape[0], corpus.shape[0]
    k = min(int(k), n)
    if k < 1 or n_q == 0:
        return np.zeros((n_q, max(k, 0)), dtype=np.int64), np.zeros((n_q, max(k, 0)), dtype=np.float32)
    ex = _exclude_matrix(exclude, n_q)
    out_i = np.empty((n_q, k), dtype=np.int64)
    out_s = np.empty((n_q, k), dtype=np.float32)
    best_s: np.ndarray | None = None
    best_i: np.ndarray | None = None
    for qs, qe, cs, s in _score_chunks(queries, corpus, ex, chunk_size, query_chunk_size):
        if cs == 0:
            best_s = np.empty((qe - qs, 0), dtype=np.float32)
            best_i = np.empty((qe - qs, 0), dtype=np.int64)
        assert best_s is not None and best_i is not None
        kk = min(k, s.shape[1])
        if kk < s.shape[1]:
            part = np.argpartition(s, s.shape[1] - kk, axis=1)[:, -kk:]
            cand_s = np.take_along_axis(s, part, axis=1)
            cand_i = part + cs
        else:
            cand_s = s
            cand_i = np.broadcast_to(np.arange(cs, cs + s.shape[1], dtype=np.int64), s.shape)
        del s
        best_s = np.concatenate([best_s, cand_s], axis=1)
        best_i = np.concatenate([best_i, cand_i], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(best_s, best_s.shape[1] - k, axis=1)[:, -k:]
            best_s = np.take_along_axis(best_s, keep, axis=1)
            best_i = np.take_along_axis(best_i, keep, axis=1)
        if cs + chunk_size >= n:  # last corpus chunk of this query chunk: sort and store
            order = np.lexsort((best_i, -best_s), axis=-1)
            out_s[qs:qe] = np.take_along_axis(best_s, order, axis=1)
            out_i[qs:qe] = np.take_along_axis(best_i, order, axis=1)
    out_i[~np.isfinite(out_s)] = -1
    return out_i, out_s


def count_above(
    queries: np.ndarray,
    corpus: np.ndarray,
    thresholds: np.ndarray,
    *,
    chunk_size: int = CHUNK_SIZE,
    query_chunk_size: int = QUERY_CHUNK_SIZE,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """For each query, how many corpus rows score strictly above its threshold (excluded rows never count).

    With ``thresholds[q]`` = the best score of a relevant item, ``1 + count`` is the rank of the first
    relevant item (ties resolved in its favour), which gives an exact MRR without a full score matrix.
    """
    queries = np.asarray(queries)
    _check(queries, corpus)
    thr = np.asarray(thresholds, dtype=np.float32).reshape(-1, 1)
    if thr.shape[0] != queries.shape[0]:
        raise ValueError(f"{thr.shape[0]} thresholds for {queries.shape[0]} queries")
    counts = np.zeros(queries.shape[0], dtype=np.int64)
    ex = _exclude_matrix(exclude, queries.shape[0])
    for qs, qe, _, s in _score_chunks(queries, corpus, ex, chunk_size, query_chunk_size):
        counts[qs:qe] += (s > thr[qs:qe]).sum(axis=1)
    return counts
