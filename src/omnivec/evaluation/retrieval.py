"""Per-query ranking metrics for one retrieval task, from embeddings to arrays of scores.

Used by the task runner for i2i, q2i and seq2item tasks: exact top-k over the corpus (chunked,
:mod:`omnivec.evaluation.scoring`), Recall@k (the world's definition), nDCG@k (binary gains), exact MRR (a
first hit below the top-k list is located with :func:`~omnivec.evaluation.scoring.count_above`), and the
positive / random-negative cosines behind the separability metrics and similarity plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from omnivec.evaluation.metrics import ndcg_at_k, recall_at_k
from omnivec.evaluation.scoring import count_above, topk

__all__ = ["HIST_BINS", "RankingResult", "histogram", "rank_queries", "sample_negatives"]

#: edges of the cosine histograms kept for the report (40 bins over [-1, 1])
HIST_BINS = np.linspace(-1.0, 1.0, 41)


@dataclass
class RankingResult:
    """Per-query metric arrays (``metric -> [Q]``) and the top-k lists they came from."""

    per_query: dict[str, np.ndarray]
    indices: np.ndarray
    scores: np.ndarray

    def mean(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """Average of every metric over all queries, or over ``mask``."""
        out = {}
        for name, values in self.per_query.items():
            v = values if mask is None else values[mask]
            if v.size:
                out[name] = float(v.mean())
        return out


def excluded_of(exclude: np.ndarray | None, q: int) -> set[int]:
    """The corpus indices ``exclude`` (``[Q]`` or ``[Q, m]``, -1 = none) removes for query ``q``."""
    if exclude is None:
        return set()
    return {x for x in np.atleast_1d(np.asarray(exclude[q], dtype=np.int64)).tolist() if x >= 0}


def rank_queries(
    queries: np.ndarray,
    corpus: np.ndarray,
    relevant: Sequence[np.ndarray],
    *,
    recall_ks: Sequence[int],
    ndcg_ks: Sequence[int] = (10,),
    exclude: np.ndarray | None = None,
    failed: np.ndarray | None = None,
) -> RankingResult:
    """Rank ``corpus`` for every query and score the ranking against ``relevant`` (corpus indices per query).

    ``exclude[q]`` (a corpus index, or a row of them, -1 = none) is removed from query ``q``'s ranking and from
    its relevant set. A query in ``failed`` (its embedding failed) scores 0 on every metric instead of a random
    ranking.
    """
    n_q = queries.shape[0]
    depth = max([*recall_ks, *ndcg_ks, 1])
    idx, sc = topk(queries, corpus, depth, exclude=exclude)
    rel_sets = []
    for q in range(n_q):
        rel_sets.append(set(np.asarray(relevant[q], dtype=np.int64).tolist()) - excluded_of(exclude, q))
    per: dict[str, np.ndarray] = {f"recall@{k}": np.zeros(n_q) for k in recall_ks}
    per.update({f"ndcg@{k}": np.zeros(n_q) for k in ndcg_ks})
    rr = np.zeros(n_q)
    misses = []
    for q in range(n_q):
        ranking = idx[q].tolist()
        for k in recall_ks:
            per[f"recall@{k}"][q] = recall_at_k(ranking, rel_sets[q], k)
        for k in ndcg_ks:
            per[f"ndcg@{k}"][q] = ndcg_at_k(ranking, rel_sets[q], k)
        first = next((i for i, x in enumerate(ranking) if x in rel_sets[q]), None)
        if first is not None:
            rr[q] = 1.0 / (first + 1)
        elif rel_sets[q]:
            misses.append(q)
    if misses:  # the first hit lies below the top-k list: find its exact rank
        m = np.asarray(misses)
        thr = np.array(
            [float(np.max(corpus[sorted(rel_sets[q])] @ queries[q])) for q in misses], dtype=np.float32
        )
        above = count_above(queries[m], corpus, thr, exclude=None if exclude is None else exclude[m])
        rr[m] = 1.0 / (above + 1)
    per["mrr"] = rr
    if failed is not None and failed.any():
        for v in per.values():
            v[failed] = 0.0
    return RankingResult(per, idx, sc)


def sample_negatives(
    n_corpus: int, relevant: Sequence[set[int]], exclude: np.ndarray | None, per_query: int, seed: int
) -> list[np.ndarray]:
    """``per_query`` random corpus indices per query, none relevant and none excluded (seeded)."""
    rng = np.random.default_rng(seed)
    out = []
    for q, rel in enumerate(relevant):
        draw = rng.integers(0, n_corpus, size=per_query * 2)
        bad = set(rel) | excluded_of(exclude, q)
        out.append(np.array([j for j in draw.tolist() if j not in bad][:per_query], dtype=np.int64))
    return out


def histogram(values: np.ndarray) -> list[int]:
    """Counts of ``values`` in :data:`HIST_BINS` (values outside [-1, 1] are clipped in)."""
    counts, _ = np.histogram(np.clip(values, -1.0, 1.0), bins=HIST_BINS)
    return counts.astype(int).tolist()
