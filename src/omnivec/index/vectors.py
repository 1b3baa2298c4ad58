"""Vector helpers shared by the backends: Matryoshka truncation, exact (brute-force) search, recall@k.

:func:`prepare_vectors` is the one place that turns stored or query vectors into what an index holds: the
leading ``dim`` components, L2-normalised (the Matryoshka slice the model was trained to produce).
:func:`exact_search` scores in blocks, so a million-vector corpus never materialises a full ``Q × N`` matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from omnivec.errors import ConfigError, DataFormatError

#: Upper bound on the number of scores one block of :func:`exact_search` holds (≈ 64 MiB of float32).
EXACT_BLOCK_SCORES = 1 << 24


def prepare_vectors(
    x: np.ndarray, dim: int, *, what: str = "vectors", ids: Sequence[str] | None = None
) -> np.ndarray:
    """Leading ``dim`` components of each row of ``x``, L2-normalised, as C-contiguous float32 ``[N, dim]``.

    A 1-D ``x`` is one row. Raises :class:`ConfigError` when ``x`` has fewer than ``dim`` components and
    :class:`DataFormatError` naming the first row (and its id when ``ids`` is given) that is not finite or
    whose prefix has zero norm.
    """
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise DataFormatError(f"{what} must be a 2-D array [N, D], got shape {arr.shape}")
    if arr.shape[1] < dim:
        raise ConfigError(f"{what} have {arr.shape[1]} components but the index dim is {dim}")
    out = arr[:, :dim]
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        raise DataFormatError(f"{what} {_where(int(np.argmin(finite)), ids)} contains NaN or inf")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    zero = norms[:, 0] == 0
    if zero.any():
        raise DataFormatError(
            f"{what} {_where(int(np.argmax(zero)), ids)} has zero norm in its first {dim} components"
        )
    return np.ascontiguousarray(out / norms)  # a new array: the caller's vectors are never modified


def _where(row: int, ids: Sequence[str] | None) -> str:
    return f"row {row} (item_id {ids[row]!r})" if ids is not None else f"row {row}"


def exact_search(
    corpus: np.ndarray, queries: np.ndarray, k: int, *, block_scores: int = EXACT_BLOCK_SCORES
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-``k``: ``(scores [Q, k], rows [Q, k])``, best first, ties by lower row.

    Work is split into blocks of at most ``block_scores`` scores (queries × corpus rows), keeping a running
    top-``k`` per query, so memory stays bounded for any ``Q`` and ``N``.
    """
    corpus = np.asarray(corpus, dtype=np.float32)
    queries = np.asarray(queries, dtype=np.float32)
    n, q_total = len(corpus), len(queries)
    k = min(int(k), n)
    if k <= 0 or q_total == 0:
        return np.zeros((q_total, 0), np.float32), np.zeros((q_total, 0), np.int64)
    corpus_block = min(n, max(k, block_scores))
    query_block = max(1, block_scores // corpus_block)
    all_scores = np.empty((q_total, k), np.float32)
    all_rows = np.empty((q_total, k), np.int64)
    for qs in range(0, q_total, query_block):
        q = queries[qs : qs + query_block]
        best_s = np.empty((len(q), 0), np.float32)
        best_r = np.empty((len(q), 0), np.int64)
        for cs in range(0, n, corpus_block):
            scores = q @ corpus[cs : cs + corpus_block].T
            kk = min(k, scores.shape[1])
            part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, axis=1)], axis=1)
            cand_r = np.concatenate([best_r, part.astype(np.int64) + cs], axis=1)
            best_s, best_r = _top_sorted(cand_s, cand_r, k)
        all_scores[qs : qs + len(q)] = best_s
        all_rows[qs : qs + len(q)] = best_r
    return all_scores, all_rows


def _top_sorted(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((rows, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def recall_at_k(found: Sequence[Sequence[str]], exact: Sequence[Sequence[str]]) -> float:
    """Mean over queries of ``|found ∩ exact| / |exact|`` (recall@k with k = the exact lists' length)."""
    if not exact:
        return 1.0
    per_query = [len(set(f) & set(e)) / len(e) if e else 1.0 for f, e in zip(found, exact, strict=True)]
    return float(np.mean(per_query))


def sample_queries(n: int, count: int, seed: int) -> np.ndarray:
    """``min(count, n)`` distinct corpus rows drawn with ``seed``, sorted (the recall query sample)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(count, n), replace=False))
