"""Structure-consistency metrics between two embedding spaces (paper §4.2, Table 4; papers.md §5.1 items 3–5).

SAIL-Embedding compares the omni-modal space with the recommender's ID-embedding space (Gid-i2i, Table 4:
NMI, Ken., Inter., Acc.). The paper gives the formulas but not every detail of how they are applied; each
function below states the formula and our operationalisation. Inputs are numpy arrays; similarity matrices
are cosine similarities with the entries that must never be retrieved (a query's own row) set to ``-inf``.

- :func:`nmi` / :func:`cluster_nmi` — group-wise clustering consistency.
- :func:`kendall_tau` / :func:`ranking_kendall` — ranking consistency (Table 4 reports τ × 10⁴);
  :func:`kendall_per_query` gives each query's τ.
- :func:`topk_intersection` — top-k overlap ("Inter."); :func:`intersection_per_query` per query.
- :func:`bijective_accuracy` — the round-trip alignment test ("Acc."), and
  :func:`cross_space_bijective_accuracy`, its version between two spaces of the same items.
"""

from __future__ import annotations

import contextlib

import numpy as np


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None, *, exclude_self: bool = False) -> np.ndarray:
    """Cosine similarities [len(a), len(b)]; ``exclude_self`` sets the diagonal to -inf (needs b = a)."""
    na = _normalize(a)
    sim = na @ (na if b is None else _normalize(b)).T
    if exclude_self:
        np.fill_diagonal(sim, -np.inf)
    return sim


def nmi(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Normalised mutual information ``NMI(L_a, L_b) = 2·I(L_a; L_b) / (H(L_a) + H(L_b))`` (§5.1 item 3).

    Arithmetic-mean normalisation, which is exactly this formula. Two constant labelings give 1.
    """
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(labels_a, labels_b, average_method="arithmetic"))


def cluster_nmi(
    emb_a: np.ndarray, emb_b: np.ndarray, k: int = 16, seed: int = 0, *, adjusted: bool = False
) -> float:
    """NMI between k-means cluster labels of the *same items* embedded in two spaces.

    Operationalisation (ours; the paper clusters "positive and negative embeddings offline"): rows of
    ``emb_a`` and ``emb_b`` are the same N items; each space is L2-normalised and clustered with k-means
    (``k`` clamped to N, seeded, 4 restarts) and :func:`nmi` compares the two labelings. Identical spaces
    give identical clusterings, so NMI = 1. Unrelated spaces give NMI > 0 on small samples (≈ 0.25 for
    180 items in 16 clusters); ``adjusted=True`` returns the adjusted mutual information instead, whose
    chance level is 0 at any size.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score

    a, b = _normalize(emb_a), _normalize(emb_b)
    if len(a) != len(b):
        raise ValueError(f"cluster_nmi needs the same items in both spaces, got {len(a)} and {len(b)} rows")
    k = max(1, min(k, len(a)))
    with _few_threads(len(a)):
        la = KMeans(k, n_init=4, random_state=seed).fit_predict(a)
        lb = KMeans(k, n_init=4, random_state=seed).fit_predict(b)
    return float(adjusted_mutual_info_score(la, lb)) if adjusted else nmi(la, lb)


def _few_threads(n_rows: int) -> contextlib.AbstractContextManager:
    """One OpenMP/BLAS thread for small k-means jobs (thread pools only add overhead there)."""
    if n_rows >= 50_000:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def kendall_tau(scores_a: np.ndarray, scores_b: np.ndarray) -> float:
    """Kendall's ``τ = (C − D) / (C + D)`` over all pairs of candidates (§5.1 item 4).

    C / D count candidate pairs ordered the same / oppositely by the two score vectors; pairs tied in either
    vector count in neither (τ-a over untied pairs). Returns NaN with fewer than one untied pair.
    """
    a, b = np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)
    i, j = np.triu_indices(len(a), 1)
    s = np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    c, d = int((s > 0).sum()), int((s < 0).sum())
    return (c - d) / (c + d) if c + d else float("nan")


def ranking_kendall(sim_test: np.ndarray, sim_ref: np.ndarray, k: int = 50) -> float:
    """Mean over queries of Kendall τ between the two spaces' scores of the reference top-k candidates.

    Operationalisation: for query q, the candidate list is the top-``k`` items of the *reference* space
    (``sim_ref[q]``, e.g. ID embeddings); τ compares the order of those k candidates under ``sim_test[q]``
    (e.g. omni embeddings) with their order under ``sim_ref[q]``. Identical spaces give 1, a reversed order
    −1. Queries with an undefined τ are skipped.
    """
    return mean_defined(kendall_per_query(sim_test, sim_ref, k))


def mean_defined(values: np.ndarray) -> float:
    """Mean of the non-NaN values (queries where a per-query metric is defined); NaN when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.mean(values)) if len(values) else float("nan")


def kendall_per_query(sim_test: np.ndarray, sim_ref: np.ndarray, k: int = 50) -> np.ndarray:
    """Each query's τ of :func:`ranking_kendall` (NaN where undefined), for paired intervals."""
    out = np.full(len(sim_ref), np.nan)
    for q in range(len(sim_ref)):
        cand = topk_indices(sim_ref[q], k)
        out[q] = kendall_tau(sim_test[q, cand], sim_ref[q, cand])
    return out


def topk_indices(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest finite entries, best first (ties: lower index first)."""
    finite = np.flatnonzero(np.isfinite(row))
    k = min(k, len(finite))
    vals = row[finite]
    if k < len(finite):  # keep everything tied with the k-th value, then order stably
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        keep = np.flatnonzero(vals >= kth)
        finite, vals = finite[keep], vals[keep]
    order = np.argsort(-vals, kind="stable")[:k]
    return finite[order]


def topk_intersection(sim_test: np.ndarray, sim_ref: np.ndarray, k: int = 10) -> float:
    """Mean top-k overlap ``|top-k_test(q) ∩ top-k_ref(q)| / k`` over queries (§5.1 item 4, "Inter.").

    Ties are broken by index (stable sort), entries set to -inf are never in a top-k, and k is clamped to the
    number of retrievable items. Identical spaces give 1.
    """
    return mean_defined(intersection_per_query(sim_test, sim_ref, k))


def intersection_per_query(sim_test: np.ndarray, sim_ref: np.ndarray, k: int = 10) -> np.ndarray:
    """Each query's overlap of :func:`topk_intersection` (NaN for a query with nothing retrievable)."""
    out = np.full(len(sim_ref), np.nan)
    for q in range(len(sim_ref)):
        a, b = topk_indices(sim_test[q], k), topk_indices(sim_ref[q], k)
        if len(b):
            out[q] = len(set(a.tolist()) & set(b.tolist())) / len(b)
    return out


def bijective_accuracy(
    query_emb: np.ndarray, target_emb: np.ndarray, rows: np.ndarray | None = None, *, strict: bool = True
) -> float:
    """Round-trip (bijective alignment) accuracy of row-aligned positive pairs (§5.1 item 5, "Acc.").

    For query i: ``j = argmax_j cos(q_i, t_j)``, then ``i' = argmax_i cos(q_i, t_j)``. The paper scores
    "the fraction of round trips that return the same index". We read that strictly (``strict=True``, the
    default): a round trip succeeds when it goes through i's own positive and comes back, ``j = i`` and
    ``i' = i`` (the pair is mutually nearest), so unrelated spaces score ≈ 1/N. ``strict=False`` only asks
    ``i' = i``, a mutual-nearest-neighbour rate that is high even for random points in few dimensions.
    Scored over ``rows`` (default all queries). Identical query and target embeddings (distinct rows)
    give 1. Ties resolve to the lowest index.
    """
    q, t = _normalize(query_emb), _normalize(target_emb)
    if q.size == 0 or t.size == 0:
        return float("nan")
    rows = np.arange(len(q)) if rows is None else np.asarray(rows, dtype=np.int64)
    j = np.argmax(q[rows] @ t.T, axis=1)  # [R, N_t]: never the full N × N matrix
    back = np.argmax(q @ t[j].T, axis=0)
    ok = back == rows
    if strict:
        ok &= j == rows
    return float(np.mean(ok))


def linear_map(x: np.ndarray, y: np.ndarray, alpha: float = 1e-3) -> np.ndarray:
    """Ridge-regression map ``[x, 1] @ W ≈ y`` (W: [D_x + 1, D_y]); ``alpha`` scales with the trace."""
    xb = np.hstack([np.asarray(x, dtype=np.float64), np.ones((len(x), 1))])
    gram = xb.T @ xb
    reg = alpha * np.trace(gram) / len(gram) * np.eye(len(gram))
    return np.linalg.solve(gram + reg, xb.T @ np.asarray(y, dtype=np.float64))


def cross_space_bijective_accuracy(
    emb_a: np.ndarray,
    emb_b: np.ndarray,
    queries: np.ndarray,
    fit_rows: np.ndarray | None = None,
    alpha: float = 1e-3,
    *,
    strict: bool = True,
) -> float:
    """:func:`bijective_accuracy` between two spaces of the same N items, through a linear map a → b.

    Operationalisation (ours; the paper runs the round trip between query and target embeddings of positive
    pairs): the positive pairs are (item in space a, the same item in space b). Space a is mapped into space
    b with :func:`linear_map` fitted on ``fit_rows`` (default: the rows that are not queries, so the map
    never sees the scored items), the same kind of feature projection ID→item distillation trains. For each
    query i: ``j = argmax_j cos(W·a_i, b_j)`` over all N items, ``i' = argmax_i cos(W·a_i, b_j)``; the
    score is the fraction with ``j = i`` and ``i' = i`` (``strict``; see :func:`bijective_accuracy`).
    Identical spaces give 1; unrelated spaces give ≈ 1/N (strict).
    """
    a, b = _normalize(emb_a), _normalize(emb_b)
    queries = np.asarray(queries, dtype=np.int64)
    if fit_rows is None:
        fit_rows = np.setdiff1d(np.arange(len(a)), queries)
    if len(fit_rows) < 2:
        fit_rows = np.arange(len(a))
    w = linear_map(a[fit_rows], b[fit_rows], alpha)
    mapped = np.hstack([a, np.ones((len(a), 1))]) @ w
    return bijective_accuracy(mapped, b, rows=queries, strict=strict)
