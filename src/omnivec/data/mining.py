"""Dynamic hard-negative mining with an F1-optimal false-negative threshold.

SAIL-Embedding §3.1.2 (``papers.md`` §3.2): per source, score every (query, target) pair with the
current model, pick ``λ* = argmax_λ F1(1[s ≥ λ])`` separating the true pairs from the rest, treat
candidates scoring ``≥ λ*`` as false negatives (dropped) and keep the highest-scoring ones *below*
``λ*`` as hard negatives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from omnivec.errors import ConfigError

__all__ = ["f1_optimal_threshold", "mine_hard_negatives", "threshold_from_pairs"]

ArrayLike = np.ndarray | torch.Tensor


def f1_optimal_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Threshold ``λ*`` maximising F1 of the rule ``predict positive ⇔ score ≥ λ``, and that F1.

    Every distinct score is a candidate threshold (the sweep is exhaustive, not a grid). One sort makes
    it ``O(n log n)``: in descending order, the prediction set of threshold ``v`` is the prefix ending at
    the last occurrence of ``v``, so ``TP`` is a cumulative sum and ``F1 = 2·TP / (#predicted + #positive)``.
    Ties between thresholds with the same F1 go to the **highest** threshold.

    Args:
        scores: ``[n]`` similarity scores.
        labels: ``[n]`` 1/True for true pairs, 0/False otherwise; at least one positive.

    Returns:
        ``(threshold, f1)``.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same length, got {s.shape[0]} and {y.shape[0]}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ValueError("labels: at least one positive pair is needed to choose a threshold")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    # Last index of each run of equal scores: predicting ">= v" takes the whole run.
    ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    predicted = ends + 1
    f1 = 2.0 * tp[ends] / (predicted + n_pos)
    best = int(np.argmax(f1))  # runs are in descending score order → first max = highest threshold
    return float(s_sorted[ends[best]]), float(f1[best])


def _as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.dim() != 2:
        raise ValueError(f"{name} must be [N, D], got shape {tuple(t.shape)}")
    return t.detach().float().cpu()


def _positive_sets(
    positives: Sequence[set[int]] | Sequence[int] | np.ndarray, n_queries: int
) -> list[set[int]]:
    if isinstance(positives, np.ndarray | torch.Tensor):
        positives = np.asarray(positives).reshape(-1).tolist()
    if len(positives) != n_queries:
        raise ValueError(f"positives: need one entry per query ({n_queries}), got {len(positives)}")
    out: list[set[int]] = []
    for p in positives:
        if isinstance(p, set | frozenset | list | tuple):
            out.append({int(i) for i in p if int(i) >= 0})
        else:
            out.append({int(p)} if int(p) >= 0 else set())
    return out


def mine_hard_negatives(
    query_emb: ArrayLike,
    corpus_emb: ArrayLike,
    positives: Sequence[set[int]] | Sequence[int] | np.ndarray,
    threshold: float,
    k: int,
    *,
    corpus_groups: ArrayLike | None = None,
    query_groups: ArrayLike | None = None,
    chunk_size: int = 8192,
    query_chunk_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the ``k`` corpus items scoring highest **strictly below** ``threshold``.

    Cosine similarity on L2-normalised copies. A candidate is never: a positive of the query, scored
    ``≥ threshold`` (a presumed false negative), or in the same duplicate group as one of the query's
    positives or as the query itself (``corpus_groups`` / ``query_groups``; negative ids = no group).

    Memory is bounded: queries are processed in blocks of ``query_chunk_size`` against corpus chunks of
    ``chunk_size``, keeping a running top-``k``, so peak extra memory is about
    ``query_chunk_size × (chunk_size + k)`` floats whatever the corpus size.

    Args:
        query_emb: ``[Q, D]``; corpus_emb: ``[N, D]`` (numpy or torch).
        positives: per query, a set of corpus indices or one index (``-1`` = none).
        threshold: ``λ*``, e.g. from :func:`threshold_from_pairs`.
        k: hard negatives per query.

    Returns:
        ``(indices, scores)``: ``[Q, k]`` int64 corpus indices sorted by descending score, padded with
        ``-1`` (score ``-inf``) when fewer than ``k`` candidates qualify; scores float32.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"k: must be a positive int, got {k!r}")
    for name, size in (("chunk_size", chunk_size), ("query_chunk_size", query_chunk_size)):
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ConfigError(f"{name}: must be a positive int, got {size!r}")
    q = F.normalize(_as_tensor(query_emb, "query_emb"), dim=-1)
    c = F.normalize(_as_tensor(corpus_emb, "corpus_emb"), dim=-1)
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"query_emb and corpus_emb widths differ: {q.shape[1]} vs {c.shape[1]}")
    n_q, n_c = q.shape[0], c.shape[0]
    pos = _positive_sets(positives, n_q)
    for i, p in enumerate(pos):
        if p and max(p) >= n_c:
            raise ValueError(f"positives[{i}]: index {max(p)} out of range for a corpus of {n_c}")

    cg = None if corpus_groups is None else torch.as_tensor(np.asarray(corpus_groups)).long().reshape(-1)
    if cg is not None and cg.numel() != n_c:
        raise ValueError(f"corpus_groups must have {n_c} entries, got {cg.numel()}")
    qg = None if query_groups is None else torch.as_tensor(np.asarray(query_groups)).long().reshape(-1)
    if qg is not None and qg.numel() != n_q:
        raise ValueError(f"query_groups must have {n_q} entries, got {qg.numel()}")
    if qg is not None and cg is None:
        raise ValueError("query_groups needs corpus_groups (the groups of the candidates)")

    # Excluded groups per query, padded with -1: the groups of its positives and its own group.
    excl: torch.Tensor | None = None
    if cg is not None:
        rows = [
            sorted({int(cg[p]) for p in pset} | ({int(qg[i])} if qg is not None else set()))
            for i, pset in enumerate(pos)
        ]
        width = max((len(r) for r in rows), default=0)
        excl = torch.full((n_q, max(width, 1)), -1, dtype=torch.long)
        for i, r in enumerate(rows):
            excl[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    pos_rows = torch.tensor([i for i, p in enumerate(pos) for _ in p], dtype=torch.long)
    pos_cols = torch.tensor([j for p in pos for j in sorted(p)], dtype=torch.long)

    out_idx = np.full((n_q, k), -1, dtype=np.int64)
    out_score = np.full((n_q, k), -np.inf, dtype=np.float32)
    neg_inf = float("-inf")
    for q0 in range(0, n_q, query_chunk_size):
        q1 = min(q0 + query_chunk_size, n_q)
        best_s = torch.full((q1 - q0, 0), neg_inf)
        best_i = torch.empty((q1 - q0, 0), dtype=torch.long)
        in_block = (pos_rows >= q0) & (pos_rows < q1)
        b_rows, b_cols = pos_rows[in_block] - q0, pos_cols[in_block]
        for c0 in range(0, n_c, chunk_size):
            c1 = min(c0 + chunk_size, n_c)
            s = q[q0:q1] @ c[c0:c1].T
            s[s >= threshold] = neg_inf
            in_chunk = (b_cols >= c0) & (b_cols < c1)
            s[b_rows[in_chunk], b_cols[in_chunk] - c0] = neg_inf
            if excl is not None and cg is not None:
                e = excl[q0:q1]
                same = (cg[c0:c1].view(1, -1, 1) == e.unsqueeze(1)) & (e >= 0).unsqueeze(1)
                s[same.any(-1)] = neg_inf
            cand_s = torch.cat([best_s, s], dim=1)
            cand_i = torch.cat([best_i, torch.arange(c0, c1).expand(q1 - q0, -1)], dim=1)
            top = min(k, cand_s.shape[1])
            best_s, where = cand_s.topk(top, dim=1)
            best_i = cand_i.gather(1, where)
        found = torch.isfinite(best_s)
        best_i = torch.where(found, best_i, torch.full_like(best_i, -1))
        out_idx[q0:q1, : best_i.shape[1]] = best_i.numpy()
        out_score[q0:q1, : best_s.shape[1]] = best_s.numpy()
    return out_idx, out_score


def threshold_from_pairs(
    query_emb: ArrayLike,
    target_emb: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    max_negatives: int = 1_000_000,
    seed: int = 0,
) -> tuple[float, float]:
    """``λ*`` of a source from its aligned pairs: positives ``(q_i, t_i)``, negatives ``(q_i, t_j), i ≠ j``.

    All ``N(N−1)`` negatives are scored when that is at most ``max_negatives``; otherwise
    ``max_negatives`` off-diagonal pairs are drawn uniformly (seeded). Pairs whose targets share a
    duplicate group (``groups[i] == groups[j] ≥ 0``) are neither positives nor negatives.

    Returns:
        ``(threshold, f1)`` as :func:`f1_optimal_threshold`.
    """
    q = F.normalize(_as_tensor(query_emb, "query_emb"), dim=-1)
    t = F.normalize(_as_tensor(target_emb, "target_emb"), dim=-1)
    if q.shape != t.shape:
        raise ValueError(
            f"query_emb and target_emb must be aligned [N, D], got {tuple(q.shape)}, {tuple(t.shape)}"
        )
    n = q.shape[0]
    if n < 2:
        raise ValueError("threshold_from_pairs needs at least 2 pairs")
    if isinstance(max_negatives, bool) or not isinstance(max_negatives, int) or max_negatives <= 0:
        raise ConfigError(f"max_negatives: must be a positive int, got {max_negatives!r}")
    g = None if groups is None else np.asarray(groups).reshape(-1).astype(np.int64)
    if g is not None and g.shape[0] != n:
        raise ValueError(f"groups must have {n} entries, got {g.shape[0]}")

    pos_scores = (q * t).sum(-1).numpy()
    if n * (n - 1) <= max_negatives:
        rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    else:
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, n, size=max_negatives)
        cols = (rows + rng.integers(1, n, size=max_negatives)) % n  # uniform over j != i
    if g is not None:
        keep = ~((g[rows] == g[cols]) & (g[rows] >= 0))
        rows, cols = rows[keep], cols[keep]
    neg_scores = np.empty(rows.shape[0], dtype=np.float32)
    step = 1 << 18
    for s0 in range(0, rows.shape[0], step):
        r = torch.from_numpy(rows[s0 : s0 + step])
        cc = torch.from_numpy(cols[s0 : s0 + step])
        neg_scores[s0 : s0 + step] = (q[r] * t[cc]).sum(-1).numpy()
    scores = np.concatenate([pos_scores, neg_scores])
    labels = np.concatenate([np.ones(n, dtype=bool), np.zeros(neg_scores.shape[0], dtype=bool)])
    return f1_optimal_threshold(scores, labels)
