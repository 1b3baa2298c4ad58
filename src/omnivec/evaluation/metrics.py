"""Retrieval and classification metrics of the evaluation protocol (paper §4.2; ``reference/papers.md`` §5.1).

Every function is plain numpy and works on one query (``recall_at_k``, ``ndcg_at_k``, ``reciprocal_rank``) or on
a whole set of scores (``auc``, ``separability``, ``accuracy``). A *ranking* is a sequence of corpus ids (or
indices), best first; *relevant* is the set of ids that count as hits. Metrics are fractions in ``[0, 1]``
(the paper's tables print them × 100). Undefined values (an AUC with a single class) are ``nan``; callers
decide whether to report or drop them.

The group-wise consistency metrics (NMI, Kendall τ, top-k intersection, bijective accuracy) live in
:mod:`omnivec.evaluation.consistency`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "accuracy",
    "auc",
    "mean_reciprocal_rank",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "separability",
]


def recall_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int) -> float:
    """Recall@k of one query, as the world's tasks define it.

    ``Recall@k = |top-k ∩ relevant| / min(k, |relevant|)``

    The ``min`` makes a perfect ranking score 1 even when there are more relevant items than slots
    (``|relevant| > k``). A query with no relevant item scores 0.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rel = set(relevant)
    if not rel:
        return 0.0
    hits = sum(1 for x in list(ranking)[:k] if x in rel)
    return hits / min(k, len(rel))


def ndcg_at_k(
    ranking: Sequence[Hashable], relevant: Collection[Hashable] | Mapping[Hashable, float], k: int
) -> float:
    """Normalised discounted cumulative gain at ``k`` with linear gains.

    ``DCG@k = Σ_{i=1..k} g(r_i) / log2(i + 1)`` and ``nDCG@k = DCG@k / IDCG@k``, where ``r_i`` is the item at
    rank ``i`` and ``IDCG@k`` is the DCG of the ideal ordering (all gains sorted descending). ``relevant`` is
    a set (binary gains: 1 for a relevant item, 0 otherwise) or a mapping ``id -> gain`` (graded gains, e.g.
    scores in ``[0, 1]``; non-positive gains count as 0). No positive gain at all → 0.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    gains = (
        {key: max(float(g), 0.0) for key, g in relevant.items()}
        if isinstance(relevant, Mapping)
        else dict.fromkeys(relevant, 1.0)
    )
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    dcg = sum(gains.get(x, 0.0) / math.log2(i + 2) for i, x in enumerate(list(ranking)[:k]))
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg


def reciprocal_rank(ranking: Sequence[Hashable], relevant: Collection[Hashable]) -> float:
    """``1 / rank`` of the first relevant item in ``ranking`` (rank 1 = first); 0 when none is found.

    ``MRR = (1/|Q|) Σ_q 1 / rank_q`` is the mean of this over queries (:func:`mean_reciprocal_rank`).
    """
    rel = set(relevant)
    for i, x in enumerate(ranking):
        if x in rel:
            return 1.0 / (i + 1)
    return 0.0


def mean_reciprocal_rank(
    rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]]
) -> float:
    """Mean reciprocal rank over queries: ``MRR = (1/|Q|) Σ_q 1 / rank_q`` (a miss contributes 0)."""
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings but {len(relevant)} relevant sets")
    if not rankings:
        return 0.0
    return float(np.mean([reciprocal_rank(r, s) for r, s in zip(rankings, relevant, strict=True)]))


def auc(scores: np.ndarray | Sequence[float], labels: np.ndarray | Sequence[int | bool]) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative.

    ``AUC = (1 / (P·N)) Σ_{i∈pos} Σ_{j∈neg} [s_i > s_j] + ½ [s_i = s_j]`` (Mann–Whitney U / (P·N)), computed
    from average ranks, so a tie between a positive and a negative counts ½. Labels are truthy = positive.
    Returns ``nan`` when there is no positive or no negative.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"{s.shape[0]} scores but {y.shape[0]} labels")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s, method="average")
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def separability(
    positive: np.ndarray | Sequence[float], negative: np.ndarray | Sequence[float]
) -> dict[str, float]:
    """Positive–negative separability of similarity scores (paper §4.2 item 2).

    Given cosines of (query, gold target) pairs and of (query, random negative) pairs:

    - ``pos_cos = mean(positive)``, ``neg_cos = mean(negative)``;
    - ``pos_neg_gap = pos_cos − neg_cos``;
    - ``pos_neg_auc = AUC`` of the two distributions (:func:`auc` with positives labelled 1): the chance that
      a positive pair scores above a negative one; 0.5 = no separation, 1 = perfectly separated.
    """
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        raise ValueError("separability needs at least one positive and one negative score")
    both = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(pos.size, dtype=bool), np.zeros(neg.size, dtype=bool)])
    return {
        "pos_cos": float(pos.mean()),
        "neg_cos": float(neg.mean()),
        "pos_neg_gap": float(pos.mean() - neg.mean()),
        "pos_neg_auc": auc(both, labels),
    }


def accuracy(predicted: Sequence[Hashable], gold: Sequence[Hashable]) -> float:
    """Top-1 classification accuracy: ``(1/n) Σ_i [predicted_i = gold_i]`` (0 for no examples)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions but {len(gold)} gold labels")
    if not len(gold):
        return 0.0
    return float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))
